package modules

import (
	"errors"
	"fmt"
	"io/fs"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// SplitGID splits a "gid" value the way rsyncd.conf(5) does: on spaces and
// commas, or only on commas when the value starts with one (so a group name
// may hold spaces); tokens are trimmed and empty ones dropped.
func SplitGID(s string) []string {
	sep := func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }
	if strings.HasPrefix(s, ",") {
		sep = func(r rune) bool { return r == ',' }
	}
	var out []string
	for _, f := range strings.FieldsFunc(s, sep) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkUID accepts a number or the name of an existing user, as rsyncd does
// when it switches user for a transfer.
func checkUID(s string) error {
	if strings.Contains(s, "%") {
		return fmt.Errorf("%q: %%VAR%% references are not supported", s)
	}
	if isNumber(s) {
		return nil
	}
	if _, err := user.Lookup(s); err != nil {
		return fmt.Errorf("unknown user %q: %w", s, err)
	}
	return nil
}

// checkGID accepts numbers and names of existing groups; "*" (all groups of
// the uid) only as the first item, as in rsyncd.
func checkGID(s string) []error {
	if strings.Contains(s, "%") {
		return []error{fmt.Errorf("%q: %%VAR%% references are not supported", s)}
	}
	toks := SplitGID(s)
	if len(toks) == 0 {
		return []error{fmt.Errorf("%q names no group", s)}
	}
	var errs []error
	for i, t := range toks {
		switch {
		case t == "*":
			if i != 0 {
				errs = append(errs, errors.New(`"*" must be the first gid`))
			}
		case isNumber(t):
		default:
			if _, err := user.LookupGroup(t); err != nil {
				errs = append(errs, fmt.Errorf("unknown group %q: %w", t, err))
			}
		}
	}
	return errs
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

func fileUID(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
