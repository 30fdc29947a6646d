package auth

import (
	"fmt"
	"strings"
)

// MaxLineLen is the longest response line rsyncd accepts (its read_line_old
// into a BIGPATHBUFLEN buffer of 5120 bytes, with room for the terminator).
const MaxLineLen = 5118

// Peer names the module and client in log messages.
type Peer struct {
	Module string
	Host   string // the client's host name, or its address if unknown
	Addr   string // the client's address
}

// Error is an authentication failure. Its text is the line rsyncd logs;
// the client is then sent "@ERROR: auth failed on module NAME".
type Error struct {
	Peer
	User    string // the user the client claimed; empty if none was read
	HasUser bool   // whether the log line names a user
	Reason  string // "password mismatch", "no matching rule", ...
	Err     error  // the cause behind Reason, e.g. a *SecretsError
}

func (e *Error) Error() string {
	if e.HasUser {
		return fmt.Sprintf("auth failed on module %s from %s (%s) for %s: %s",
			e.Module, e.Host, e.Addr, e.User, e.Reason)
	}
	return fmt.Sprintf("auth failed on module %s from %s (%s): %s", e.Module, e.Host, e.Addr, e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// ParseResponse splits the client's reply to a challenge, "user response",
// at its first space. line is the line as read, with or without its "\n";
// CRs are dropped as rsyncd's line reader drops them. ok is false where
// rsyncd reports an invalid challenge response: no space, a NUL byte, or a
// line longer than MaxLineLen.
func ParseResponse(line string) (user, response string, ok bool) {
	line = strings.TrimSuffix(line, "\n")
	if strings.IndexByte(line, '\r') >= 0 {
		line = strings.ReplaceAll(line, "\r", "")
	}
	if len(line) > MaxLineLen || strings.IndexByte(line, 0) >= 0 || strings.IndexByte(line, '\n') >= 0 {
		return "", "", false
	}
	user, response, ok = strings.Cut(line, " ")
	if !ok {
		return "", "", false
	}
	return user, response, true
}

// Request is everything the daemon knows when the client's response to a
// challenge has arrived.
type Request struct {
	Peer
	Digest      Digest // from Negotiate
	Challenge   string // as sent after "@RSYNCD: AUTHREQD "
	Line        string // the client's reply; "" if it could not be read
	Rules       []Rule // the module's "auth users"
	SecretsFile string // the module's "secrets file"
	StrictModes bool   // the module's "strict modes"
	// Groups returns the system groups of a user, primary first; it is
	// called only if a group rule is reached. Nil means SystemGroups.
	Groups func(user string) []string
}

// Check authenticates a client as rsyncd's auth_server does once the reply
// has arrived: it parses the reply, finds the first rule matching the user
// or one of the user's groups, and checks the response against the user's
// password or, for a group rule, the group's password, reading the secrets
// file afresh. It returns the user and the matching rule's access (Default
// keeps the module's "read only"); on failure the error is an *Error.
// Call it only for modules with "auth users" set; a module whose list has
// no rules refuses everyone ("no matching rule").
func Check(req Request) (string, Access, error) {
	user, response, ok := ParseResponse(req.Line)
	if !ok {
		return "", Default, &Error{Peer: req.Peer, Reason: "invalid challenge response"}
	}
	fail := func(reason string, err error) (string, Access, error) {
		return "", Default, &Error{Peer: req.Peer, User: user, HasUser: true, Reason: reason, Err: err}
	}
	groupsOf := req.Groups
	if groupsOf == nil {
		groupsOf = SystemGroups
	}
	access, group, matched := authorize(req.Rules, user, func() []string { return groupsOf(user) })
	switch {
	case !matched:
		return fail("no matching rule", nil)
	case access == Deny:
		return fail("denied by rule", nil)
	}

	secrets, err := LoadSecrets(req.SecretsFile, req.StrictModes)
	if err != nil {
		reason := ReasonIgnoringSecretsFile
		if se, ok := err.(*SecretsError); ok {
			reason = se.Reason
		}
		return fail(reason, err)
	}
	if strings.HasPrefix(user, "#") {
		return fail("invalid username", nil)
	}
	found, good := false, false
	if pw, ok := secrets.Password(user); ok {
		found = true
		good = Verify(req.Digest, pw, req.Challenge, response)
	}
	if group != "" {
		if pw, ok := secrets.GroupPassword(group); ok {
			found = true
			// Both are checked, not short-circuited, so timing does not
			// tell which password matched.
			good = Verify(req.Digest, pw, req.Challenge, response) || good
		}
	}
	switch {
	case good:
		return user, access, nil
	case found:
		return fail("password mismatch", nil)
	}
	return fail("secret not found", nil)
}
