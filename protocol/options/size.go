package options

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeMax is rsync's SIZE_MAX/2 bound for sizes without an explicit max.
const sizeMax = math.MaxInt64

// parseSize mirrors rsync's parse_size_arg: digits with an optional
// fraction, an optional unit letter (b, k, m, g, t, p; defSuf when absent)
// optionally followed by "b" (powers of 1000) or "ib" (powers of 1024, the
// default), and an optional "+1" or "-1" adjustment. The error text is
// rsync's.
func parseSize(arg string, defSuf byte, opt string, minV, maxV int64, unlimited0 bool) (int64, error) {
	fail := func(what, minMax string, limit int64) (int64, error) {
		// rsync formats into its 200-byte err_buf: the limit is only added
		// while the text is short, and the whole is cut at 198 bytes.
		msg := fmt.Sprintf("--%s=%s is %s", opt, arg, what)
		if minMax != "" && limit >= 0 && len(msg) < errBufLen-10 {
			extra := ""
			if unlimited0 && minMax == "min" {
				extra = " or 0 for unlimited"
			}
			msg += fmt.Sprintf(" (%s: %s%s)", minMax, bigNum(limit), extra)
		}
		if len(msg) > errBufLen-2 {
			msg = msg[:errBufLen-2]
		}
		return -1, &OptionError{Msg: msg, Code: ExitUnsupported}
	}
	sizeLimit := int64(sizeMax)
	if maxV >= 0 {
		sizeLimit = maxV
	}
	i := 0
	for i < len(arg) && isDigit(arg[i]) {
		i++
	}
	if i < len(arg) && arg[i] == '.' {
		for i++; i < len(arg) && isDigit(arg[i]); i++ {
		}
	}
	suf := defSuf
	if i < len(arg) && arg[i] != '+' && arg[i] != '-' {
		suf = arg[i]
		i++
	}
	var reps int
	switch suf {
	case 'b', 'B':
		reps = 0
	case 'k', 'K':
		reps = 1
	case 'm', 'M':
		reps = 2
	case 'g', 'G':
		reps = 3
	case 't', 'T':
		reps = 4
	case 'p', 'P':
		reps = 5
	default:
		return fail("invalid", "", -1)
	}
	var mult int64
	switch {
	case i < len(arg) && (arg[i] == 'b' || arg[i] == 'B'):
		mult = 1000
		i++
	case i == len(arg) || arg[i] == '+' || arg[i] == '-':
		mult = 1024
	case len(arg)-i >= 2 && strings.EqualFold(arg[i:i+2], "ib"):
		mult = 1024
		i += 2
	default:
		return fail("invalid", "", -1)
	}
	size := int64(1)
	for ; reps > 0; reps-- {
		if size > sizeLimit/mult {
			return fail("too large", "max", maxV)
		}
		size *= mult
	}
	d, rangeErr := strtod(arg)
	if rangeErr || d < 0 || d > float64(sizeLimit)/float64(size) ||
		(maxV < 0 && d >= float64(sizeLimit)/float64(size)) {
		return fail("too large", "max", maxV)
	}
	prod := d * float64(size)
	if prod >= 9223372036854775807 {
		return fail("too large", "max", maxV)
	}
	size = int64(prod)
	if i < len(arg) && (arg[i] == '+' || arg[i] == '-') && i+1 < len(arg) && arg[i+1] == '1' && i != 0 {
		if arg[i] == '+' {
			if size == sizeLimit {
				return fail("too large", "max", maxV)
			}
			size++
		} else {
			size--
		}
		i += 2
	}
	if i != len(arg) {
		return fail("invalid", "", -1)
	}
	if size < 0 || (maxV >= 0 && size > maxV) {
		return fail("too large", "max", maxV)
	}
	if size < minV && (!unlimited0 || size != 0) {
		return fail("too small", "min", minV)
	}
	return size, nil
}

// strtod parses the longest prefix of s that C's strtod would, given that
// parseSize has already limited s to [sign]digits[.digits] plus a suffix.
// It reports ERANGE as rangeErr.
func strtod(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
			digits++
		}
		i = j
	}
	if digits == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s[:i], "."), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, false
}

// bigNum formats a limit the way rsync's do_big_num(n, 3, NULL) does:
// "128.00K" from 1024 upwards, else the digits with "," every three.
func bigNum(n int64) string {
	const mult = 1024
	if n >= mult || n <= -mult {
		d := float64(n) / mult
		if n < 0 {
			d = -d
		}
		unit := byte('K')
		switch {
		case d < mult:
		case d/mult < mult:
			d, unit = d/mult, 'M'
		case d/mult/mult < mult:
			d, unit = d/mult/mult, 'G'
		case d/mult/mult/mult < mult:
			d, unit = d/mult/mult/mult, 'T'
		default:
			d, unit = d/mult/mult/mult/mult, 'P'
		}
		if n < 0 {
			d = -d
		}
		return fmt.Sprintf("%.2f%c", d, unit)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
