package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParseSecrets(t *testing.T) {
	long := strings.Repeat("p", 2000)
	content := "# comment:line\n" +
		"\n" +
		"rsync_backup:oldboy\n" +
		"rsync_backup:second\n" + // only the first line for a name counts
		"@staff:teampw\n" +
		"colon:a:b:c\n" +
		"crlf:pw\r\n" +
		"\r\rlead:pw2\n" +
		"nul:ab\x00cd\n" +
		"empty:\n" +
		":anon\n" +
		"  spaced : x\n" +
		"long:" + long + "\n" + // read as a 1023-byte line, then the rest
		"#hidden:pw\n" +
		"last:no-newline"
	s, err := ParseSecrets([]byte(content))
	if err != nil {
		t.Fatal(err)
	}
	users := []struct {
		name, want string
		ok         bool
	}{
		{"rsync_backup", "oldboy", true},
		{"staff", "", false}, // a group line is not a user line
		{"colon", "a:b:c", true},
		{"colon:a", "b:c", true}, // rsyncd matches "name:" as a prefix
		{"crlf", "pw", true},
		{"lead", "pw2", true},
		{"nul", "ab", true},
		{"empty", "", true},
		{"", "anon", true},
		{"  spaced ", " x", true},
		{"spaced", "", false},
		{"long", strings.Repeat("p", 1023-len("long:")), true},
		{"#hidden", "", false},
		{"last", "no-newline", true},
		{"nobody", "", false},
		{"rsync", "", false},
	}
	for _, tc := range users {
		got, ok := s.Password(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Password(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if got, ok := s.GroupPassword("staff"); got != "teampw" || !ok {
		t.Errorf("GroupPassword(staff) = %q, %v", got, ok)
	}
	if _, ok := s.GroupPassword("rsync_backup"); ok {
		t.Error("GroupPassword finds a user line")
	}
	// The rest of a long line is a line of its own, as with fgets.
	s2, _ := ParseSecrets([]byte("x:" + strings.Repeat("a", 1021) + "tail:pw\n"))
	if got, ok := s2.Password("tail"); !ok || got != "pw" {
		t.Errorf("continuation of a long line: Password(tail) = %q, %v; want pw", got, ok)
	}
	if _, err := ParseSecrets(make([]byte, MaxSecretsSize+1)); err == nil {
		t.Error("ParseSecrets accepts more than MaxSecretsSize")
	}
}

func writeSecrets(t *testing.T, mode os.FileMode, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rsyncd.secrets")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSecretsStrictModes(t *testing.T) {
	tests := []struct {
		mode    os.FileMode
		strict  bool
		wantErr error
	}{
		{0o600, true, nil},
		{0o640, true, nil},
		{0o660, true, nil},
		{0o601, true, nil}, // other-execute is not consulted
		{0o644, true, ErrOtherAccessible},
		{0o604, true, ErrOtherAccessible},
		{0o602, true, ErrOtherAccessible},
		{0o666, true, ErrOtherAccessible},
		{0o644, false, nil},
		{0o666, false, nil},
	}
	for _, tc := range tests {
		p := writeSecrets(t, tc.mode, "u:pw\n")
		s, err := LoadSecrets(p, tc.strict)
		if tc.wantErr == nil {
			if err != nil {
				t.Errorf("mode %o strict %v: %v", tc.mode, tc.strict, err)
			} else if pw, _ := s.Password("u"); pw != "pw" {
				t.Errorf("mode %o: Password(u) = %q", tc.mode, pw)
			}
			continue
		}
		var se *SecretsError
		if !errors.Is(err, tc.wantErr) || !errors.As(err, &se) || se.Reason != ReasonIgnoringSecretsFile {
			t.Errorf("mode %o strict %v: err %v, want %v (ignoring secrets file)", tc.mode, tc.strict, err, tc.wantErr)
		}
	}
	if ErrOtherAccessible.Error() != "secrets file must not be other-accessible (see strict modes option)" ||
		ErrNotOwnedByRoot.Error() != "secrets file must be owned by root when running as root (see strict modes)" {
		t.Error("strict-modes messages differ from rsyncd's")
	}
}

func TestLoadSecretsOwner(t *testing.T) {
	p := writeSecrets(t, 0o600, "u:pw\n")
	owner := os.Getuid()
	if owner == 0 {
		owner = 4242
		if err := os.Chown(p, owner, -1); err != nil {
			t.Fatal(err)
		}
	}
	defer func(f func() int) { geteuid = f }(geteuid)

	geteuid = func() int { return 0 }
	if _, err := LoadSecrets(p, true); !errors.Is(err, ErrNotOwnedByRoot) {
		t.Errorf("as root, file owned by %d: err %v, want ErrNotOwnedByRoot", owner, err)
	}
	if _, err := LoadSecrets(p, false); err != nil {
		t.Errorf("as root without strict modes: %v", err)
	}
	geteuid = func() int { return owner }
	if _, err := LoadSecrets(p, true); err != nil {
		t.Errorf("as the owner %d: %v", owner, err)
	}
}

func TestLoadSecretsOpen(t *testing.T) {
	dir := t.TempDir()
	good := writeSecrets(t, 0o600, "u:pw\n")
	trusted := filepath.Join(dir, "trusted")
	if err := os.Symlink(good, trusted); err != nil {
		t.Fatal(err)
	}
	relDir := filepath.Join(dir, "sub")
	os.Mkdir(relDir, 0o700)
	rel := filepath.Join(relDir, "rel")
	if err := os.Symlink("../trusted", rel); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := writeSecrets(t, 0o600, "")
	if err := os.Truncate(big, MaxSecretsSize+1); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop")
	os.Symlink(loop, loop)

	tests := []struct {
		name, path string
		reason     string // "" for success
	}{
		{"plain", good, ""},
		{"trusted symlink", trusted, ""},
		{"relative symlink through a directory", rel, ""},
		{"doubled slashes", strings.Replace(rel, "/sub/", "//sub//", 1), ""},
		{"missing", filepath.Join(dir, "missing"), ReasonNoSecretsFile},
		{"empty path", "", ReasonNoSecretsFile},
		{"directory", dir, ReasonIgnoringSecretsFile},
		{"trailing slash", dir + "/", ReasonNoSecretsFile},
		{"through a file", good + "/x", ReasonNoSecretsFile},
		{"fifo", fifo, ReasonIgnoringSecretsFile},
		{"too large", big, ReasonIgnoringSecretsFile},
		{"symlink loop", loop, ReasonNoSecretsFile},
	}
	for _, tc := range tests {
		_, err := LoadSecrets(tc.path, true)
		var se *SecretsError
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.reason != "" && (!errors.As(err, &se) || se.Reason != tc.reason):
			t.Errorf("%s: err %v, want reason %q", tc.name, err, tc.reason)
		}
	}
}

// A symlink owned by someone other than root or us is not followed: it
// could point a daemon at /etc/shadow.
func TestLoadSecretsUntrustedSymlink(t *testing.T) {
	dir := t.TempDir()
	good := writeSecrets(t, 0o600, "u:pw\n")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	defer func(f func() int) { geteuid = f }(geteuid)
	if os.Getuid() == 0 {
		if err := os.Lchown(link, 4242, 4242); err != nil {
			t.Fatal(err)
		}
	} else {
		// The link is ours; pretend we run as someone else.
		geteuid = func() int { return os.Getuid() + 1 }
	}
	_, err := LoadSecrets(link, false)
	var se *SecretsError
	if !errors.As(err, &se) || se.Reason != ReasonNoSecretsFile || !errors.Is(err, syscall.ELOOP) {
		t.Errorf("untrusted symlink: err %v, want no secrets file (ELOOP)", err)
	}
	// Also as a directory component.
	dlink := filepath.Join(dir, "dlink")
	os.Symlink(filepath.Dir(good), dlink)
	if os.Getuid() == 0 {
		os.Lchown(dlink, 4242, 4242)
	}
	if _, err := LoadSecrets(filepath.Join(dlink, filepath.Base(good)), false); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("untrusted directory symlink: err %v, want ELOOP", err)
	}
}
