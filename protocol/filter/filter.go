// Package filter implements rsync's filter rules: parsing them as a client
// sends them or a daemon config gives them, and matching paths as rsync does.
package filter

import (
	"fmt"
	"strings"
)

// Action is what a rule does. rsync's hide/show/protect/risk prefixes are
// exclude/include with a side: "H x" parses as Exclude+ModSender, "S x" as
// Include+ModSender, "P x" as Exclude+ModReceiver, "R x" as
// Include+ModReceiver, exactly as rsync stores (and resends) them.
type Action uint8

// Actions.
const (
	Exclude  Action = iota // "-", "exclude"
	Include                // "+", "include"
	Clear                  // "!", "clear": empties the current list
	Merge                  // ".", "merge": read more rules from a file once
	DirMerge               // ":", "dir-merge": read a file in every directory
)

// Mods are a rule's modifiers, named after the characters that set them.
type Mods uint32

// Modifiers.
const (
	ModAbsolute    Mods = 1 << iota // '/': match against the absolute (module-rooted) path
	ModNegate                       // '!': the rule applies when the pattern does not match
	ModCVS                          // 'C': CVS-ignore rules (implies NoPrefixes, WordSplit, NoInherit)
	ModSender                       // 's': applies on the sending side
	ModReceiver                     // 'r': applies on the receiving side
	ModPerishable                   // 'p': ignored in directories being deleted
	ModXattr                        // 'x': matches xattr names, not file names
	ModExcludeSelf                  // 'e': merge file excludes its own name
	ModNoInherit                    // 'n': per-dir rules are not inherited by subdirectories
	ModWordSplit                    // 'w': merge file is split on whitespace, not lines
	ModNoPrefixes                   // '-' or '+' on a merge rule: its file holds bare patterns
	ModIncludes                     // with ModNoPrefixes: those patterns are includes ('+')
	ModDirOnly                      // trailing '/': matches directories only
)

// Rule is one parsed filter rule. Pattern has no trailing '/' (ModDirOnly
// records it); for merge rules it is the file name.
type Rule struct {
	Action  Action
	Pattern string
	Mods    Mods
}

// Internal rule bits: the Mods plus what the action contributes. Keeping one
// word mirrors how rsync inherits and tests flags during parsing.
const (
	fInclude uint32 = 1 << (24 + iota)
	fMerge
	fPerDir
	fClear

	modMask = uint32(ModDirOnly<<1) - 1
	fSides  = uint32(ModSender | ModReceiver)
	// Bits a rule inherits from the merge rule (or config) it came from.
	fFromContainer = uint32(ModAbsolute|ModDirOnly|ModNegate|ModPerishable) | fInclude
)

func (r Rule) flags() uint32 {
	f := uint32(r.Mods) & modMask &^ uint32(ModIncludes)
	switch r.Action {
	case Include:
		f |= fInclude
	case Clear:
		f |= fClear
	case Merge:
		f |= fMerge
	case DirMerge:
		f |= fMerge | fPerDir
	}
	if r.Mods&ModIncludes != 0 {
		f |= fInclude
	}
	return f
}

func ruleFrom(f uint32, pat string) Rule {
	r := Rule{Pattern: pat, Mods: Mods(f&modMask) &^ ModIncludes}
	switch {
	case f&fClear != 0:
		r.Action = Clear
	case f&fPerDir != 0:
		r.Action = DirMerge
	case f&fMerge != 0:
		r.Action = Merge
	case f&fInclude != 0:
		r.Action = Include
	default:
		r.Action = Exclude
	}
	if f&fMerge != 0 && f&fInclude != 0 {
		r.Mods |= ModIncludes
	}
	return r
}

// String renders the rule in rsync's long-prefix-free syntax, as
// "--filter" would accept it and as rsync's debug output shows it.
func (r Rule) String() string {
	if r.Action == Clear {
		return "!"
	}
	p, _ := r.prefix(32, true)
	s := p + r.Pattern
	if r.Mods&ModDirOnly != 0 {
		s += "/"
	}
	return s
}

// prefix builds the rule's "X,mods " prefix the way rsync writes it on the
// wire for protocol proto (modern=true ignores protocol limits). ok is false
// when the protocol cannot express the rule.
func (r Rule) prefix(proto int, modern bool) (string, bool) {
	old := !modern && proto < 29 // only "+ " and "- " exist before 29
	var b strings.Builder
	switch {
	case r.Action == Clear:
		return "!", true
	case r.Action == DirMerge:
		if old {
			return "", false
		}
		b.WriteByte(':')
	case r.Action == Merge:
		if old {
			return "", false
		}
		b.WriteByte('.')
	case r.Action == Include:
		b.WriteByte('+')
	case !old || strings.HasPrefix(r.Pattern, "- ") || strings.HasPrefix(r.Pattern, "+ "):
		b.WriteByte('-')
	}
	legal := b.Len() // the prefix char, if any; old protocols allow nothing more
	m := r.Mods
	if m&ModAbsolute != 0 {
		b.WriteByte('/')
	}
	if m&ModNegate != 0 {
		b.WriteByte('!')
	}
	if m&ModCVS != 0 {
		b.WriteByte('C')
	} else {
		if m&ModNoInherit != 0 {
			b.WriteByte('n')
		}
		if m&ModWordSplit != 0 {
			b.WriteByte('w')
		}
		if m&ModNoPrefixes != 0 {
			if m&ModIncludes != 0 {
				b.WriteByte('+')
			} else {
				b.WriteByte('-')
			}
		}
	}
	if m&ModExcludeSelf != 0 {
		b.WriteByte('e')
	}
	if m&ModXattr != 0 {
		b.WriteByte('x')
	}
	// Old protocols cannot carry sides; rsync drops 's' (and 'r') there.
	if m&ModSender != 0 && !old {
		b.WriteByte('s')
	}
	if m&ModReceiver != 0 && !old {
		b.WriteByte('r')
	}
	// Perishable needs protocol 30; rsync drops it for older peers.
	if m&ModPerishable != 0 && (modern || proto >= 30) {
		b.WriteByte('p')
	}
	if old && b.Len() > legal {
		return "", false
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	return b.String(), true
}

// Source says where rule text came from, which decides how rsync parses it.
type Source uint8

// Sources.
const (
	// FromWire is one rule string received from a client
	// (recv_filter_list); protocols before 29 allow only the old "+ "/"- "
	// prefixes.
	FromWire Source = iota
	// FromArg is one --filter argument (full syntax, no word splitting).
	FromArg
	// FromConfigFilter is the value of a module's "filter" parameter:
	// whitespace-separated rules.
	FromConfigFilter
	// FromConfigInclude and FromConfigExclude are the values of "include"
	// and "exclude": whitespace-separated patterns, optionally "+ "/"- ".
	FromConfigInclude
	FromConfigExclude
	// FromConfigIncludeFile and FromConfigExcludeFile are the contents of
	// the files named by "include from" and "exclude from": one pattern per
	// line, '#' and ';' comments.
	FromConfigIncludeFile
	FromConfigExcludeFile
)

// Parse flags that change how text is read (rsync's XFLG_*).
const (
	xOldPrefixes    = 1 << iota // only "+ ", "- " and "!" prefixes
	xAnchoredAbs                // per-dir file: leading '/' anchors at the file's directory
	xAbsIfSlash                 // daemon config: any '/' makes the rule absolute
	xDirToWild3                 // daemon config: "dir/" excludes become "dir/***"
	xDeleteExcluded             // --delete-excluded: plain rules become sender-only
)

func (s Source) setup(proto int) (tmpl uint32, xf int, lines bool, err error) {
	const daemon = xAbsIfSlash | xDirToWild3
	ws := uint32(ModWordSplit)
	switch s {
	case FromWire:
		if proto < 29 {
			xf = xOldPrefixes
		}
	case FromArg:
	case FromConfigFilter:
		return ws, daemon, false, nil
	case FromConfigInclude:
		return ws | fInclude, daemon | xOldPrefixes, false, nil
	case FromConfigExclude:
		return ws, daemon | xOldPrefixes, false, nil
	case FromConfigIncludeFile:
		return fInclude, daemon | xOldPrefixes, true, nil
	case FromConfigExcludeFile:
		return 0, daemon | xOldPrefixes, true, nil
	default:
		return 0, 0, false, fmt.Errorf("filter: unknown source %d", s)
	}
	return 0, xf, false, nil
}
