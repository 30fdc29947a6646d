package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configDir writes files (name -> YAML, {{D}} standing for the dir) into a
// fresh dir with a module directory "m" and returns the dir.
func configDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		body = strings.ReplaceAll(body, "{{D}}", dir)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// execute runs the root command with args and returns stdout and the error.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

const (
	goodA = "listen: 127.0.0.1:9001\nmodules:\n  - name: alpha\n    path: {{D}}/m\n"
	goodB = "listen:\n  - 127.0.0.1:9002\n  - 127.0.0.1:9003\nmodules:\n  - name: beta\n    path: {{D}}/m\n  - name: gamma\n    path: {{D}}/m\n"
	wild  = "# every address\nlisten:\n  - 127.0.0.1:9010\n  - 0.0.0.0:9001\nmodules:\n  - name: w\n    path: {{D}}/m\n"
	bad   = "listen: nohost\nmax_connections: -1\nmodules:\n  - name: x\n    path: relative\n    bogus: 1\n"
	uid   = "listen: 127.0.0.1:9020\nmodules:\n  - name: u\n    path: {{D}}/m\n    uid: no-such-user-rsyncd-go\n"
	// A module parameter that loads but that server.CheckSupported may
	// refuse (uid of another user when not root) is still listed.
	uidNobody = "listen: 127.0.0.1:9020\nmodules:\n  - name: u\n    path: {{D}}/m\n    uid: nobody\n"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		want  []string // lines of stdout, {{D}} for the dir
		fail  bool
	}{
		{
			name:  "ok",
			files: map[string]string{"a.yaml": goodA, "b.yaml": goodB},
			args:  []string{"--all"},
			want:  []string{"ok: 2 instances"},
		},
		{
			name:  "no names means all",
			files: map[string]string{"a.yaml": goodA, "b.yml": goodB},
			want:  []string{"ok: 2 instances"},
		},
		{
			name:  "every error of every file",
			files: map[string]string{"a.yaml": goodA, "bad.yaml": bad, "u.yaml": uid},
			args:  []string{"--all"},
			want: []string{
				`{{D}}/bad.yaml:1: listen: "nohost": want ADDRESS:PORT such as 0.0.0.0:873 or [::1]:873`,
				`{{D}}/bad.yaml:2: max_connections: must not be negative at the top level (got -1)`,
				`{{D}}/bad.yaml:5: module "x": path: "relative" is not an absolute path`,
				`{{D}}/bad.yaml:6: unknown key "bogus"`,
				`{{D}}/u.yaml:5: module "u": uid: unknown user "no-such-user-rsyncd-go": user: unknown user no-such-user-rsyncd-go`,
			},
			fail: true,
		},
		{
			name:  "port conflict across files",
			files: map[string]string{"a.yaml": goodA, "b.yaml": goodB, "w.yaml": wild},
			args:  []string{"--all"},
			want:  []string{`{{D}}/w.yaml:4: listen 0.0.0.0:9001: conflicts with instance "a" listening on 127.0.0.1:9001 ({{D}}/a.yaml:1)`},
			fail:  true,
		},
		{
			name:  "conflict with an instance not named",
			files: map[string]string{"a.yaml": goodA, "w.yaml": wild},
			args:  []string{"a"},
			want:  []string{`{{D}}/w.yaml:4: listen 0.0.0.0:9001: conflicts with instance "a" listening on 127.0.0.1:9001 ({{D}}/a.yaml:1)`},
			fail:  true,
		},
		{
			name:  "only named instances",
			files: map[string]string{"a.yaml": goodA, "bad.yaml": bad},
			args:  []string{"a"},
			want:  []string{"ok: 1 instances"},
		},
		{
			name:  "unknown name",
			files: map[string]string{"a.yaml": goodA},
			args:  []string{"nope"},
			want:  []string{`instance "nope": no config file (tried {{D}}/nope.yaml and {{D}}/nope.yml and {{D}}/nope.conf)`},
			fail:  true,
		},
		{
			name:  "same port on different addresses is fine",
			files: map[string]string{"a.yaml": goodA, "c.yaml": strings.Replace(goodA, "127.0.0.1", "127.0.0.2", 1)},
			want:  []string{"ok: 2 instances"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := configDir(t, tc.files)
			out, err := execute(t, append([]string{"check", "--config-dir", dir}, tc.args...)...)
			if (err != nil) != tc.fail {
				t.Errorf("error = %v, want failure %v", err, tc.fail)
			}
			want := strings.ReplaceAll(strings.Join(tc.want, "\n")+"\n", "{{D}}", dir)
			if out != want {
				t.Errorf("output:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}

func TestCheckNamesAndAll(t *testing.T) {
	dir := configDir(t, map[string]string{"a.yaml": goodA})
	if _, err := execute(t, "check", "--config-dir", dir, "--all", "a"); err == nil {
		t.Error("check --all NAME succeeded")
	}
	if _, err := execute(t, "check", "--config-dir", filepath.Join(dir, "missing")); err == nil {
		t.Error("check on a missing dir succeeded")
	}
	if _, err := execute(t, "check", "--config-dir", filepath.Join(dir, "m")); err == nil || !strings.Contains(err.Error(), "no instances") {
		t.Errorf("check on an empty dir: %v, want no instances", err)
	}
}

func TestInstances(t *testing.T) {
	dir := configDir(t, map[string]string{"a.yaml": goodA, "b.yaml": goodB, "bad.yaml": bad, "u.yaml": uidNobody, "notes.txt": "x"})
	out, err := execute(t, "instances", "--config-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"NAME  LISTEN                         MODULES",
		"a     127.0.0.1:9001                 alpha",
		"b     127.0.0.1:9002,127.0.0.1:9003  beta,gamma",
		"bad   (invalid: 4 errors)",
		"u     127.0.0.1:9020                 u",
	}
	var got []string
	for l := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		got = append(got, strings.TrimRight(l, " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("instances:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
}

func TestProblems(t *testing.T) {
	dir := configDir(t, map[string]string{"bad.yaml": bad})
	// The daemon's own start refuses a bad instance with every problem.
	_, err := execute(t, "--config-dir", dir, "--instance", "bad")
	if n := len(problems(err)); n != 4 {
		t.Errorf("--instance bad: %d problems, want 4: %v", n, err)
	}
	for _, p := range problems(err) {
		if !strings.HasPrefix(p.Error(), filepath.Join(dir, "bad.yaml")+":") {
			t.Errorf("problem %q does not name the file and line", p)
		}
	}
}

// TestNotifier listens on a datagram socket as systemd does and checks
// READY=1, STATUS= with the session count and watchdog pings.
func TestNotifier(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", "")
	n := newNotifier(slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		n.run(ctx, func() int { return 3 })
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	buf := make([]byte, 4096)
	seen := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for !(seen["READY=1"] && seen["STATUS=3 active sessions"] && seen["WATCHDOG=1"]) {
		if time.Now().After(deadline) {
			t.Fatalf("notifications seen: %v", seen)
		}
		_ = pc.SetReadDeadline(deadline)
		k, err := pc.Read(buf)
		if err != nil {
			t.Fatalf("reading notifications: %v (seen %v)", err, seen)
		}
		for l := range strings.SplitSeq(string(buf[:k]), "\n") {
			seen[l] = true
		}
	}
	n.send("STOPPING=1")
	k, err := pc.Read(buf)
	for err == nil && string(buf[:k]) == "WATCHDOG=1" {
		k, err = pc.Read(buf)
	}
	if err != nil || string(buf[:k]) != "STOPPING=1" {
		t.Errorf("after send(STOPPING=1): %q, %v", buf[:k], err)
	}
}
