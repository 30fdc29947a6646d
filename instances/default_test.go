package instances

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestDefault(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_DATA_HOME", xdg)
	inst, info, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	dir := filepath.Join(xdg, "rsyncd-go")
	if info.DataDir != dir || info.SecretsFile != filepath.Join(dir, "rsyncd.secrets") ||
		info.PasswordFile != filepath.Join(dir, "rsync.password") || !info.Created {
		t.Errorf("info = %+v", info)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("data dir mode %04o, want 0700", got)
	}
	for _, p := range []string{info.SecretsFile, info.PasswordFile} {
		if got := mode(t, p); got != 0o600 {
			t.Errorf("%s mode %04o, want 0600", p, got)
		}
	}
	secrets, err := os.ReadFile(info.SecretsFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^rsync_backup:([A-Za-z0-9_-]{24})\n$`).FindSubmatch(secrets)
	if m == nil {
		t.Fatalf("secrets file %q is not rsync_backup:<24 url-safe chars>", secrets)
	}
	pw := string(m[1])
	if got, _ := os.ReadFile(info.PasswordFile); string(got) != pw+"\n" {
		t.Errorf("password file = %q, want the password alone", got)
	}

	if inst.Name != "default" || inst.File != DefaultFile || len(inst.Listen) != 1 || inst.Listen[0] != "127.0.0.1:8730" {
		t.Errorf("instance = %+v", inst)
	}
	if len(inst.Modules) != 1 {
		t.Fatalf("modules = %+v", inst.Modules)
	}
	mod := inst.Modules[0]
	if mod.Name != "backup" || mod.Path != filepath.Join(dir, "backup") || mod.ReadOnly ||
		len(mod.AuthUsers) != 1 || mod.AuthUsers[0] != "rsync_backup" || mod.SecretsFile != info.SecretsFile || !mod.StrictModes {
		t.Errorf("module = %+v", mod)
	}
	if fi, err := os.Stat(mod.Path); err != nil || !fi.IsDir() {
		t.Errorf("module dir: %v", err)
	}
	if !mod.Allowed(netip.MustParseAddr("127.0.0.1"), "") || mod.Allowed(netip.MustParseAddr("192.0.2.1"), "") {
		t.Error("default module must admit loopback only")
	}
	wantCmd := "rsync -az /data/ --delete rsync://rsync_backup@127.0.0.1:8730/backup/ --password-file=" + info.PasswordFile
	if got := info.ClientCommand("/data/"); got != wantCmd {
		t.Errorf("ClientCommand = %q, want %q", got, wantCmd)
	}

	// A second start reuses the password, and repairs what it owns.
	if err := os.Chmod(info.SecretsFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(info.PasswordFile, []byte("stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, info2, err := Default()
	if err != nil {
		t.Fatalf("second Default: %v", err)
	}
	if info2.Created {
		t.Error("second Default created a new password")
	}
	if got, _ := os.ReadFile(info.SecretsFile); string(got) != string(secrets) {
		t.Errorf("secrets changed on second start: %q", got)
	}
	if got, _ := os.ReadFile(info.PasswordFile); string(got) != pw+"\n" {
		t.Errorf("password file not restored: %q", got)
	}
	for _, p := range []string{info.SecretsFile, info.PasswordFile} {
		if got := mode(t, p); got != 0o600 {
			t.Errorf("%s mode %04o after second start, want 0600", p, got)
		}
	}
}

func TestDefaultSecretsWithoutUser(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_DATA_HOME", xdg)
	dir := filepath.Join(xdg, "rsyncd-go")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rsyncd.secrets"), []byte("# mine\nalice:x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Default()
	if err == nil || !strings.Contains(err.Error(), "no password line for rsync_backup") {
		t.Fatalf("Default with a foreign secrets file: %v", err)
	}
}

func TestDefaultPathNeedingQuotes(t *testing.T) {
	xdg := filepath.Join(t.TempDir(), `it's a "dir": #x`)
	t.Setenv("XDG_DATA_HOME", xdg)
	inst, info, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	if inst.Modules[0].Path != filepath.Join(xdg, "rsyncd-go", "backup") {
		t.Errorf("path = %q", inst.Modules[0].Path)
	}
	if cmd := info.ClientCommand("/data/"); !strings.HasSuffix(cmd, ` '--password-file=`+strings.ReplaceAll(info.PasswordFile, "'", `'\''`)+`'`) {
		t.Errorf("ClientCommand does not quote the path: %s", cmd)
	}
}

func TestDataDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "relative/ignored")
	t.Setenv("HOME", "/home/u")
	if got, err := DataDir(); err != nil || got != "/home/u/.local/share/rsyncd-go" {
		t.Errorf("DataDir() = %q, %v", got, err)
	}
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if got, err := DataDir(); err != nil || got != "/xdg/rsyncd-go" {
		t.Errorf("DataDir() = %q, %v", got, err)
	}
}
