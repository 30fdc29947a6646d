package auth

// wildmatch matches text against an rsync wildcard pattern (lib/wildmatch.c
// semantics): '*' and '?' do not match '/', "**" does, "[...]" is a class
// with '!' or '^' negation, ranges and [:name:] classes, and '\' quotes.
func wildmatch(pattern, text string) bool {
	return (&wildState{p: pattern, t: text}).match(0, 0) == wmMatch
}

// Results of a partial match. The two aborts let a failing '*' stop every
// enclosing '*' from retrying, which keeps matching polynomial.
const (
	wmNoMatch         = 0
	wmMatch           = 1
	wmAbortAll        = -1
	wmAbortToStarStar = -2
)

type wildState struct {
	p, t string
}

// pat returns the pattern byte at i, or 0 past the end (C's terminator).
func (w *wildState) pat(i int) byte {
	if i < len(w.p) {
		return w.p[i]
	}
	return 0
}

func (w *wildState) match(pi, ti int) int {
	for ; pi < len(w.p); pi, ti = pi+1, ti+1 {
		pc := w.p[pi]
		if ti >= len(w.t) && pc != '*' {
			return wmAbortAll
		}
		var tc byte
		if ti < len(w.t) {
			tc = w.t[ti]
		}
		switch pc {
		case '?':
			if tc == '/' {
				return wmNoMatch
			}
		case '*':
			pi++
			starstar := false
			if pi < len(w.p) && w.p[pi] == '*' {
				starstar = true
				for pi < len(w.p) && w.p[pi] == '*' {
					pi++
				}
			}
			if pi == len(w.p) {
				// A trailing "*" must not cross a '/'; "**" may.
				if !starstar {
					for i := ti; i < len(w.t); i++ {
						if w.t[i] == '/' {
							return wmNoMatch
						}
					}
				}
				return wmMatch
			}
			for ; ti < len(w.t); ti++ {
				r := w.match(pi, ti)
				if r != wmNoMatch {
					if !starstar || r != wmAbortToStarStar {
						return r
					}
				} else if !starstar && w.t[ti] == '/' {
					return wmAbortToStarStar
				}
			}
			return wmAbortAll
		case '[':
			var r int
			pi, r = w.class(pi, tc)
			if r != wmMatch {
				return r
			}
		case '\\':
			pi++
			if w.pat(pi) != tc || pi >= len(w.p) {
				return wmNoMatch
			}
		default:
			if pc != tc {
				return wmNoMatch
			}
		}
	}
	if ti < len(w.t) {
		return wmNoMatch
	}
	return wmMatch
}

// class matches tc against the bracket expression starting at w.p[pi] ('[')
// and returns the index of its closing ']' and wmMatch, or a failure.
func (w *wildState) class(pi int, tc byte) (int, int) {
	pi++
	pc := w.pat(pi)
	if pc == '^' {
		pc = '!'
	}
	negated := pc == '!'
	if negated {
		pi++
		pc = w.pat(pi)
	}
	var prev byte
	matched := false
	for {
		if pi >= len(w.p) {
			return pi, wmAbortAll
		}
		switch {
		case pc == '\\':
			pi++
			if pi >= len(w.p) {
				return pi, wmAbortAll
			}
			pc = w.p[pi]
			if tc == pc {
				matched = true
			}
		case pc == '-' && prev != 0 && pi+1 < len(w.p) && w.p[pi+1] != ']':
			pi++
			pc = w.p[pi]
			if pc == '\\' {
				pi++
				if pi >= len(w.p) {
					return pi, wmAbortAll
				}
				pc = w.p[pi]
			}
			if prev <= tc && tc <= pc {
				matched = true
			}
			pc = 0 // a range cannot start another range
		case pc == '[' && w.pat(pi+1) == ':':
			start := pi + 2
			end := start
			for end < len(w.p) && w.p[end] != ']' {
				end++
			}
			if end >= len(w.p) {
				return end, wmAbortAll
			}
			if end-start < 1 || w.p[end-1] != ':' {
				// No ":]": the '[' is an ordinary member.
				if tc == '[' {
					matched = true
				}
				break
			}
			in, ok := charClass(w.p[start:end-1], tc)
			if !ok {
				return end, wmAbortAll
			}
			if in {
				matched = true
			}
			pi = end
			pc = 0
		default:
			if tc == pc {
				matched = true
			}
		}
		prev = pc
		pi++
		pc = w.pat(pi)
		if pc == ']' {
			break
		}
	}
	if matched == negated || tc == '/' {
		return pi, wmNoMatch
	}
	return pi, wmMatch
}

// charClass reports whether c is in the POSIX class name (C locale); ok is
// false for an unknown name, which rsync treats as a malformed pattern.
func charClass(name string, c byte) (in, ok bool) {
	upper := 'A' <= c && c <= 'Z'
	lower := 'a' <= c && c <= 'z'
	digit := '0' <= c && c <= '9'
	graph := c > ' ' && c < 0x7f
	switch name {
	case "alnum":
		return upper || lower || digit, true
	case "alpha":
		return upper || lower, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < ' ' || c == 0x7f, true
	case "digit":
		return digit, true
	case "graph":
		return graph, true
	case "lower":
		return lower, true
	case "print":
		return graph || c == ' ', true
	case "punct":
		return graph && !upper && !lower && !digit, true
	case "space":
		return c == ' ' || ('\t' <= c && c <= '\r'), true
	case "upper":
		return upper, true
	case "xdigit":
		return digit || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F'), true
	}
	return false, false
}
