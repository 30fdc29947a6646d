// Package modules holds one rsync daemon module and its policy as plain Go
// values (rsyncd.conf(5) semantics): validation, host access rules, defaults.
package modules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
)

// Module is one rsyncd module. Field comments name the rsyncd.conf parameter;
// the YAML key is that name with spaces turned into underscores. List values
// are kept as configured (one element may hold several space/comma separated
// items, as in rsyncd.conf); the package that uses a value splits it.
type Module struct {
	Name    string // the [name] of the section; case-sensitive for clients
	Path    string // "path": absolute directory served by the module
	Comment string // "comment": shown in the module listing

	ReadOnly  bool // "read only" (rsyncd default: true)
	WriteOnly bool // "write only": refuse downloads; read only && write only is legal (no transfers at all)
	List      bool // "list" (rsyncd default: true): listed, and denied hosts see "Unknown module" when false

	AuthUsers   []string // "auth users": rules as configured; the auth package parses them
	SecretsFile string   // "secrets file": user:password lines
	StrictModes bool     // "strict modes" (rsyncd default: true): secrets file must not be other-accessible
	AuthDigest  string   // "auth digest": weakest accepted digest (sha512, sha256, sha1, md5, md4), "" for none

	HostsAllow    []string // "hosts allow", as configured; see ParseHosts
	HostsDeny     []string // "hosts deny", as configured
	ForwardLookup bool     // "forward lookup" (rsyncd default: true): resolve host names of the lists
	ReverseLookup bool     // "reverse lookup" (rsyncd default: true): the server looks up the client's name

	MaxConnections int           // "max connections": 0 = no limit, negative = module disabled (rsyncd.conf(5))
	Timeout        time.Duration // "timeout": I/O timeout, 0 = none

	RefuseOptions []string // "refuse options", as configured
	DontCompress  []string // "dont compress": wildcard patterns; nil = the engine's default list

	Filter      []string // "filter": daemon filter rules, as configured
	Include     []string // "include", as configured
	Exclude     []string // "exclude", as configured
	IncludeFrom string   // "include from": absolute path of a daemon-side pattern file
	ExcludeFrom string   // "exclude from": absolute path of a daemon-side pattern file

	IncomingChmod string // "incoming chmod": --chmod syntax
	OutgoingChmod string // "outgoing chmod": --chmod syntax

	// UID is "uid": a user name or number. A daemon running as root does
	// not switch users (one process serves every module); each transfer of
	// the module acts as that user on a thread of its own (setfsuid), so
	// what it creates is owned by the user and the kernel checks the
	// user's permissions, as stock rsyncd after setuid. A daemon not
	// running as root accepts only its own identity.
	UID string
	// GID is "gid": group names/numbers, space or comma separated (only
	// comma when it starts with one); "*" first = all of uid's groups. The
	// first is the group of what the transfers create; all are the
	// transfer's groups. Unset with uid set under root: nobody's group.
	GID               string
	NumericIDs        bool   // "numeric ids"
	FakeSuper         bool   // "fake super": ownership, devices and special modes are kept in the user.rsync.%stat xattr, as rsync's --fake-super
	TempDir           string // "temp dir": directory inside the module for received temp files, "/" = the module's top, as rsyncd resolves it ("" = beside the target)
	OpenNoatime       *bool  // "open noatime": the sender opens files with O_NOATIME; nil = the client's --open-noatime decides
	MungeSymlinks     bool   // "munge symlinks" (default false: rsyncd-go confines like a chrooted module)
	IgnoreErrors      bool   // "ignore errors"
	IgnoreNonreadable bool   // "ignore nonreadable"
	MaxVerbosity      int    // "max verbosity" (rsyncd default: 1)

	// Commands run through /bin/sh -c with the RSYNC_* environment of
	// rsyncd.conf(5); "" for none.
	EarlyExec    string // "early exec": before the arguments; failing refuses the session
	PreXferExec  string // "pre-xfer exec": before the transfer; failing refuses it, its stdout goes to the client
	PostXferExec string // "post-xfer exec": after the session, with RSYNC_EXIT_STATUS

	// TransferLogging is "transfer logging": one log record per file
	// transferred or deleted, formatted by TransferLogFormat. The YAML key
	// of that is transfer_log_format, not log_format, because the
	// instance's log_format already chooses text or json for the daemon log.
	TransferLogging   bool
	TransferLogFormat string // "log format": rsyncd.conf(5) %-escapes; "" = "%o %h [%a] %m (%u) %f %l"
}

// New returns a module with rsyncd's defaults for every parameter.
func New(name, path string) Module {
	return Module{
		Name:          name,
		Path:          path,
		ReadOnly:      true,
		List:          true,
		StrictModes:   true,
		ForwardLookup: true,
		ReverseLookup: true,
		MaxVerbosity:  1,
	}
}

// FieldError is one problem of one module parameter. Field is the YAML key
// (rsyncd.conf name with underscores), so a loader can point at its line.
type FieldError struct {
	Module string
	Field  string
	Err    error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("module %q: %s: %v", e.Module, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// ErrNoSecretsFile is the problem of a module with auth users but no secrets file.
var ErrNoSecretsFile = errors.New("auth users are set but secrets_file is not: no login could succeed")

// percentVar is an rsyncd.conf %VAR% reference, as loadparm.c expands them.
var percentVar = regexp.MustCompile(`%[A-Z][^%]*%`)

// AuthDigests are the values "auth digest" accepts, strongest first.
var AuthDigests = []string{"sha512", "sha256", "sha1", "md5", "md4"}

// Validate reports every problem of the module at once, as a
// *multierror.Error of *FieldError, or nil. It looks at the file system
// (path, secrets file, include/exclude files) and the user database (uid, gid).
func (m *Module) Validate() error {
	var errs *multierror.Error
	add := func(field string, err error) {
		errs = multierror.Append(errs, &FieldError{Module: m.Name, Field: field, Err: err})
	}

	if err := CheckName(m.Name); err != nil {
		add("name", err)
	}
	if err := m.checkPath(); err != nil { // %RSYNC_*% aware: pathvars.go
		add("path", err)
	}
	if i := strings.IndexFunc(m.Comment, isControl); i >= 0 {
		// The listing is "name\tcomment\n" lines: a newline would forge entries.
		add("comment", fmt.Errorf("contains control character %q", m.Comment[i]))
	}

	if len(m.AuthUsers) > 0 {
		if m.SecretsFile == "" {
			add("auth_users", ErrNoSecretsFile)
		} else if err := checkSecrets(m.SecretsFile, m.StrictModes); err != nil {
			add("secrets_file", err)
		}
	}
	if m.AuthDigest != "" && !slices.Contains(AuthDigests, m.AuthDigest) {
		add("auth_digest", fmt.Errorf("unknown digest %q (want one of %s)", m.AuthDigest, strings.Join(AuthDigests, ", ")))
	}

	for _, h := range []struct {
		field   string
		entries []string
	}{{"hosts_allow", m.HostsAllow}, {"hosts_deny", m.HostsDeny}} {
		if _, err := ParseHosts(h.entries); err != nil {
			for _, e := range flatten(err) {
				add(h.field, e)
			}
		}
	}

	if m.Timeout < 0 {
		add("timeout", fmt.Errorf("must not be negative (got %v)", m.Timeout))
	}
	for _, h := range []struct{ field, cmd string }{
		{"early_exec", m.EarlyExec}, {"pre_xfer_exec", m.PreXferExec}, {"post_xfer_exec", m.PostXferExec},
	} {
		if v := percentVar.FindString(h.cmd); v != "" {
			// rsyncd would substitute it; running the text as written could
			// turn an access check into a different one.
			add(h.field, fmt.Errorf("%s: %%VAR%% expansion is not supported; write \"$%s\" instead (the RSYNC_* values are in the command's environment)", v, strings.Trim(v, "%")))
		}
	}
	if len(m.TransferLogFormat) > 4096 {
		add("transfer_log_format", fmt.Errorf("longer than 4096 bytes (rsyncd's limit)"))
	}
	if m.MaxVerbosity < 0 {
		add("max_verbosity", fmt.Errorf("must not be negative (got %d)", m.MaxVerbosity))
	}

	for _, c := range []struct{ field, value string }{
		{"incoming_chmod", m.IncomingChmod}, {"outgoing_chmod", m.OutgoingChmod},
	} {
		if c.value != "" {
			if err := checkChmod(c.value); err != nil {
				add(c.field, err)
			}
		}
	}
	for _, f := range []struct{ field, value string }{
		{"include_from", m.IncludeFrom}, {"exclude_from", m.ExcludeFrom},
	} {
		if f.value != "" {
			if _, err := checkRegular(f.value); err != nil {
				add(f.field, err)
			}
		}
	}
	if i := strings.IndexFunc(m.TempDir, isControl); i >= 0 {
		// Resolved inside the module when a push starts (it may be made
		// later, as with rsyncd); only its form is checked here.
		add("temp_dir", fmt.Errorf("contains control character %q", m.TempDir[i]))
	}
	if m.UID != "" {
		if err := checkUID(m.UID); err != nil {
			add("uid", err)
		}
	}
	if m.GID != "" {
		for _, err := range checkGID(m.GID) {
			add("gid", err)
		}
	}
	for _, l := range []struct {
		field  string
		values []string
	}{
		{"auth_users", m.AuthUsers}, {"refuse_options", m.RefuseOptions}, {"dont_compress", m.DontCompress},
		{"filter", m.Filter}, {"include", m.Include}, {"exclude", m.Exclude},
	} {
		for _, v := range l.values {
			if i := strings.IndexFunc(v, isControlNotSpace); i >= 0 {
				add(l.field, fmt.Errorf("entry %q contains control character %q", v, v[i]))
			}
		}
	}
	return errs.ErrorOrNil()
}

// TempDirIn is a "temp dir" value as a path relative to the module's top:
// rsyncd takes it inside the module, a leading "/" and ".." that would
// climb out dropped (sanitize_path).
func TempDirIn(dir string) string {
	c := path.Clean("/" + dir)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// CheckName reports why rsync could not serve a module of this name: what
// rsyncd.conf cannot express ("/" or "]", whitespace it would trim or fold,
// the reserved "global" section) and what a client cannot request (a leading
// "#" is a daemon command, an empty name asks for the listing).
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("module name is empty")
	case strings.ContainsAny(name, "/]"):
		return fmt.Errorf("module name %q contains '/' or ']'", name)
	case strings.IndexFunc(name, isControl) >= 0:
		return fmt.Errorf("module name %q contains a control character", name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("module name %q has leading or trailing spaces (rsyncd.conf drops them)", name)
	case strings.Contains(name, "  "):
		return fmt.Errorf("module name %q has a run of spaces (rsyncd.conf folds it to one)", name)
	case name[0] == '#':
		return fmt.Errorf("module name %q starts with '#' (clients send '#' lines as daemon commands)", name)
	case strings.EqualFold(name, "global"):
		return fmt.Errorf("module name %q is reserved for rsyncd.conf's global section", name)
	}
	return nil
}

func checkDir(p string) error {
	if p == "" {
		return errors.New("is required")
	}
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("%q: %w", p, unwrapPathError(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("%q is not a directory", p)
	}
	return nil
}

func checkRegular(p string) (fs.FileInfo, error) {
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("%q is not an absolute path", p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", p, unwrapPathError(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file", p)
	}
	return fi, nil
}

// checkSecrets applies rsyncd's strict modes rule early, so an operator
// learns at load time what would otherwise fail every login.
func checkSecrets(p string, strict bool) error {
	fi, err := checkRegular(p)
	if err != nil || !strict {
		return err
	}
	if fi.Mode().Perm()&0o006 != 0 {
		return fmt.Errorf("%q is readable or writable by others (mode %04o); chmod o-rw it or set strict_modes: false", p, fi.Mode().Perm())
	}
	if os.Geteuid() == 0 && fileUID(fi) != 0 {
		return fmt.Errorf("%q must be owned by root when running as root (strict modes)", p)
	}
	return nil
}

// unwrapPathError drops the *fs.PathError wrapper whose path we already print.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func isControlNotSpace(r rune) bool { return isControl(r) && r != '\t' && r != '\n' }

// flatten returns the errors inside a multierror, or err itself.
func flatten(err error) []error {
	var me *multierror.Error
	if errors.As(err, &me) {
		return me.Errors
	}
	return []error{err}
}
