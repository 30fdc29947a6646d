package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		line, user, resp string
		ok               bool
	}{
		{"joe abc", "joe", "abc", true},
		{"joe abc\n", "joe", "abc", true},
		{"joe abc\r\n", "joe", "abc", true},
		{"j\roe a\rbc", "joe", "abc", true},
		{"joe a b", "joe", "a b", true},
		{" abc", "", "abc", true},
		{"joe ", "joe", "", true},
		{"joeabc", "", "", false},
		{"", "", "", false},
		{"joe a\x00bc", "", "", false},
		{"joe a\nbc", "", "", false},
		{"u " + strings.Repeat("x", MaxLineLen-2), "u", strings.Repeat("x", MaxLineLen-2), true},
		{"u " + strings.Repeat("x", MaxLineLen-1), "", "", false},
		{"u " + strings.Repeat("x", MaxLineLen-2) + "\r\r", "u", strings.Repeat("x", MaxLineLen-2), true},
	}
	for _, tc := range tests {
		u, r, ok := ParseResponse(tc.line)
		if u != tc.user || r != tc.resp || ok != tc.ok {
			t.Errorf("ParseResponse(%.40q) = %.20q, %.20q, %v; want %.20q, %.20q, %v", tc.line, u, r, ok, tc.user, tc.resp, tc.ok)
		}
	}
}

func TestCheck(t *testing.T) {
	const challenge = "dGhlIGNoYWxsZW5nZQ"
	secrets := writeSecrets(t, 0o600, "# comment\nrsync_backup:oldboy\nann:annpw\n@staff:teampw\n@ops:opspw\n#root:x\n")
	loose := writeSecrets(t, 0o644, "rsync_backup:oldboy\n")
	rules, err := ParseUsers(SplitUsers("rsync_backup bob:deny @staff:ro @ops:rw carol #root *:deny"))
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{"ann": {"users", "staff"}, "dave": {"staff"}, "erin": {"ops"}, "carol": {"ops"}}
	reply := func(user, password string) string {
		r, _ := Response(SHA256, password, challenge)
		return user + " " + r
	}
	peer := Peer{Module: "backup", Host: "web01", Addr: "172.16.1.31"}
	prefix := "auth failed on module backup from web01 (172.16.1.31)"
	tests := []struct {
		name    string
		line    string
		file    string
		strict  bool
		user    string
		access  Access
		wantErr string
		cause   error
	}{
		{"user password", reply("rsync_backup", "oldboy"), secrets, true, "rsync_backup", Default, "", nil},
		{"wrong password", reply("rsync_backup", "x"), secrets, true, "", Default, prefix + " for rsync_backup: password mismatch", nil},
		{"deny rule", reply("bob", "x"), secrets, true, "", Default, prefix + " for bob: denied by rule", nil},
		{"catch-all deny", reply("zed", "x"), secrets, true, "", Default, prefix + " for zed: denied by rule", nil},
		{"group rule, user password", reply("ann", "annpw"), secrets, true, "ann", ReadOnly, "", nil},
		{"group rule, group password", reply("ann", "teampw"), secrets, true, "ann", ReadOnly, "", nil},
		{"group rule, other group's password", reply("ann", "opspw"), secrets, true, "", Default, prefix + " for ann: password mismatch", nil},
		{"group password only", reply("dave", "teampw"), secrets, true, "dave", ReadOnly, "", nil},
		{"rw group", reply("erin", "opspw"), secrets, true, "erin", ReadWrite, "", nil},
		{"group matched before user rule", reply("carol", "opspw"), secrets, true, "carol", ReadWrite, "", nil},
		{"user rule ignores group lines", reply("rsync_backup", "teampw"), secrets, true, "", Default, prefix + " for rsync_backup: password mismatch", nil},
		{"comment user", reply("#root", "x"), secrets, true, "", Default, prefix + " for #root: invalid username", nil},
		{"invalid reply", "nospace", secrets, true, "", Default, prefix + ": invalid challenge response", nil},
		{"empty reply", "", secrets, true, "", Default, prefix + ": invalid challenge response", nil},
		{"strict modes", reply("rsync_backup", "oldboy"), loose, true, "", Default, prefix + " for rsync_backup: ignoring secrets file", ErrOtherAccessible},
		{"strict modes off", reply("rsync_backup", "oldboy"), loose, false, "rsync_backup", Default, "", nil},
		{"no file", reply("rsync_backup", "oldboy"), secrets + ".missing", true, "", Default, prefix + " for rsync_backup: no secrets file", nil},
		{"no file configured", reply("rsync_backup", "oldboy"), "", true, "", Default, prefix + " for rsync_backup: no secrets file", nil},
	}
	for _, tc := range tests {
		user, access, err := Check(Request{
			Peer: peer, Digest: SHA256, Challenge: challenge, Line: tc.line,
			Rules: rules, SecretsFile: tc.file, StrictModes: tc.strict,
			Groups: func(u string) []string { return groups[u] },
		})
		if user != tc.user || access != tc.access {
			t.Errorf("%s: Check = %q, %v; want %q, %v", tc.name, user, access, tc.user, tc.access)
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantErr)
		case tc.cause != nil && !errors.Is(err, tc.cause):
			t.Errorf("%s: err %v does not wrap %v", tc.name, err, tc.cause)
		}
	}

	// "zed" above hit "*:deny"; without it there is no matching rule, and
	// a secret missing for a matched user is reported as such.
	rules2, _ := ParseUsers([]string{"rsync_backup", "frank"})
	for _, tc := range []struct{ user, want string }{
		{"zed", prefix + " for zed: no matching rule"},
		{"frank", prefix + " for frank: secret not found"},
	} {
		_, _, err := Check(Request{Peer: peer, Digest: SHA256, Challenge: challenge, Line: reply(tc.user, "x"),
			Rules: rules2, SecretsFile: secrets, StrictModes: true})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err %v, want %q", tc.user, err, tc.want)
		}
	}
	var ae *Error
	_, _, err = Check(Request{Peer: peer, Line: "x"})
	if !errors.As(err, &ae) || ae.HasUser || ae.Reason != "invalid challenge response" {
		t.Errorf("Check error is not an *Error: %#v", err)
	}
}
