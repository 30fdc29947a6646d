// Package rsyncdconf parses rsyncd.conf(5) files the way stock rsync 3.5.0 reads them,
// but reports unknown parameters and malformed lines as errors instead of ignoring them.
package rsyncdconf

import (
	"fmt"
	"strconv"
	"strings"
)

type kind uint8

const (
	kString kind = iota
	kPath
	kInt
	kEnum
	kBool
	kBool3
)

type paramDef struct {
	name   string // canonical spelling, as rsync's parm_table labels it
	global bool   // global-only: rejected inside a module section
	kind   kind
}

// defs mirrors daemon-parm.txt of rsync 3.5.0 ("var|public" names use the
// public one; underscores become spaces, as daemon-parm.awk does).
var defs = []paramDef{
	{"address", true, kString},
	{"daemon chroot", true, kString},
	{"daemon gid", true, kString},
	{"daemon uid", true, kString},
	{"motd file", true, kString},
	{"pid file", true, kString},
	{"proxy protocol hosts", true, kString},
	{"socket options", true, kString},
	{"listen backlog", true, kInt},
	{"port", true, kInt},
	{"proxy protocol", true, kBool},

	{"auth digest", false, kString},
	{"auth users", false, kString},
	{"charset", false, kString},
	{"comment", false, kString},
	{"dont compress", false, kString},
	{"early exec", false, kString},
	{"exclude", false, kString},
	{"exclude from", false, kString},
	{"filter", false, kString},
	{"gid", false, kString},
	{"hosts allow", false, kString},
	{"hosts deny", false, kString},
	{"include", false, kString},
	{"include from", false, kString},
	{"incoming chmod", false, kString},
	{"lock file", false, kString},
	{"log file", false, kString},
	{"log format", false, kString},
	{"name", false, kString},
	{"name converter", false, kString},
	{"outgoing chmod", false, kString},
	{"post-xfer exec", false, kString},
	{"pre-xfer exec", false, kString},
	{"refuse options", false, kString},
	{"secrets file", false, kString},
	{"syslog tag", false, kString},
	{"uid", false, kString},
	{"path", false, kPath},
	{"temp dir", false, kPath},
	{"max connections", false, kInt},
	{"max verbosity", false, kInt},
	{"timeout", false, kInt},
	{"syslog facility", false, kEnum},
	{"fake super", false, kBool},
	{"forward lookup", false, kBool},
	{"ignore errors", false, kBool},
	{"ignore nonreadable", false, kBool},
	{"insecure links", false, kBool},
	{"list", false, kBool},
	{"read only", false, kBool},
	{"reverse lookup", false, kBool},
	{"strict modes", false, kBool},
	{"transfer logging", false, kBool},
	{"write only", false, kBool},
	{"munge symlinks", false, kBool3},
	{"numeric ids", false, kBool3},
	{"open noatime", false, kBool3},
	{"use chroot", false, kBool3},
}

// byKey indexes defs by fold(name).
var byKey = func() map[string]int {
	m := make(map[string]int, len(defs))
	for i, d := range defs {
		m[fold(d.name)] = i
	}
	return m
}()

// lateBound reports whether a module that never set d reads the final global
// value: true for string parameters whose compiled-in default is NULL.
func lateBound(d paramDef) bool {
	if d.kind != kString && d.kind != kPath {
		return false
	}
	switch d.name {
	case "dont compress", "lock file", "log format", "syslog tag":
		return false
	}
	return true
}

// syslogFacilities are the names rsync's enum_syslog_facility accepts on Linux.
var syslogFacilities = []string{"auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr",
	"mail", "news", "security", "syslog", "user", "uucp",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// fold is rsync's strwiEQ key: case-insensitive with all whitespace dropped
// (underscores stay significant, as they do in rsync).
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isCSpace(c) {
			continue
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func lookup(name string) (paramDef, bool) {
	if strings.HasPrefix(name, "-") { // rsync's map_parameter refuses these
		return paramDef{}, false
	}
	i, ok := byKey[fold(name)]
	if !ok {
		return paramDef{}, false
	}
	return defs[i], true
}

// Known reports whether name is an rsync 3.5.0 daemon parameter (matched as
// rsync does: case and whitespace insignificant), its canonical spelling and
// whether it is global-only.
func Known(name string) (canonical string, global bool, ok bool) {
	d, ok := lookup(name)
	return d.name, d.global, ok
}

// ParseBool parses a boolean as rsync spells it: yes/no, true/false, 1/0,
// case-insensitive, whitespace ignored.
func ParseBool(s string) (bool, error) {
	switch fold(s) {
	case "YES", "TRUE", "1":
		return true, nil
	case "NO", "FALSE", "0":
		return false, nil
	}
	return false, fmt.Errorf("badly formed boolean %q (want yes/no, true/false or 1/0)", s)
}

// validate checks a value against its parameter's type, as far as rsync's
// do_parameter would have complained or silently misread it.
func validate(d paramDef, v string) error {
	switch d.kind {
	case kBool:
		_, err := ParseBool(v)
		return err
	case kBool3:
		if f := fold(v); f == "UNSET" || f == "-1" {
			return nil
		}
		_, err := ParseBool(v)
		if err != nil {
			return fmt.Errorf("badly formed boolean %q (want yes/no, true/false, 1/0 or unset)", v)
		}
	case kInt:
		if _, err := strconv.Atoi(strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
	case kEnum:
		for _, f := range syslogFacilities {
			if v == f {
				return nil
			}
		}
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return nil
		}
		return fmt.Errorf("unknown syslog facility %q", v)
	}
	return nil
}

// suggest returns the known parameter closest to name, or "" if none is close.
func suggest(name string) string {
	k := fold(strings.NewReplacer("_", "", "-", "").Replace(name))
	best, bestD := "", 1<<30
	for _, d := range defs {
		dk := fold(strings.ReplaceAll(d.name, "-", ""))
		if dist := levenshtein(k, dk); dist < bestD {
			best, bestD = d.name, dist
		}
	}
	limit := 2
	if len(k) >= 8 {
		limit = 3
	}
	if bestD <= limit && bestD < len(k) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Names lists every rsync 3.5.0 daemon parameter by its canonical name.
func Names() []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.name
	}
	return out
}
