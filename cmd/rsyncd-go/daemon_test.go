package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCheckConf: check and instances take rsyncd.conf files of the config
// dir, with file:line for a misspelled parameter.
func TestCheckConf(t *testing.T) {
	dir := configDir(t, map[string]string{
		"old.conf":  "port = 9031\n[m]\npath = {{D}}/m\nreed only = no\n",
		"good.conf": "port = 9032\naddress = 127.0.0.1\n[m]\npath = {{D}}/m\n",
	})
	out, err := execute(t, "check", "--config-dir", dir)
	want := dir + `/old.conf:4: unknown parameter "reed only" (did you mean "read only"?)`
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("check: %v\n%s\nwant %s", err, out, want)
	}
	out, err = execute(t, "instances", "--config-dir", dir)
	if err != nil || !strings.Contains(out, "good  127.0.0.1:9032      m") || !strings.Contains(out, "old   (invalid: 1 error)") {
		t.Errorf("instances: %v\n%s", err, out)
	}
}

func TestPidFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d.pid")
	// A symlink in its place is replaced, never followed.
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	pf, err := createPidFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("pid file holds %q", b)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("symlink target overwritten: %q", b)
	}
	pf.remove()
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("pid file not removed: %v", err)
	}
	// A stale file (no lock held) is overwritten.
	if err := os.WriteFile(p, []byte("999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pf, err = createPidFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.remove()
	if b, _ := os.ReadFile(p); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("stale pid file holds %q", b)
	}
	if _, err := createPidFile(filepath.Join(dir, "nodir", "x.pid")); err == nil {
		t.Error("pid file in a missing directory")
	}
}

func TestShellClient(t *testing.T) {
	for _, tt := range []struct{ env, val, want string }{
		{"SSH_CONNECTION", "192.0.2.7 5555 10.0.0.1 22", "192.0.2.7:0"},
		{"SSH_CLIENT", "2001:db8::1 5555 22", "[2001:db8::1]:0"},
		{"REMOTE_HOST", "not-an-ip", "0.0.0.0:0"},
		{"NONE", "", "0.0.0.0:0"},
	} {
		for _, k := range []string{"REMOTE_HOST", "SSH_CONNECTION", "SSH_CLIENT", "SSH2_CLIENT"} {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
		if tt.env != "NONE" {
			t.Setenv(tt.env, tt.val)
		}
		if got := shellClient().String(); got != tt.want {
			t.Errorf("%s=%q: %s, want %s", tt.env, tt.val, got, tt.want)
		}
	}
}
