package filter

import (
	"strings"
	"unsafe"
)

// Side is the end of the transfer a check is made for.
type Side uint8

// Sides.
const (
	// Sender: deciding what goes into the file list; hide/show rules
	// ('s') apply, protect/risk rules ('r') do not.
	Sender Side = iota + 1
	// Receiver: deciding what --delete may remove; protect/risk rules
	// apply, hide/show rules do not.
	Receiver
)

// Flags describe the name being checked.
type Flags uint8

// Name flags.
const (
	IsDir            Flags = 1 << iota // the name is a directory
	IsXattr                            // the name is an xattr name
	IgnorePerishable                   // inside a directory being deleted: skip 'p' rules
)

// Result is the outcome of a check: the first matching rule decides.
type Result int8

// Results.
const (
	NoMatch  Result = 0
	Included Result = 1
	Excluded Result = -1
)

// node is a rule compiled for matching.
type node struct {
	f        uint32
	pattern  string // without a leading '/' when anchored
	anchored bool
	wild     bool // pattern has '*', '?' or '['
	wild2    bool // pattern has "**"
	wild2pre bool // pattern starts with "**"
	wild3suf bool // pattern ends with "***"
	slashes  int  // '/' count of the full pattern (anchoring '/' included)
	g        *glob
	kind     fastKind
	merge    *mergeState // dir-merge rules
}

// fastKind short-cuts common glob shapes past the general matcher.
type fastKind uint8

const (
	fastNone   fastKind = iota
	fastSuffix          // "*lit": a slash-free text ending in lit
	fastPrefix          // "lit*": a slash-free text starting with lit
	fastAll             // "*": any slash-free text
)

// compileNode prepares a rule with final pattern pat for matching.
func compileNode(f uint32, pat string) *node {
	n := &node{f: f, slashes: strings.Count(pat, "/")}
	if strings.ContainsAny(pat, "*[?") {
		n.wild = true
		if k := strings.Index(pat, "**"); k >= 0 {
			n.wild2 = true
			n.wild2pre = k == 0
			n.wild3suf = strings.HasSuffix(pat, "***")
		}
	}
	if strings.HasPrefix(pat, "/") {
		n.anchored = true
		pat = pat[1:]
	}
	n.pattern = pat
	if n.wild {
		n.g = compileGlob(pat)
		n.kind = fastShape(n.g)
	}
	return n
}

func fastShape(g *glob) fastKind {
	if g.never {
		return fastNone
	}
	switch t := g.toks; {
	case len(t) == 1 && t[0].kind == gStar:
		return fastAll
	case len(t) == 2 && t[0].kind == gStar && t[1].kind == gLit && strings.IndexByte(t[1].lit, '/') < 0:
		return fastSuffix
	case len(t) == 2 && t[0].kind == gLit && t[1].kind == gStar && strings.IndexByte(t[0].lit, '/') < 0:
		return fastPrefix
	}
	return fastNone
}

// applies reports whether the rule decides for name (rsync's rule_matches):
// the pattern matched, or failed to match for a negated rule. root is the
// module-relative path of the transfer root, which absolute rules see in
// front of the name.
func (n *node) applies(name string, fl Flags, root string) bool {
	full := name
	if len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	if name == "" {
		return false
	}
	if (fl&IsXattr != 0) != (n.f&uint32(ModXattr) != 0) {
		return false
	}
	negate := n.f&uint32(ModNegate) != 0
	isDir := fl&IsDir != 0
	if !isDir && n.f&uint32(ModDirOnly) != 0 {
		return negate
	}

	// Build the text to match: usually the name (or its last element);
	// sometimes with the root in front, a '/' in front (so a leading "**/"
	// can match at the top) or a '/' behind (so "dir/***" matches dir).
	var pre1, pre2 string
	switch {
	case n.slashes == 0 && !n.wild2:
		if k := strings.LastIndexByte(name, '/'); k >= 0 {
			name = name[k+1:]
		}
	case n.f&uint32(ModAbsolute) != 0 && full[0] != '/' && root != "":
		pre1, pre2 = root, "/"
	case n.wild2pre && full[0] != '/':
		pre1 = "/"
	}
	suf := isDir && n.wild3suf

	// trailing: match only the last slashes+1 elements; float: at the
	// start or after any '/'; otherwise the whole text.
	trailing := !n.anchored && n.slashes > 0 && !n.wild2
	float := !n.anchored && !n.wild2pre && n.wild2

	text := name
	if pre1 != "" || pre2 != "" || suf {
		var buf [512]byte
		b := append(buf[:0], pre1...)
		b = append(b, pre2...)
		b = append(b, name...)
		if suf {
			b = append(b, '/')
		}
		return n.matchText(bytesString(b), trailing, float) != negate
	}
	if !n.wild && !trailing {
		// Plain name, literal pattern: whole-name or element-suffix.
		if n.anchored {
			return (text == n.pattern) != negate
		}
		return hasElemSuffix(text, n.pattern) != negate
	}
	return n.matchText(text, trailing, float) != negate
}

// matchText matches the pattern against text in the given mode.
func (n *node) matchText(text string, trailing, float bool) bool {
	if trailing {
		var ok bool
		if text, ok = lastElems(text, n.slashes+1); !ok {
			return false
		}
	}
	if !n.wild {
		return text == n.pattern
	}
	switch n.kind {
	case fastAll:
		return strings.IndexByte(text, '/') < 0
	case fastSuffix:
		lit := n.g.toks[1].lit
		return strings.HasSuffix(text, lit) && strings.IndexByte(text[:len(text)-len(lit)], '/') < 0
	case fastPrefix:
		lit := n.g.toks[0].lit
		return strings.HasPrefix(text, lit) && strings.IndexByte(text[len(lit):], '/') < 0
	}
	if float {
		return n.g.matchAnySlash(text)
	}
	return n.g.match(text)
}

// hasElemSuffix reports whether name ends with pat at an element boundary.
func hasElemSuffix(name, pat string) bool {
	if !strings.HasSuffix(name, pat) {
		return false
	}
	k := len(name) - len(pat)
	return k == 0 || name[k-1] == '/'
}

// lastElems returns the last count '/'-separated elements of text; ok is
// false when the text has fewer.
func lastElems(text string, count int) (string, bool) {
	for i := len(text) - 1; i >= 0; i-- {
		if text[i] == '/' {
			if count--; count == 0 {
				return text[i+1:], true
			}
		}
	}
	if count == 1 {
		return text, true
	}
	return "", false
}

// bytesString views b as a string without copying; b must not change while
// the string is in use.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
