package filter

import (
	"errors"
	"fmt"
	"strings"
)

// Length limits, as rsync has them on Linux.
const (
	// MaxPatternLen: a longer pattern is discarded (rsync: MAXPATHLEN).
	MaxPatternLen = 4096
	// MaxLineLen: a longer rule on the wire is a protocol error and a
	// longer line in a merge file is discarded (rsync: BIGPATHBUFLEN-1).
	MaxLineLen = 4096 + 1024 - 1
)

// ErrSyntax is wrapped by every parse error (rsync exits with RERR_SYNTAX).
var ErrSyntax = errors.New("filter: syntax error")

// Parse parses rule text from the given source for protocol proto (the
// protocol only matters for FromWire). A wire rule or --filter argument is
// one rule; config values are split on whitespace; config files are split
// into lines. Like rsync it expands the 'e' modifier into an extra exclude
// of the merge file's name, names a nameless merge rule ".cvsignore", and
// silently drops patterns of MaxPatternLen bytes or more. Merge files are
// not read here: see List.Add.
func Parse(text string, proto int, from Source) ([]Rule, error) {
	tmpl, xf, lines, err := from.setup(proto)
	if err != nil {
		return nil, err
	}
	var out []Rule
	emit := func(r Rule) error { out = append(out, r); return nil }
	if lines {
		err = parseLines([]byte(text), tmpl, xf, emit)
	} else {
		err = parseString(text, tmpl, xf, emit)
	}
	return out, err
}

// parseLines splits merge-file content the way rsync reads such a file:
// lines end at '\n', '\r' or "\r\n" (whitespace too when the template word
// splits), empty lines are skipped, and outside word-split mode so are lines
// starting with '#' or ';'. Overlong lines are discarded.
func parseLines(data []byte, tmpl uint32, xf int, emit func(Rule) error) error {
	ws := tmpl&uint32(ModWordSplit) != 0
	for len(data) > 0 {
		end := 0
		for end < len(data) {
			c := data[end]
			if c == '\n' || c == '\r' || (ws && isSpace(c)) {
				break
			}
			end++
		}
		line := data[:end]
		next := end
		if next < len(data) {
			next++
			if data[end] == '\r' && next < len(data) && data[next] == '\n' {
				next++
			}
		}
		data = data[next:]
		if len(line) == 0 || len(line) > MaxLineLen {
			continue
		}
		if !ws && (line[0] == '#' || line[0] == ';') {
			continue
		}
		if err := parseString(string(line), tmpl, xf, emit); err != nil {
			return err
		}
	}
	return nil
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// longNames are the spelled-out rule names and their one-character forms.
var longNames = [...]struct {
	name string
	ch   byte
}{
	{"clear", '!'}, {"dir-merge", ':'}, {"exclude", '-'}, {"hide", 'H'},
	{"include", '+'}, {"merge", '.'}, {"protect", 'P'}, {"risk", 'R'},
	{"show", 'S'},
}

func syntaxErr(msg, rule string) error {
	return fmt.Errorf("%w: %s: %q", ErrSyntax, msg, rule)
}

// parseString parses every rule in s (one, unless the template word
// splits) with template flags tmpl, handing each to emit.
func parseString(s string, tmpl uint32, xf int, emit func(Rule) error) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i] // C string semantics
	}
	ws := tmpl&uint32(ModWordSplit) != 0
	for {
		if ws {
			for len(s) > 0 && isSpace(s[0]) {
				s = s[1:]
			}
		}
		if s == "" {
			return nil
		}
		f, pat, rest, err := parseOne(s, tmpl, xf)
		if err != nil {
			return err
		}
		s = rest
		if len(pat) >= MaxPatternLen {
			continue // rsync: "discarding over-long filter"
		}
		if f&fClear != 0 {
			if err := emit(Rule{Action: Clear}); err != nil {
				return err
			}
			continue
		}
		if f&fMerge != 0 {
			if pat == "" {
				pat = ".cvsignore"
			}
			if f&uint32(ModExcludeSelf) != 0 {
				f &^= uint32(ModExcludeSelf)
				base := pat[strings.LastIndexByte(pat, '/')+1:]
				// A merge name ending in '/' has no base name; rsync adds
				// an empty rule that can never match, so adding none is
				// the same (and keeps the list sendable).
				if base != "" {
					if err := emit(finish(0, base, 0)); err != nil {
						return err
					}
				}
			}
			if f&fPerDir == 0 {
				// A single-instance merge keeps its name verbatim.
				if err := emit(ruleFrom(f, pat)); err != nil {
					return err
				}
				continue
			}
		}
		if err := emit(finish(f, pat, xf)); err != nil {
			return err
		}
	}
}

// finish applies what rsync decides when a rule joins a list (add_rule)
// and that depends only on the text: a trailing '/' means directories only,
// and the daemon config's implicit absolute paths and "dir/***" expansion.
func finish(f uint32, pat string, xf int) Rule {
	if len(pat) > 1 && pat[len(pat)-1] == '/' {
		pat = pat[:len(pat)-1]
		f |= uint32(ModDirOnly)
	}
	if f&(uint32(ModAbsolute)|fMerge) == 0 && xf&xAbsIfSlash != 0 && strings.IndexByte(pat, '/') >= 0 {
		f |= uint32(ModAbsolute)
	}
	if xf&xDirToWild3 != 0 && f&uint32(ModDirOnly) != 0 && f&fInclude == 0 {
		f &^= uint32(ModDirOnly)
		pat += "/***"
	}
	return ruleFrom(f, pat)
}

// parseOne reads one rule from the start of s (rsync's parse_rule_tok). It
// returns the rule's flags, its pattern and the text after it.
func parseOne(s string, tmpl uint32, xf int) (f uint32, pat, rest string, err error) {
	orig := s
	ws := tmpl&uint32(ModWordSplit) != 0
	noPrefixes := tmpl&uint32(ModNoPrefixes) != 0
	f = tmpl & fFromContainer
	i := 0 // index of the pattern's start within s
	at := func(k int) byte {
		if k < len(s) {
			return s[k]
		}
		return 0
	}

	switch {
	case noPrefixes:
		if at(0) == '!' && tmpl&uint32(ModCVS) != 0 {
			f |= fClear // tentative: only a lone "!" clears
		}
	case xf&xOldPrefixes != 0:
		switch {
		case at(0) == '-' && at(1) == ' ':
			f &^= fInclude
			i = 2
		case at(0) == '+' && at(1) == ' ':
			f |= fInclude
			i = 2
		case at(0) == '!':
			f |= fClear // tentative, as above
		}
	default:
		var ch byte
		j := 0 // index of the last byte of the rule name
		for _, ln := range longNames {
			if at(0) != ln.name[0] {
				continue
			}
			if !strings.HasPrefix(s, ln.name) {
				break
			}
			n := len(ln.name)
			switch c := at(n); {
			case c == 0 || c == '_' || isSpace(c):
				ch, j = ln.ch, n-1
			case c == ',':
				ch, j = ln.ch, n
			}
			break
		}
		if ch == 0 && !isLongInitial(at(0)) {
			ch = at(0)
			if at(1) == ',' {
				j = 1
			}
		}
		sideFromPrefix := false
		switch ch {
		case ':':
			f |= fPerDir | fMerge
		case '.':
			f |= fMerge
		case '+':
			f |= fInclude
		case '-':
		case 'S':
			f |= fInclude | uint32(ModSender)
			sideFromPrefix = true
		case 'H':
			f |= uint32(ModSender)
			sideFromPrefix = true
		case 'R':
			f |= fInclude | uint32(ModReceiver)
			sideFromPrefix = true
		case 'P':
			f |= uint32(ModReceiver)
			sideFromPrefix = true
		case '!':
			f |= fClear
		default:
			return 0, "", "", syntaxErr("unknown filter rule", orig)
		}
		if ch != '!' {
			for j++; j < len(s) && s[j] != ' ' && s[j] != '_'; j++ {
				c := s[j]
				if ws && isSpace(c) {
					break
				}
				bad := false
				switch c {
				case '-', '+':
					if f&fMerge == 0 || f&uint32(ModNoPrefixes) != 0 {
						bad = true
					} else {
						f |= uint32(ModNoPrefixes)
						if c == '+' {
							f |= fInclude
						}
					}
				case '/':
					f |= uint32(ModAbsolute)
				case '!':
					// Negation belongs to a pattern, not a merge file.
					bad = f&fMerge != 0
					f |= uint32(ModNegate)
				case 'C':
					if f&uint32(ModNoPrefixes) != 0 || sideFromPrefix {
						bad = true
					}
					f |= uint32(ModNoPrefixes | ModWordSplit | ModNoInherit | ModCVS)
				case 'e':
					bad = f&fMerge == 0
					f |= uint32(ModExcludeSelf)
				case 'n':
					bad = f&fMerge == 0
					f |= uint32(ModNoInherit)
				case 'w':
					bad = f&fMerge == 0
					f |= uint32(ModWordSplit)
				case 'p':
					f |= uint32(ModPerishable)
				case 'r', 's':
					bad = sideFromPrefix
					if c == 'r' {
						f |= uint32(ModReceiver)
					} else {
						f |= uint32(ModSender)
					}
				case 'x':
					f |= uint32(ModXattr)
				default:
					bad = true
				}
				if bad {
					return 0, "", "", syntaxErr(fmt.Sprintf("invalid modifier '%c' at position %d", c, j), orig)
				}
			}
			// j is at the separator (skipped) or at the end; in
			// word-split mode a whitespace separator stays in place.
			if j < len(s) && (s[j] == ' ' || s[j] == '_') {
				j++
			}
		} else {
			j++
		}
		i = min(j, len(s))
	}

	if tmpl&fSides != 0 {
		if f&fSides != 0 {
			return 0, "", "", syntaxErr("specified-side merge file contains specified-side filter", orig)
		}
		f |= tmpl & fSides
	}

	end := len(s)
	if ws {
		end = i
		for end < len(s) && !isSpace(s[end]) {
			end++
		}
	}
	pat, rest = s[i:end], s[end:]

	if f&fClear != 0 {
		if !noPrefixes && xf&xOldPrefixes == 0 && len(pat) > 0 {
			return 0, "", "", syntaxErr("'!' rule has trailing characters", orig)
		}
		if len(pat) > 1 {
			f &^= fClear
		}
	} else if len(pat) == 0 && f&uint32(ModCVS) == 0 {
		return 0, "", "", syntaxErr("unexpected end of filter rule", orig)
	}
	// --delete-excluded makes plain include/exclude rules sender-only.
	if xf&xDeleteExcluded != 0 && f&(fSides|fMerge) == 0 {
		f |= uint32(ModSender)
	}
	return f, pat, rest, nil
}

// isLongInitial reports whether c starts a long rule name; such a byte is
// only a rule when the whole name follows.
func isLongInitial(c byte) bool {
	switch c {
	case 'c', 'd', 'e', 'h', 'i', 'm', 'p', 'r', 's':
		return true
	}
	return false
}
