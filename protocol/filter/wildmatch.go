package filter

import "strings"

// A glob is a pattern compiled for rsync's wildmatch semantics: '?' is one
// byte other than '/', '*' is a run of non-'/' bytes, '**' (or more stars)
// is any run of bytes, '[...]' is a byte class that never matches '/', and
// a backslash makes the next byte literal. Matching is byte-wise (8-bit
// clean, no UTF-8 awareness), as in rsync.
type glob struct {
	toks  []gtok
	sets  []byteSet
	never bool // a malformed token: rsync can never match such a pattern
}

type gtokKind uint8

const (
	gLit   gtokKind = iota // a run of literal bytes
	gOne                   // '?'
	gSet                   // '[...]', index into sets
	gStar                  // '*'
	gStar2                 // '**' and longer runs of stars
)

type gtok struct {
	kind gtokKind
	set  uint16 // index into glob.sets for gSet
	lit  string
}

// byteSet is a 256-bit membership table.
type byteSet [4]uint64

func (s *byteSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *byteSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s.add(byte(c))
	}
}

// Outcomes of a partial match. Besides plain success and failure, two
// "abort" outcomes prune the search: abortAll means the text ran out while
// the pattern still needs bytes (no later start can do better), abortStar
// means a single '*' could not cross a '/', so only an enclosing '**' may
// keep trying.
type gres uint8

const (
	gFalse gres = iota
	gTrue
	gAbortAll
	gAbortStar
)

// compileGlob turns pattern text into tokens. It never fails: a pattern
// rsync would reject while matching (an unterminated class, an unknown
// [:name:], a trailing backslash) is compiled as never matching, which is
// what rsync's matcher amounts to for every input.
func compileGlob(p string) *glob {
	g := &glob{}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			g.toks = append(g.toks, gtok{kind: gLit, lit: string(lit)})
			lit = lit[:0]
		}
	}
	for i := 0; i < len(p); {
		switch c := p[i]; c {
		case '\\':
			if i+1 >= len(p) {
				g.never = true
				return g
			}
			lit = append(lit, p[i+1])
			i += 2
		case '?':
			flush()
			g.toks = append(g.toks, gtok{kind: gOne})
			i++
		case '*':
			flush()
			j := i
			for j < len(p) && p[j] == '*' {
				j++
			}
			k := gStar
			if j-i > 1 {
				k = gStar2
			}
			g.toks = append(g.toks, gtok{kind: k})
			i = j
		case '[':
			flush()
			set, next, ok := parseClass(p, i+1)
			if !ok || len(g.sets) >= 1<<16 {
				g.never = true
				return g
			}
			g.toks = append(g.toks, gtok{kind: gSet, set: uint16(len(g.sets))})
			g.sets = append(g.sets, set)
			i = next
		default:
			lit = append(lit, c)
			i++
		}
	}
	flush()
	return g
}

// parseClass reads a bracket expression whose body starts at p[i] (just
// after '['). It returns the set of bytes it matches (never '/'), the index
// after the closing ']', and false for a malformed class.
//
// Rules, as rsync has them: '!' or '^' first negates; the first member may
// be ']'; "\x" is the literal x; "a-z" is a range when a start byte is known
// and the '-' is not last; "[:name:]" is a POSIX class (an unknown name is
// malformed), while "[:" without a closing ":]" is just the byte '['.
func parseClass(p string, i int) (byteSet, int, bool) {
	var set byteSet
	at := func(k int) byte { // NUL past the end, like a C string
		if k < len(p) {
			return p[k]
		}
		return 0
	}
	negate := false
	if c := at(i); c == '!' || c == '^' {
		negate = true
		i++
	}
	var prev byte // start of a possible range; 0 when there is none
	for first := true; first || at(i) != ']'; first = false {
		c := at(i)
		switch {
		case c == 0:
			return set, 0, false
		case c == '\\':
			i++
			c = at(i)
			if c == 0 {
				return set, 0, false
			}
			set.add(c)
			prev = c
		case c == '-' && prev != 0 && at(i+1) != 0 && at(i+1) != ']':
			i++
			hi := at(i)
			if hi == '\\' {
				i++
				hi = at(i)
				if hi == 0 {
					return set, 0, false
				}
			}
			if prev <= hi {
				set.addRange(prev, hi)
			}
			prev = 0
		case c == '[' && at(i+1) == ':':
			end := strings.IndexByte(p[min(i+2, len(p)):], ']')
			if end < 0 {
				return set, 0, false
			}
			end += i + 2
			if end-(i+2) < 1 || p[end-1] != ':' {
				// Not a [:name:]: the '[' is an ordinary member and
				// scanning resumes at the ':'.
				set.add('[')
				prev = '['
				break
			}
			if !addNamedClass(&set, p[i+2:end-1]) {
				return set, 0, false
			}
			i = end
			prev = 0
		default:
			set.add(c)
			prev = c
		}
		i++
	}
	if negate {
		for k := range set {
			set[k] = ^set[k]
		}
	}
	set[0] &^= 1 << '/'
	return set, i + 1, true
}

// addNamedClass adds the members of a POSIX class in the C locale.
func addNamedClass(s *byteSet, name string) bool {
	for c := 0; c < 128; c++ {
		b := byte(c)
		var in bool
		switch name {
		case "alnum":
			in = isAlpha(b) || isDigit(b)
		case "alpha":
			in = isAlpha(b)
		case "blank":
			in = b == ' ' || b == '\t'
		case "cntrl":
			in = b < 0x20 || b == 0x7f
		case "digit":
			in = isDigit(b)
		case "graph":
			in = b > 0x20 && b < 0x7f
		case "lower":
			in = b >= 'a' && b <= 'z'
		case "print":
			in = b >= 0x20 && b < 0x7f
		case "punct":
			in = b > 0x20 && b < 0x7f && !isAlpha(b) && !isDigit(b)
		case "space":
			in = b == ' ' || (b >= '\t' && b <= '\r')
		case "upper":
			in = b >= 'A' && b <= 'Z'
		case "xdigit":
			in = isDigit(b) || (b|0x20 >= 'a' && b|0x20 <= 'f')
		default:
			return false
		}
		if in {
			s.add(b)
		}
	}
	return true
}

func isAlpha(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }
func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// Wildmatch reports whether text matches pattern under rsync's wildmatch()
// rules (the whole text, '/' treated specially as described on glob).
func Wildmatch(pattern, text string) bool {
	g := compileGlob(pattern)
	return g.match(text)
}

// match matches the whole text.
func (g *glob) match(text string) bool {
	if g.never {
		return false
	}
	return g.from(0, text, 0) == gTrue
}

// matchAnySlash matches the text from its start or from just after any '/'
// (rsync's "float" mode for unanchored patterns holding "**").
func (g *glob) matchAnySlash(text string) bool {
	if g.never {
		return false
	}
	r := g.from(0, text, 0)
	if r == gTrue || r == gAbortAll {
		return r == gTrue
	}
	for i := 0; i < len(text); i++ {
		if text[i] != '/' {
			continue
		}
		if r = g.from(0, text, i+1); r == gTrue || r == gAbortAll {
			return r == gTrue
		}
	}
	return false
}

// from matches tokens ti... against text[pos:].
func (g *glob) from(ti int, text string, pos int) gres {
	for ; ti < len(g.toks); ti++ {
		t := &g.toks[ti]
		switch t.kind {
		case gLit:
			for k := 0; k < len(t.lit); k++ {
				if pos >= len(text) {
					return gAbortAll
				}
				if text[pos] != t.lit[k] {
					return gFalse
				}
				pos++
			}
		case gOne:
			if pos >= len(text) {
				return gAbortAll
			}
			if text[pos] == '/' {
				return gFalse
			}
			pos++
		case gSet:
			if pos >= len(text) {
				return gAbortAll
			}
			if !g.sets[t.set].has(text[pos]) {
				return gFalse
			}
			pos++
		default: // gStar, gStar2
			cross := t.kind == gStar2
			if ti == len(g.toks)-1 {
				// A trailing "**" takes the rest; a trailing "*"
				// only a rest without '/'.
				if cross || strings.IndexByte(text[pos:], '/') < 0 {
					return gTrue
				}
				return gFalse
			}
			// The next token always needs a byte, so the empty rest
			// is never tried.
			for ; pos < len(text); pos++ {
				r := g.from(ti+1, text, pos)
				if r != gFalse {
					if !cross || r != gAbortStar {
						return r
					}
				} else if !cross && text[pos] == '/' {
					return gAbortStar
				}
			}
			return gAbortAll
		}
	}
	if pos == len(text) {
		return gTrue
	}
	return gFalse
}
