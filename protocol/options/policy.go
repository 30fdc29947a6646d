package options

import "strings"

// policy is the module's view of the table: which rows are refused
// (rsyncd.conf "refuse options" plus rsyncd's built-in refusals) and which
// this daemon does not implement, and the rows rsync consults for the
// refusals that options imply.
type policy struct {
	refused     []bool
	unsupported []bool
	stock       bool // see Config.stockServer

	// Row indexes of blocked rows, -1 when not blocked (rsync's refused_*).
	archivePart, compress, delete, deleteBefore, deleteDuring int
	partial, progress, inplace, noIconv                       int
}

func newPolicy(cfg *Config) *policy {
	p := &policy{
		refused:     refusals(cfg, nil),
		unsupported: make([]bool, len(table)),
		stock:       cfg.stockServer,
	}
	if cfg.stockServer {
		// Stock 3.5.0 on Linux is built without crtimes support.
		p.unsupported[byLong["crtimes"]] = true
	}
	if cfg.Implemented != nil {
		impl := make([]bool, len(table))
		for _, name := range cfg.Implemented {
			for i := range table {
				if table[i].long == name || (table[i].short != 0 && len(name) == 1 && table[i].short == name[0]) {
					impl[i] = true
				}
			}
		}
		for i := range table {
			r := &table[i]
			switch {
			case r.act == aServer, r.act == aSender, r.short == 'e':
				impl[i] = true
			case strings.HasPrefix(r.long, "no-"):
				// Implementing an option means implementing its off
				// state, which is what "--no-NAME" (or "--no-L") selects.
				pos := r.long[3:]
				if j, ok := byLong[pos]; ok && impl[j] {
					impl[i] = true
				} else if len(pos) == 1 && byShort[pos[0]] >= 0 && impl[byShort[pos[0]]] {
					impl[i] = true
				}
			}
		}
		for i := range table {
			if impl[i] {
				continue
			}
			for j := range table {
				if impl[j] && sameAction(&table[i], &table[j]) {
					impl[i] = true
					break
				}
			}
		}
		for i := range impl {
			p.unsupported[i] = !impl[i]
		}
	}
	p.archivePart, p.compress, p.delete, p.deleteBefore, p.deleteDuring = -1, -1, -1, -1, -1
	p.partial, p.progress, p.inplace, p.noIconv = -1, -1, -1, -1
	for i := range table {
		r := &table[i]
		if r.long == "no-iconv" && p.refused[i] {
			// Only a refusal forces --iconv; not implementing --no-iconv
			// must not turn away every client that does not send --iconv.
			p.noIconv = i
		}
		if !p.refused[i] && !p.unsupported[i] {
			continue
		}
		switch r.short {
		case 'r', 'd', 'l', 'p', 't', 'g', 'o', 'D':
			p.archivePart = i
		case 'z':
			p.compress = i
		case 0:
			switch r.long {
			case "delete":
				p.delete = i
			case "delete-before":
				p.deleteBefore = i
			case "delete-during":
				p.deleteDuring = i
			case "partial":
				p.partial = i
			case "progress":
				p.progress = i
			case "inplace":
				p.inplace = i
			}
		}
	}
	return p
}

// check is called for every option met on the command line; server
// reports whether --server has been seen yet.
func (p *policy) check(idx int, server bool) error {
	r := &table[idx]
	switch {
	case p.refused[idx]:
		return &RefusedError{Long: r.long, Short: r.short}
	case p.unsupported[idx]:
		if p.stock && !server {
			return &OptionError{Msg: optMsg("This rsync does not support", r.long, r.short), Code: ExitSyntax}
		}
		return &UnsupportedError{Long: r.long, Short: r.short}
	}
	return nil
}

// implied reports the refusal an option implies (idx < 0: none); implied
// refusals are only checked after --server.
func (p *policy) implied(idx int) error {
	if idx < 0 {
		return nil
	}
	return p.check(idx, true)
}

// refusals marks the refused rows the way rsync's set_refuse_options does
// for a daemon; terms that match nothing are appended to *unmatched.
func refusals(cfg *Config, unmatched *[]string) []bool {
	accept := make([]bool, len(table)) // false: refused
	for i := range accept {
		accept[i] = true
	}
	match := func(negated bool, ref string) {
		isWild := strings.ContainsAny(ref, "*?[")
		if ref == "a" || ref == "archive" {
			ref, isWild = "[ardlptgoD]", true
		}
		found, matched := false, -1
		for i := range table {
			r := &table[i]
			if !(r.long != "" && wildmatch(ref, r.long)) && !(r.short != 0 && wildmatch(ref, string(r.short))) {
				continue
			}
			if r.flags&exactOnly == 0 || !isWild {
				accept[i] = negated
			}
			found = true
			if !isWild {
				matched = i
				break
			}
		}
		if matched >= 0 {
			// An exact term names a capability, not one spelling of it.
			for i := range table {
				if i != matched && sameAction(&table[i], &table[matched]) {
					accept[i] = negated
				}
			}
		}
		if !found && unmatched != nil {
			*unmatched = append(*unmatched, ref)
		}
	}
	// Refused by default, but a negated exact term accepts them.
	if !cfg.stockServer {
		match(false, "copy-devices")
		match(false, "write-devices")
	}
	for _, item := range cfg.Refuse {
		for _, term := range strings.Split(item, " ") {
			if term == "" {
				continue
			}
			negated := term[0] == '!'
			if negated && len(term) > 1 {
				term = term[1:]
			}
			match(negated, term)
		}
	}
	if cfg.stockServer {
		return make([]bool, len(table))
	}
	if !cfg.Charset {
		match(false, "iconv")
	}
	match(false, "log-file*")
	// A client must never disable the daemon's symlink confinement.
	match(false, "insecure-links")
	refused := make([]bool, len(table))
	for i := range accept {
		refused[i] = !accept[i]
	}
	return refused
}

// UnmatchedRefuse returns the "refuse options" terms that name no option
// (rsyncd logs 'No match for refuse-options string "%s"' for each), for
// checking a configuration.
func UnmatchedRefuse(refuse []string) []string {
	var out []string
	refusals(&Config{Refuse: refuse, Charset: true}, &out)
	return out
}

// wildmatch is rsync's wildmatch() for text without slashes: '*', '?',
// "[...]" sets with "!"/"^" negation, ranges and [:class:] names, and
// backslash escapes. It is case-sensitive.
func wildmatch(pat, text string) bool {
	px, tx := 0, 0
	starPx, starTx := -1, -1
	for px < len(pat) || tx < len(text) {
		if px < len(pat) {
			switch c := pat[px]; c {
			case '*':
				for px < len(pat) && pat[px] == '*' {
					px++
				}
				starPx, starTx = px, tx
				continue
			case '?':
				if tx < len(text) {
					px++
					tx++
					continue
				}
			case '[':
				if tx < len(text) {
					ok, next, valid := matchSet(pat, px, text[tx])
					if !valid {
						return false
					}
					if ok {
						px, tx = next, tx+1
						continue
					}
				}
			case '\\':
				if px+1 < len(pat) && tx < len(text) && text[tx] == pat[px+1] {
					px += 2
					tx++
					continue
				}
			default:
				if tx < len(text) && text[tx] == c {
					px++
					tx++
					continue
				}
			}
		}
		if starTx >= 0 && starTx < len(text) {
			starTx++
			px, tx = starPx, starTx
			continue
		}
		return false
	}
	return true
}

// matchSet matches one character against the set starting at pat[px]
// ('['); it returns whether it matched, the index after the set, and
// false for valid when the set is malformed (rsync aborts the match).
func matchSet(pat string, px int, t byte) (matched bool, next int, valid bool) {
	at := func(i int) byte {
		if i < len(pat) {
			return pat[i]
		}
		return 0
	}
	p := px + 1
	pc := at(p)
	if pc == '^' {
		pc = '!'
	}
	negated := pc == '!'
	if negated {
		p++
		pc = at(p)
	}
	var prev byte
	for {
		if pc == 0 {
			return false, 0, false
		}
		switch {
		case pc == '\\':
			p++
			pc = at(p)
			if pc == 0 {
				return false, 0, false
			}
			if t == pc {
				matched = true
			}
		case pc == '-' && prev != 0 && at(p+1) != 0 && at(p+1) != ']':
			p++
			pc = at(p)
			if pc == '\\' {
				p++
				pc = at(p)
				if pc == 0 {
					return false, 0, false
				}
			}
			if t <= pc && t >= prev {
				matched = true
			}
			pc = 0
		case pc == '[' && at(p+1) == ':':
			s := p + 2
			q := s
			for at(q) != 0 && at(q) != ']' {
				q++
			}
			if at(q) == 0 {
				return false, 0, false
			}
			n := q - s - 1
			if n < 0 || pat[q-1] != ':' {
				// No ":]": a plain '['.
				p = s - 2
				pc = '['
				if t == pc {
					matched = true
				}
				break
			}
			in, ok := inClass(pat[s:s+n], t)
			if !ok {
				return false, 0, false
			}
			if in {
				matched = true
			}
			p = q
			pc = 0
		default:
			if t == pc {
				matched = true
			}
		}
		prev = pc
		p++
		pc = at(p)
		if pc == ']' {
			break
		}
	}
	return matched != negated, p + 1, true
}

func inClass(name string, c byte) (in, ok bool) {
	switch name {
	case "alnum":
		return isAlpha(c) || isDigit(c), true
	case "alpha":
		return isAlpha(c), true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < 32 || c == 127, true
	case "digit":
		return isDigit(c), true
	case "graph":
		return c > 32 && c < 127, true
	case "lower":
		return c >= 'a' && c <= 'z', true
	case "print":
		return c >= 32 && c < 127, true
	case "punct":
		return c > 32 && c < 127 && !isAlpha(c) && !isDigit(c), true
	case "space":
		return isCSpace(c), true
	case "upper":
		return c >= 'A' && c <= 'Z', true
	case "xdigit":
		return hexVal(c) < 16, true
	}
	return false, false
}

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
