package auth

import (
	"errors"
	"fmt"
	"os/user"
	"strings"
)

// Access is what a matching "auth users" rule grants.
type Access int

// Access levels. Default leaves the module's "read only" setting in force;
// ReadOnly and ReadWrite override it (":ro", ":rw"); Deny refuses (":deny").
const (
	Default Access = iota
	ReadOnly
	ReadWrite
	Deny
)

func (a Access) String() string {
	switch a {
	case Default:
		return "default"
	case ReadOnly:
		return "ro"
	case ReadWrite:
		return "rw"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// Rule is one "auth users" entry: a wildcard pattern for the user name, or
// for one of the user's system groups when Group is set ("@staff").
type Rule struct {
	Pattern string
	Group   bool
	Access  Access
}

// SplitUsers splits an rsyncd.conf "auth users" value into entries as rsyncd
// does: on commas and whitespace, or, when the value starts with a comma, on
// commas alone with each entry trimmed (so a group name may hold a space).
func SplitUsers(value string) []string {
	value = strings.TrimLeft(value, " \t\n\v\f\r")
	var out []string
	if rest, ok := strings.CutPrefix(value, ","); ok {
		for e := range strings.SplitSeq(rest, ",") {
			if e = strings.Trim(e, " \t\n\v\f\r"); e != "" {
				out = append(out, e)
			}
		}
		return out
	}
	return strings.FieldsFunc(value, func(r rune) bool {
		return r == ' ' || r == ',' || r == '\t' || r == '\r' || r == '\n'
	})
}

// ParseUsers turns "auth users" entries (one rule each, e.g. "rsync_backup",
// "@staff:ro", "joe*:deny") into rules. An option after the first ':' is read
// as rsyncd reads it (case-insensitive; 'd'... denies, "ro"... and "rw"...
// set the access, anything else is ignored), so the rules always behave as
// under rsyncd. The error, if any, lists entries rsyncd would take silently
// but that are almost surely mistakes: an option that is not exactly deny,
// ro or rw, or an empty name. Blank entries are skipped.
func ParseUsers(list []string) ([]Rule, error) {
	rules := make([]Rule, 0, len(list))
	var errs []error
	for _, entry := range list {
		entry = strings.Trim(entry, " \t\n\v\f\r")
		if entry == "" {
			continue
		}
		name, opt, hasOpt := strings.Cut(entry, ":")
		r := Rule{Pattern: name, Access: parseOption(opt)}
		if p, ok := strings.CutPrefix(name, "@"); ok {
			r.Group, r.Pattern = true, p
		}
		if r.Pattern == "" {
			errs = append(errs, fmt.Errorf("auth users entry %q: empty name", entry))
		}
		if hasOpt {
			switch strings.ToLower(opt) {
			case "deny", "ro", "rw":
			default:
				errs = append(errs, fmt.Errorf("auth users entry %q: option %q is not deny, ro or rw (rsyncd reads it as %v)",
					entry, opt, r.Access))
			}
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

// parseOption reads a rule's option the way rsyncd does: only the first one
// or two characters count.
func parseOption(opt string) Access {
	at := func(i int) byte {
		if i < len(opt) {
			return asciiLower(opt[i])
		}
		return 0
	}
	switch at(0) {
	case 'd':
		return Deny
	case 'r':
		switch at(1) {
		case 'o':
			return ReadOnly
		case 'w':
			return ReadWrite
		}
	}
	return Default
}

// Authorize applies rules to user, whose system groups are groups (primary
// group first), and stops at the first match as rsyncd does. It returns the
// matching rule's access, the group that matched (empty for a user rule),
// and false when no rule matches.
func Authorize(rules []Rule, user string, groups []string) (Access, string, bool) {
	return authorize(rules, user, func() []string { return groups })
}

// authorize is Authorize with the groups looked up only if a group rule is
// reached, as rsyncd does.
func authorize(rules []Rule, user string, lookup func() []string) (Access, string, bool) {
	var groups []string
	looked := false
	for _, r := range rules {
		if !r.Group {
			if wildmatch(r.Pattern, user) {
				return r.Access, "", true
			}
			continue
		}
		if !looked {
			groups, looked = lookup(), true
		}
		for _, g := range groups {
			if wildmatch(r.Pattern, g) {
				return r.Access, g, true
			}
		}
	}
	return Default, "", false
}

// SystemGroups returns the names of the groups of the system user called
// name, primary group first, the way rsyncd finds them for "@group" rules.
// A name that is not a system user, or whose groups cannot be read, has no
// groups; gids without a name are left out.
func SystemGroups(name string) []string {
	u, err := user.Lookup(name)
	if err != nil {
		return nil
	}
	gids, err := u.GroupIds()
	if err != nil {
		return nil
	}
	ordered := []string{u.Gid}
	for _, g := range gids {
		if g != u.Gid {
			ordered = append(ordered, g)
		}
	}
	var names []string
	for _, gid := range ordered {
		if g, err := user.LookupGroupId(gid); err == nil {
			names = append(names, g.Name)
		}
	}
	return names
}
