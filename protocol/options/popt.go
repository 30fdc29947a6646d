package options

import (
	"math"
	"strings"
)

// popt error codes, with poptStrerror's wording.
type poptErr uint8

const (
	poptOK poptErr = iota
	poptBadOpt
	poptNoArg
	poptUnwantedArg
	poptBadNumber
	poptOverflow
)

func (e poptErr) String() string {
	switch e {
	case poptBadOpt:
		return "unknown option"
	case poptNoArg:
		return "missing argument"
	case poptUnwantedArg:
		return "option does not take an argument"
	case poptBadNumber:
		return "invalid numeric value"
	case poptOverflow:
		return "number too large or too small"
	}
	return "unknown error"
}

// popt walks an argument vector the way libpopt 1.19 does for rsync's
// table: "--name", "--name=value", "-abc" bundles (a value-taking letter
// takes the rest of the bundle, after an optional "="), values in the next
// element, "--" ending the options, and non-option elements collected as
// leftovers wherever they appear. It has no aliases (rsync disables them
// on the server side).
type popt struct {
	args     []string
	next     int
	deleted  []bool // elements consumed by a "!#:+" expansion
	scan     int    // where findNextArg resumes
	chars    string // rest of a short-option bundle
	inChars  bool
	restArgs bool
	left     []string
}

func newPopt(args []string) *popt {
	return &popt{args: args}
}

// occurrence is one option met on the command line.
type occurrence struct {
	idx   int    // table row
	value string // for argString / argInt rows
	num   int    // parsed value of argInt rows
}

// badOpt is what poptBadOption(POPT_BADOPTION_NOALIAS) returns: the last
// element consumed.
func (p *popt) badOpt() string {
	if p.next == 0 {
		return ""
	}
	return p.args[p.next-1]
}

// nextOpt returns the next option, ok=false at the end, or a popt error.
func (p *popt) nextOpt() (occ occurrence, ok bool, perr poptErr) {
	for {
		var r *row
		idx := -1
		longArg, hasLongArg := "", false
		if !p.inChars {
			if p.next == len(p.args) {
				return occ, false, poptOK
			}
			if p.deleted != nil && p.deleted[p.next] {
				p.next++
				continue
			}
			orig := p.args[p.next]
			p.next++
			if p.restArgs || orig == "" || orig[0] != '-' || orig == "-" {
				p.left = append(p.left, orig)
				continue
			}
			if orig == "--" {
				p.restArgs = true
				continue
			}
			s, oneDash := orig[1:], true
			if s[0] == '-' {
				s, oneDash = s[1:], false
			}
			name := s
			if eq := strings.IndexByte(s, '='); eq >= 0 {
				name, longArg, hasLongArg = s[:eq], s[eq+1:], true
			}
			// rsync's table has no single-dash long options, so "-name"
			// is always a bundle of letters.
			if !oneDash {
				if i, found := byLong[name]; found {
					idx = i
				}
				if idx < 0 {
					return occ, false, poptBadOpt
				}
			} else {
				p.chars, p.inChars = orig[1:], true
				longArg, hasLongArg = "", false
			}
		}
		if p.inChars {
			c := p.chars[0]
			i := byShort[c]
			if i < 0 {
				return occ, false, poptBadOpt
			}
			idx = int(i)
			p.chars = p.chars[1:]
			p.inChars = p.chars != ""
		}
		r = &table[idx]
		occ = occurrence{idx: idx}
		switch r.typ {
		case argNone, argVal, argBitSet:
			if hasLongArg || (p.inChars && p.chars[0] == '=') {
				return occ, false, poptUnwantedArg
			}
		default:
			var v string
			switch {
			case hasLongArg:
				v = p.expand(longArg)
			case p.inChars:
				v = strings.TrimPrefix(p.chars, "=")
				p.chars, p.inChars = "", false
				v = p.expand(v)
			default:
				if p.next == len(p.args) {
					return occ, false, poptNoArg
				}
				v = p.args[p.next]
				p.next++
				v = p.expand(v)
			}
			occ.value = v
			if r.typ == argInt {
				n, e := parseInt(v)
				if e != poptOK {
					return occ, false, e
				}
				occ.num = n
			}
		}
		return occ, true, poptOK
	}
}

// expand performs popt's "!#:+" substitution: each occurrence is replaced
// by the next element that does not start with '-', which is then skipped.
// Stock rsyncd applies it to option values too, so a daemon must as well.
func (p *popt) expand(s string) string {
	const tok = "!#:+"
	if !strings.Contains(s, tok) {
		return s
	}
	var b strings.Builder
	a, found := "", false
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], tok) {
			if !found {
				a, found = p.findNextArg()
			}
			if found {
				b.WriteString(a)
				i += len(tok)
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// findNextArg takes the first element after the current one that does not
// start with '-' and was not taken before. Elements it passes over can
// never qualify later, so the scan resumes where it stopped: many "!#:+"
// cost linear time, not quadratic.
func (p *popt) findNextArg() (string, bool) {
	p.scan = max(p.scan, p.next)
	for ; p.scan < len(p.args); p.scan++ {
		i := p.scan
		if (p.deleted != nil && p.deleted[i]) || strings.HasPrefix(p.args[i], "-") {
			continue
		}
		if p.deleted == nil {
			p.deleted = make([]bool, len(p.args))
		}
		p.deleted[i] = true
		p.scan++
		return p.args[i], true
	}
	return "", false
}

// parseInt converts like popt: strtoll(s, &end, 0) must consume all of s
// (an empty string is 0), and the result must fit a C int.
func parseInt(s string) (int, poptErr) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := 10
	switch {
	case i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && hexVal(s[i+2]) < 16:
		base = 16
		i += 2
	case i < len(s) && s[i] == '0':
		base = 8
	}
	start := i
	var v uint64
	over := false
	for ; i < len(s); i++ {
		d := hexVal(s[i])
		if d >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/uint64(base) {
			over = true
		} else {
			v = v*uint64(base) + uint64(d)
		}
	}
	if i == start {
		// No digits: strtoll leaves end at the very start of the string.
		if s == "" {
			return 0, poptOK
		}
		return 0, poptBadNumber
	}
	if i != len(s) {
		return 0, poptBadNumber
	}
	if over || (!neg && v > math.MaxInt32) || (neg && v > -math.MinInt32) {
		return 0, poptOverflow
	}
	if neg {
		return -int(v), poptOK
	}
	return int(v), poptOK
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

func isCSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
