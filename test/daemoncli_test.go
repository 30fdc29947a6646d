package test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// seedConf is an rsyncd.conf like the one of the backup host; {{DATA}},
// {{SECRETS}} and {{DIR}} as in startDaemon.
const seedConf = `# rsyncd.conf for the backup host
use chroot = yes
max connections = 4
timeout = 300
pid file = {{DIR}}/rsyncd.pid
read only = no
{{EXTRA}}
[backup]
	path = {{DATA}}/
	comment = nightly backups
	ignore errors = yes
	list = false
	hosts allow = 127.0.0.1/8 ::1
	hosts deny = *
	auth users = rsync_backup
	secrets file = {{SECRETS}}
`

// writeConf writes seedConf (extra global lines in place of {{EXTRA}})
// for the dirs of d and returns its path.
func writeConf(t *testing.T, d *daemon, dir, extra string) string {
	t.Helper()
	r := strings.NewReplacer("{{DATA}}", d.Data, "{{SECRETS}}", d.Secrets, "{{DIR}}", dir, "{{EXTRA}}", extra)
	p := filepath.Join(dir, "rsyncd.conf")
	must(t, os.WriteFile(p, []byte(r.Replace(seedConf)), 0o644))
	return p
}

// pushAndCompare pushes a fresh tree to the daemon at addr and compares.
func pushAndCompare(t *testing.T, d *daemon, url string, extra ...string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, 7)
	mustRsync(t, d, append(extra, "-a", src+"/", url)...)
	compareTrees(t, src, d.Data, false)
}

func TestDaemonNoDetach(t *testing.T) {
	d, dir := newDaemonDirs(t)
	conf := writeConf(t, d, dir, "")
	port := freePort(t)
	d.start(t, "--daemon", "--no-detach", "--config="+conf, fmt.Sprintf("--port=%d", port), "--address=127.0.0.1")
	if d.Addr != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("listening on %s", d.Addr)
	}
	pid, err := os.ReadFile(filepath.Join(dir, "rsyncd.pid"))
	must(t, err)
	if strings.TrimSpace(string(pid)) != strconv.Itoa(d.cmd.Process.Pid) {
		t.Errorf("pid file holds %q, daemon is %d", pid, d.cmd.Process.Pid)
	}
	pushAndCompare(t, d, d.URL("backup/"))
	d.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "rsyncd.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left after SIGTERM: %v", err)
	}
}

// TestDaemonDparam: --dparam sets a global parameter (read only), a
// module's own value would still win; here the module inherits it.
func TestDaemonDparam(t *testing.T) {
	d, dir := newDaemonDirs(t)
	conf := writeConf(t, d, dir, "")
	d.start(t, "--daemon", "--no-detach", "--config="+conf, fmt.Sprintf("--port=%d", freePort(t)),
		"--address=127.0.0.1", "--dparam=read only=yes", "-M", "pidfile="+filepath.Join(dir, "other.pid"))
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	res := rsync(t, d, "-a", src+"/", d.URL("backup/"))
	if res.Code == 0 || !strings.Contains(res.Stderr, "module is read only") {
		t.Errorf("push to a module made read only by --dparam: exit %d\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.pid")); err != nil {
		t.Errorf("--dparam pidfile: %v", err)
	}
}

// TestDaemonDetach: without --no-detach the command returns once the
// daemon listens; the pid file names it, and SIGTERM to that pid stops it
// and removes the file, as stock rsyncd does.
func TestDaemonDetach(t *testing.T) {
	d, dir := newDaemonDirs(t)
	conf := writeConf(t, d, dir, "")
	port := freePort(t)
	d.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	logf := filepath.Join(dir, "daemon.log")
	res := runCmd(t, 30*time.Second, daemonBin, "--daemon", "--config="+conf, fmt.Sprintf("--port=%d", port),
		"--address=127.0.0.1", "--log-file="+logf)
	pidFile := filepath.Join(dir, "rsyncd.pid")
	b, err := os.ReadFile(pidFile)
	if res.Code != 0 || err != nil {
		t.Fatalf("detaching start: exit %d, pid file %v\n%s", res.Code, err, res.Stderr)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	must(t, err)
	alive := func() bool { return syscall.Kill(pid, 0) == nil }
	t.Cleanup(func() {
		if alive() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !alive() {
		t.Fatalf("pid %d from the pid file is not running", pid)
	}
	pushAndCompare(t, d, d.URL("backup/"))

	// A second daemon on the same pid file is refused (the lock is held).
	res = runCmd(t, 30*time.Second, daemonBin, "--daemon", "--config="+conf, fmt.Sprintf("--port=%d", freePort(t)),
		"--address=127.0.0.1", "--log-file="+logf)
	if res.Code == 0 || !strings.Contains(res.Stderr, "failed to lock pid file") {
		t.Errorf("second daemon: exit %d\n%s", res.Code, res.Stderr)
	}

	must(t, syscall.Kill(pid, syscall.SIGTERM))
	deadline := time.Now().Add(20 * time.Second)
	for alive() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive() {
		t.Fatal("daemon still running 20s after SIGTERM")
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left: %v", err)
	}
	// An rsyncd.conf logs in rsyncd's words (log_format rsyncd).
	if log, _ := os.ReadFile(logf); !regexp.MustCompile(`(?m)^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\d+\] rsync to backup/ from `).Match(log) {
		t.Errorf("log file:\n%s", log)
	}
}

// TestDaemonInetd: with a socket on stdin, --daemon serves that one
// connection (rsync's inetd mode).
func TestDaemonInetd(t *testing.T) {
	ssa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatal("systemd-socket-activate is needed: apt-get install systemd (or run `make test`)")
	}
	d, dir := newDaemonDirs(t)
	conf := writeConf(t, d, dir, "")
	d.Addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(ssa, "--inetd", "-a", "-l", d.Addr, daemonBin, "--daemon", "--config="+conf,
		"--log-file="+filepath.Join(dir, "daemon.log"))
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	waitListening(t, d.Addr)
	pushAndCompare(t, d, d.URL("backup/"))
	if _, err := os.Stat(filepath.Join(dir, "rsyncd.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("inetd mode wrote the pid file (stock does not): %v", err)
	}
}

// TestDaemonRemoteShell: rsync -e SHELL host::module runs
// "rsync --server --daemon ." through the shell; --rsync-path points it at
// rsyncd-go.
func TestDaemonRemoteShell(t *testing.T) {
	d, dir := newDaemonDirs(t)
	conf := writeConf(t, d, dir, "")
	rsh := filepath.Join(dir, "rsh")
	// Drops "-l USER" and the host argument and runs the command line it
	// was given, as ssh would on the remote host.
	must(t, os.WriteFile(rsh, []byte("#!/bin/sh\n[ \"$1\" = -l ] && shift 2\nshift\nexec sh -c \"$*\"\n"), 0o755))
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, 9)
	// rsync takes the client's address from the remote shell's environment
	// (0.0.0.0 without one, which hosts allow denies, as in stock rsync).
	t.Setenv("SSH_CONNECTION", "127.0.0.1 4444 127.0.0.1 22")
	res := rsync(t, d, "-a", "-e", rsh, "--rsync-path="+daemonBin+" --config="+conf+" --log-file="+filepath.Join(dir, "log"),
		src+"/", testUser+"@localhost::backup/")
	if res.Code != 0 {
		t.Fatalf("push over a remote shell: exit %d\n%s", res.Code, res.Stderr)
	}
	compareTrees(t, src, d.Data, false)
	// The client address comes from SSH_CONNECTION: 10.9.9.9 is not allowed.
	cmd := exec.Command(rsyncBin(t), "--password-file="+d.PwFile, "-a", "-e", rsh,
		"--rsync-path="+daemonBin+" --config="+conf, src+"/", testUser+"@localhost::backup/")
	cmd.Env = append(os.Environ(), "SSH_CONNECTION=10.9.9.9 5555 127.0.0.1 22", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Unknown module 'backup'") {
		t.Errorf("denied client over a remote shell: %v\n%s", err, out)
	}
}

// TestDaemonConfRefusals: parameters rsyncd-go does not take stop the
// start with file:line, every one of them; import reports the same.
func TestDaemonConfRefusals(t *testing.T) {
	d, dir := newDaemonDirs(t)
	conf := writeConf(t, d, dir, "name converter = /bin/true\ncharset = utf-8\ndaemon chroot = /srv\nread_only = no")
	want := []string{
		conf + `:7: "name converter" is not supported by rsyncd-go`,
		conf + `:8: "charset" is not supported by rsyncd-go`,
		conf + `:9: "daemon chroot" is not supported by rsyncd-go`,
	}
	res := runCmd(t, 30*time.Second, daemonBin, "--daemon", "--no-detach", "--config="+conf, "--port=1", "--address=127.0.0.1")
	if res.Code == 0 || !strings.Contains(res.Stderr, conf+`:10: unknown parameter "read_only" (did you mean "read only"?)`) {
		t.Errorf("misspelled parameter: exit %d\n%s", res.Code, res.Stderr)
	}
	must(t, os.WriteFile(conf, bytes.Replace(mustRead(t, conf), []byte("read_only"), []byte("list"), 1), 0o644))
	for _, args := range [][]string{
		{"--daemon", "--no-detach", "--config=" + conf, "--port=1", "--address=127.0.0.1"},
		{"import", conf},
	} {
		res := runCmd(t, 30*time.Second, daemonBin, args...)
		if res.Code == 0 {
			t.Errorf("%v: exit 0", args)
		}
		for _, w := range want {
			if !strings.Contains(res.Stderr, w) {
				t.Errorf("%v: missing %q in\n%s", args, w, res.Stderr)
			}
		}
	}
}

// TestImportServe: the YAML import prints serves the same push.
func TestImportServe(t *testing.T) {
	d, dir := newDaemonDirs(t)
	conf := writeConf(t, d, dir, "")
	res := runCmd(t, 30*time.Second, daemonBin, "import", conf)
	if res.Code != 0 {
		t.Fatalf("import: exit %d\n%s", res.Code, res.Stderr)
	}
	for _, w := range []string{"listen: :873", "max_connections: 4", "read_only: false", "numeric_ids: true"} {
		if !strings.Contains(res.Stdout, w) {
			t.Errorf("import output lacks %q:\n%s", w, res.Stdout)
		}
	}
	yml := strings.Replace(res.Stdout, "listen: :873", "listen: 127.0.0.1:0", 1)
	p := filepath.Join(dir, "imported.yaml")
	must(t, os.WriteFile(p, []byte(yml), 0o644))
	d.start(t, "--config", p)
	pushAndCompare(t, d, d.URL("backup/"))
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return b
}
