package modules

import (
	"errors"
	"fmt"
	"strings"
)

// checkChmod checks a value of "incoming chmod"/"outgoing chmod" against the
// grammar rsync's --chmod accepts: comma-separated clauses, each an optional
// D (directories only) or F (files only), then either an octal mode of at
// most 07777 or [ugoa]* with exactly one of + - = and either permission
// letters from rwxXst or a single u, g or o to copy.
func checkChmod(s string) error {
	for _, clause := range strings.Split(s, ",") {
		if err := checkChmodClause(clause); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
	}
	return nil
}

func checkChmodClause(c string) error {
	if c == "" {
		return errors.New("empty clause")
	}
	dirs, files, who := false, false, false
	i := 0
	for ; i < len(c); i++ {
		switch ch := c[i]; ch {
		case 'D':
			dirs = true
		case 'F':
			files = true
		case 'u', 'g', 'o', 'a':
			who = true
		case '+', '-', '=':
			if dirs && files {
				return fmt.Errorf("clause %q has both D and F", c)
			}
			return checkChmodPerms(c, c[i+1:])
		default:
			if ch >= '0' && ch <= '7' && !who {
				if dirs && files {
					return fmt.Errorf("clause %q has both D and F", c)
				}
				return checkOctal(c, c[i:])
			}
			return fmt.Errorf("clause %q: unexpected %q", c, ch)
		}
	}
	return fmt.Errorf("clause %q has no +, - or =", c)
}

func checkOctal(clause, digits string) error {
	v := 0
	for i := 0; i < len(digits); i++ {
		d := digits[i]
		if d < '0' || d > '7' {
			return fmt.Errorf("clause %q: %q is not an octal digit", clause, d)
		}
		if v = v*8 + int(d-'0'); v > 0o7777 {
			return fmt.Errorf("clause %q: mode above 07777", clause)
		}
	}
	return nil
}

func checkChmodPerms(clause, perms string) error {
	if len(perms) == 1 && strings.ContainsRune("ugo", rune(perms[0])) {
		return nil // copy another class's bits, e.g. "g=u"
	}
	for i := 0; i < len(perms); i++ {
		if !strings.ContainsRune("rwxXst", rune(perms[i])) {
			return fmt.Errorf("clause %q: unexpected %q (want r, w, x, X, s, t or one of u, g, o)", clause, perms[i])
		}
	}
	return nil
}
