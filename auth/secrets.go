package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxSecretsSize bounds a secrets file; a larger one is refused rather than
// read into memory.
const MaxSecretsSize = 1 << 20

// secretsLineMax is the most rsyncd reads as one line (fgets into a
// 1024-byte buffer): a longer line is read as several.
const secretsLineMax = 1023

// The reasons rsyncd gives, in its "auth failed" line, for a secrets file it
// could not use.
const (
	ReasonNoSecretsFile       = "no secrets file"
	ReasonIgnoringSecretsFile = "ignoring secrets file"
)

// The strict-modes refusals, worded as rsyncd logs them.
var (
	ErrOtherAccessible = errors.New("secrets file must not be other-accessible (see strict modes option)")
	ErrNotOwnedByRoot  = errors.New("secrets file must be owned by root when running as root (see strict modes)")
)

// SecretsError is why a secrets file cannot be used. Reason is
// ReasonNoSecretsFile (missing, unreadable, or reached through a symlink
// owned by someone other than root or this process) or
// ReasonIgnoringSecretsFile (refused by strict modes, too large, or not a
// regular file); Err is the detail rsyncd logs on a line of its own.
type SecretsError struct {
	Path   string
	Reason string
	Err    error
}

func (e *SecretsError) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.Reason, e.Path, e.Err)
}

func (e *SecretsError) Unwrap() error { return e.Err }

// Secrets is a parsed secrets file: "user:password" and "@group:password"
// lines in file order.
type Secrets struct {
	lines []secretLine
}

type secretLine struct {
	group bool
	text  string // the line without its '@': "name:password"
}

// geteuid is swapped by tests to exercise the running-as-root rule.
var geteuid = os.Geteuid

// LoadSecrets reads a secrets file as rsyncd does. Symlinks on the way are
// followed only if owned by root or by this process's effective user. With
// strictModes the file must have no "other" read or write permission and,
// when running as root, must be owned by root. Errors are *SecretsError.
func LoadSecrets(path string, strictModes bool) (*Secrets, error) {
	fail := func(reason string, err error) (*Secrets, error) {
		return nil, &SecretsError{Path: path, Reason: reason, Err: err}
	}
	if path == "" {
		return fail(ReasonNoSecretsFile, errors.New("no path configured"))
	}
	f, err := openNoAttackerSymlinks(path)
	if err != nil {
		return fail(ReasonNoSecretsFile, err)
	}
	defer f.Close()
	st, err := statFile(f)
	if err != nil {
		return fail(ReasonIgnoringSecretsFile, fmt.Errorf("fstat(%s): %w", path, err))
	}
	if strictModes {
		if st.mode&0o006 != 0 {
			return fail(ReasonIgnoringSecretsFile, ErrOtherAccessible)
		}
		if geteuid() == 0 && st.uid != 0 {
			return fail(ReasonIgnoringSecretsFile, ErrNotOwnedByRoot)
		}
	}
	if !st.regular {
		return fail(ReasonIgnoringSecretsFile, errors.New("not a regular file"))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSecretsSize+1))
	if err != nil {
		return fail(ReasonIgnoringSecretsFile, fmt.Errorf("read: %w", err))
	}
	if len(data) > MaxSecretsSize {
		return fail(ReasonIgnoringSecretsFile, fmt.Errorf("larger than %d bytes", MaxSecretsSize))
	}
	return ParseSecrets(data)
}

// ParseSecrets parses secrets-file content the way rsyncd reads it: lines of
// at most 1023 bytes (a longer one reads as several), each cut at its first
// NUL, CR or LF; blank lines and '#' comments are skipped. Content larger
// than MaxSecretsSize is refused.
func ParseSecrets(data []byte) (*Secrets, error) {
	if len(data) > MaxSecretsSize {
		return nil, fmt.Errorf("secrets: %d bytes is more than %d", len(data), MaxSecretsSize)
	}
	s := &Secrets{}
	for len(data) > 0 {
		n := min(len(data), secretsLineMax)
		if i := bytes.IndexByte(data[:n], '\n'); i >= 0 {
			n = i + 1
		}
		line := data[:n]
		data = data[n:]
		if i := bytes.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		// rsyncd takes the first run of bytes that are not CR or LF.
		line = bytes.TrimLeft(line, "\r\n")
		if i := bytes.IndexAny(line, "\r\n"); i >= 0 {
			line = line[:i]
		}
		// '#' lines could only match a user name starting with '#', which
		// rsyncd refuses, so they are comments.
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if line[0] == '@' {
			s.lines = append(s.lines, secretLine{group: true, text: string(line[1:])})
		} else {
			s.lines = append(s.lines, secretLine{text: string(line)})
		}
	}
	return s, nil
}

// Password returns the password on the first line for user.
func (s *Secrets) Password(user string) (string, bool) {
	if strings.HasPrefix(user, "#") {
		return "", false
	}
	return s.find(false, user)
}

// GroupPassword returns the password on the first "@group:" line for group.
func (s *Secrets) GroupPassword(group string) (string, bool) {
	return s.find(true, group)
}

// find matches as rsyncd does: the line starts with the name and a ':', and
// the password is everything after that ':' (so it may hold ':' too).
func (s *Secrets) find(group bool, name string) (string, bool) {
	for _, l := range s.lines {
		if l.group != group || len(l.text) <= len(name) || l.text[len(name)] != ':' ||
			!strings.HasPrefix(l.text, name) {
			continue
		}
		return l.text[len(name)+1:], true
	}
	return "", false
}
