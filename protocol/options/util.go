package options

import (
	"strings"
	"time"
)

// cleanFname is rsync's clean_fname(name, CFN_COLLAPSE_DOT_DOT_DIRS):
// it drops duplicate slashes, "./" components and a trailing slash, and
// folds "dir/.." pairs; leading ".." stay. An empty result becomes ".".
func cleanFname(name string) string {
	b := []byte(name)
	at := func(i int) byte {
		if i < len(b) {
			return b[i]
		}
		return 0
	}
	t, f, limit := 0, 0, 0
	anchored := 0
	if at(0) == '/' {
		anchored = 1
		t, f = 1, 1
	}
	for f < len(b) {
		if b[f] == '/' {
			f++
			continue
		}
		if b[f] == '.' {
			if at(f+1) == '/' {
				f += 2
				continue
			}
			if at(f+1) == '.' && (at(f+2) == '/' || at(f+2) == 0) {
				s := t - 1
				if s == 0 && anchored == 1 {
					f += 2
					continue
				}
				for s > limit && b[s-1] != '/' {
					s--
				}
				if s != t-1 && (s <= 0 || b[s-1] == '/') {
					t = max(s, 0)
					f += 2
					continue
				}
				limit = t + 2
			}
		}
		for f < len(b) {
			c := b[f]
			b[t] = c
			t++
			f++
			if c == '/' {
				break
			}
		}
	}
	if t > anchored && b[t-1] == '/' {
		t--
	}
	if t == 0 {
		return "."
	}
	return string(b[:t])
}

// validChmod reports whether s is a --chmod value rsync's parse_chmod
// accepts: comma-separated [DF][ugoa]*[-+=][rwxXst]* or [ugo] terms, or
// octal modes.
func validChmod(s string) bool {
	const (
		errState = iota
		first
		second
		octal
	)
	state := first
	var where, what, op, topbits, topoct, copybits int
	var dirsOnly, filesOnly bool
	i := 0
	at := func(i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	for state != errState {
		if c := at(i); c == 0 || c == ',' {
			if op == 0 {
				return false
			}
			if c == 0 {
				break
			}
			i++
			state = first
			where, what, op, topoct, topbits, copybits = 0, 0, 0, 0, 0, 0
			dirsOnly, filesOnly = false, false
		}
		c := at(i)
		switch state {
		case first:
			switch c {
			case 'D':
				if filesOnly {
					state = errState
				}
				dirsOnly = true
			case 'F':
				if dirsOnly {
					state = errState
				}
				filesOnly = true
			case 'u':
				where |= 0o100
				topbits |= 0o4000
			case 'g':
				where |= 0o010
				topbits |= 0o2000
			case 'o':
				where |= 0o001
			case 'a':
				where |= 0o111
				topbits |= 0o6000
			case '+', '-', '=':
				op = 1
				state = second
			default:
				if c >= '0' && c < '8' && where == 0 {
					op = 4
					state = octal
					where = 1
					what = int(c - '0')
				} else {
					state = errState
				}
			}
		case second:
			switch c {
			case 'r', 'w', 'X', 'x', 's', 't':
				if copybits != 0 {
					state = errState
				}
				what |= 1
				if c == 's' || c == 't' {
					topoct |= 1
				}
			case 'u', 'g', 'o':
				if what != 0 || topoct != 0 || copybits != 0 {
					state = errState
				}
				copybits = 1
			default:
				state = errState
			}
		case octal:
			if c >= '0' && c < '8' {
				what = what*8 + int(c-'0')
				if what > 0o7777 {
					state = errState
				}
			} else {
				state = errState
			}
		}
		i++
	}
	_ = where
	_ = topbits
	return state != errState
}

// hostspecPath is rsync's check_for_hostspec with a port pointer: it
// reports whether s names a remote file ("host:path", "host::path",
// "rsync://host[:port]/path", "[v6]:path", even ":path") and its path.
func hostspecPath(s string) (string, bool) {
	if len(s) >= 8 && strings.EqualFold(s[:8], "rsync://") {
		if p, ok := parseHostspec(s[8:], true); ok {
			return p, true
		}
	}
	p, ok := parseHostspec(s, false)
	if !ok {
		return "", false
	}
	return strings.TrimPrefix(p, ":"), true
}

func parseHostspec(str string, url bool) (string, bool) {
	hostStart := 0
	i := 0
	for ; ; i++ {
		if i == len(str) {
			if !url {
				return "", false
			}
			break
		}
		c := str[i]
		if c == ':' || c == '/' {
			i++
			if c == '/' {
				if !url {
					return "", false
				}
			} else if url {
				for i < len(str) && isDigit(str[i]) {
					i++
				}
				if i < len(str) {
					if str[i] != '/' {
						return "", false
					}
					i++
				}
			}
			break
		}
		switch c {
		case '@':
			hostStart = i + 1
		case '[':
			if i != hostStart {
				return "", false
			}
			hostStart++
			for i < len(str) && str[i] != ']' && str[i] != '/' {
				i++
			}
			if i == len(str) || str[i] != ']' || i == hostStart ||
				(i+1 < len(str) && str[i+1] != '/' && str[i+1] != ':') {
				return "", false
			}
		}
	}
	return str[i:], true
}

// parseTime is rsync's parse_time for --stop-at: "[[[yy]yy-]mm-]dd[Thh:mm]"
// or "[T|:]hh:mm" ('/' may replace '-'), with the omitted parts chosen to
// make the earliest matching time after now, in local time.
func parseTime(arg string, now time.Time) (time.Time, bool) {
	year, mon, mday, hour, min := -1, -1, -1, -1, -1
	at := func(i int) byte {
		if i < len(arg) {
			return arg[i]
		}
		return 0
	}
	cp := 0
	inDate := 1
	switch at(0) {
	case 'T', 't':
		inDate = -1
		cp++
	case ':':
		inDate = 0
		cp++
	}
	for ; ; cp++ {
		if !isDigit(at(cp)) {
			return time.Time{}, false
		}
		n := 0
		for isDigit(at(cp)) {
			n = n*10 + int(arg[cp]-'0')
			if n > 1<<30 {
				return time.Time{}, false
			}
			cp++
		}
		if at(cp) == ':' {
			inDate = 0
		}
		if inDate > 0 {
			if year != -1 {
				return time.Time{}, false
			}
			year, mon, mday = mon, mday, n
			if at(cp) == 0 {
				break
			}
			if at(cp) == 'T' || at(cp) == 't' {
				if at(cp+1) == 0 {
					break
				}
				inDate = -1
			} else if at(cp) != '-' && at(cp) != '/' {
				return time.Time{}, false
			}
			continue
		}
		if hour != -1 {
			return time.Time{}, false
		}
		hour, min = min, n
		if at(cp) == 0 {
			if inDate < 0 {
				return time.Time{}, false
			}
			break
		}
		if at(cp) != ':' {
			return time.Time{}, false
		}
		inDate = 0
	}

	loc := now.Location()
	today := now
	inDate = 0
	switch {
	case year < 0:
		year = today.Year() - 1900
		inDate = 1
	case year < 100:
		for year < today.Year()-1900 {
			year += 100
		}
	default:
		year -= 1900
	}
	if mon < 0 {
		mon = int(today.Month()) - 1
		inDate = 2
	} else {
		mon--
	}
	if mday < 0 {
		mday = today.Day()
		inDate = 3
	}
	step := int64(0)
	if min < 0 {
		hour, min = 0, 0
	} else if hour < 0 {
		if inDate != 3 {
			return time.Time{}, false
		}
		inDate = 0
		hour = today.Hour()
		step = 60 * 60
	}
	oldMday := mday
	if hour > 23 || min > 59 || mon < 0 || mon >= 12 || mday < 1 || mday > 31 {
		return time.Time{}, false
	}
	// mktime: normalize the fields in place and return the time.
	mktime := func() int64 {
		t := time.Date(year+1900, time.Month(mon+1), mday, hour, min, 0, 0, loc)
		year, mon, mday = t.Year()-1900, int(t.Month())-1, t.Day()
		hour, min = t.Hour(), t.Minute()
		return t.Unix()
	}
	nowU := now.Unix()
	val := mktime()
	for guard := 0; inDate != 0 && (val <= nowU || mday < oldMday); guard++ {
		if guard > 100 {
			return time.Time{}, false
		}
		switch inDate {
		case 3:
			mday++
			oldMday = mday
		case 2:
			if mday < oldMday {
				mday = oldMday
			} else if mon++; mon == 12 {
				mon = 0
				year++
			}
		case 1:
			if mday < oldMday {
				if mon != 2 || oldMday != 29 {
					return time.Time{}, false
				}
				mon, mday = 1, 29
			}
			year++
		}
		val = mktime()
	}
	if step != 0 {
		for val <= nowU {
			val += step
		}
	}
	return time.Unix(val, 0).In(loc), true
}
