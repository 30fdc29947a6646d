package modules

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ConnVars are the connection-time values rsyncd.conf(5) lets "path"
// refer to, as %RSYNC_USER_NAME% and so on: rsyncd expands a string
// parameter when it first uses it, and "path" is used once the client is
// authenticated.
type ConnVars struct {
	User     string // RSYNC_USER_NAME: the authenticated user, "" without auth_users
	Module   string // RSYNC_MODULE_NAME
	HostAddr string // RSYNC_HOST_ADDR
	HostName string // RSYNC_HOST_NAME: the client's name, UNKNOWN or UNDETERMINED
}

// connVarNames are the %RSYNC_*% names known when the path is resolved.
var connVarNames = []string{"RSYNC_USER_NAME", "RSYNC_MODULE_NAME", "RSYNC_HOST_ADDR", "RSYNC_HOST_NAME"}

func (v ConnVars) lookup(name string) (string, bool) {
	switch name {
	case "RSYNC_USER_NAME":
		return v.User, true
	case "RSYNC_MODULE_NAME":
		return v.Module, true
	case "RSYNC_HOST_ADDR":
		return v.HostAddr, true
	case "RSYNC_HOST_NAME":
		return v.HostName, true
	}
	return "", false
}

// HasConnVars reports whether s holds a %RSYNC_*% reference, which only a
// connection can fill in.
func HasConnVars(s string) bool {
	_, ok := firstConnVar(s)
	return ok
}

// firstConnVar returns the byte offset of the first %RSYNC_...% reference.
func firstConnVar(s string) (int, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			return 0, false
		}
		if strings.HasPrefix(s[i+1:i+1+j], "RSYNC_") {
			return i, true
		}
		i += j // the closing % may open the next reference
	}
	return 0, false
}

// refs calls fn for each %NAME% reference (NAME starting with an
// upper-case letter, as rsync's expand_vars takes them) with its bounds.
func refs(s string, fn func(start, end int, name string)) {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 >= len(s) || s[i+1] < 'A' || s[i+1] > 'Z' {
			continue
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			return
		}
		fn(i, i+2+j, s[i+1:i+1+j])
		i += j + 1
	}
}

// ErrPathVar is the error of a connection whose %RSYNC_*% values would
// make the module path leave its directory (or name none at all).
var ErrPathVar = errors.New("connection-time value not usable in a path")

// ExpandPath returns the module's path with its %RSYNC_*% references
// filled in from v. A value that is empty, "." or "..", or holds a slash
// or NUL is refused (ErrPathVar): it would lead elsewhere than one
// directory per value. Other %VAR% text is kept as it is, as rsync keeps
// references it cannot resolve.
func (m *Module) ExpandPath(v ConnVars) (string, error) {
	if !HasConnVars(m.Path) {
		return m.Path, nil
	}
	var b strings.Builder
	last := 0
	var bad error
	refs(m.Path, func(start, end int, name string) {
		val, ok := v.lookup(name)
		if !ok || bad != nil {
			return
		}
		if val == "" || val == "." || val == ".." || strings.ContainsAny(val, "/\x00") {
			bad = fmt.Errorf("%w: %%%s%% is %q", ErrPathVar, name, val)
			return
		}
		b.WriteString(m.Path[last:start])
		b.WriteString(val)
		last = end
	})
	if bad != nil {
		return "", bad
	}
	b.WriteString(m.Path[last:])
	p := b.String()
	if strings.Contains("/"+p+"/", "/../") {
		return "", fmt.Errorf("%w: %q", ErrPathVar, p)
	}
	return p, nil
}

// checkPath checks "path": an existing absolute directory, or, when it
// holds %RSYNC_*% references, an absolute path whose directory before the
// first reference exists and whose references name values a connection
// has.
func (m *Module) checkPath() error {
	i, ok := firstConnVar(m.Path)
	if !ok {
		return checkDir(m.Path)
	}
	if !filepath.IsAbs(m.Path) {
		return fmt.Errorf("%q is not an absolute path", m.Path)
	}
	var errs []string
	usesUser := false
	refs(m.Path, func(_, _ int, name string) {
		if !strings.HasPrefix(name, "RSYNC_") {
			return
		}
		if _, known := (ConnVars{}).lookup(name); !known {
			errs = append(errs, fmt.Sprintf("%%%s%% is not known when the path is resolved (want one of %%%s%%)", name, strings.Join(connVarNames, "%, %")))
		}
		usesUser = usesUser || name == "RSYNC_USER_NAME"
	})
	if usesUser && len(m.AuthUsers) == 0 {
		errs = append(errs, "%RSYNC_USER_NAME% needs auth_users: without a login the user name is empty")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	// The fixed part must exist; the rest depends on the client.
	if err := checkDir(filepath.Dir(m.Path[:i+1])); err != nil {
		return fmt.Errorf("directory before the first %%RSYNC_...%%: %w", err)
	}
	return nil
}
