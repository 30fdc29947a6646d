package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemonBin is the rsyncd-go binary built once for all tests.
var daemonBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rsyncd-go-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	daemonBin = filepath.Join(dir, "rsyncd-go")
	args := []string{"build", "-o", daemonBin}
	if os.Getenv("RSYNCD_GO_RACE") != "" {
		// The daemon under the race detector; a race report fails the test
		// through the panic check in stop.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/rsyncd-go")...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building rsyncd-go:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// rsyncBin returns the stock rsync client, failing (never skipping) when it
// is missing.
func rsyncBin(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatal("the stock rsync binary is needed: install Debian's package (apt-get install rsync), or run `make test`, which does")
	}
	return p
}

// daemon is a running rsyncd-go started by a test.
type daemon struct {
	Addr    string // host:port it listens on
	Secrets string // secrets file of the module user
	PwFile  string // client password file (0600)
	Data    string // the backup module's path
	cmd     *exec.Cmd
	logMu   sync.Mutex
	log     bytes.Buffer
	config  string
}

const (
	testUser     = "rsync_backup"
	testPassword = "s3cret-pass"
)

// moduleConfig is a test's module list; {{DATA}} stands for the module dir
// and {{SECRETS}} for the secrets file.
const defaultModules = `
modules:
  - name: backup
    path: {{DATA}}
    comment: test backup module
    read_only: false
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
`

// startDaemon writes an instance config with the given module section
// (defaultModules when empty) and top-level extra keys, starts rsyncd-go on
// a free loopback port and stops it when the test ends.
func startDaemon(t testing.TB, extra, mods string) *daemon {
	t.Helper()
	d, dir := newDaemonDirs(t)
	if mods == "" {
		mods = defaultModules
	}
	cfg := "listen: 127.0.0.1:0\n" + extra + mods
	cfg = strings.ReplaceAll(cfg, "{{DATA}}", d.Data)
	cfg = strings.ReplaceAll(cfg, "{{SECRETS}}", d.Secrets)
	cfg = strings.ReplaceAll(cfg, "{{DIR}}", dir)
	d.config = filepath.Join(dir, "test.yaml")
	must(t, os.WriteFile(d.config, []byte(cfg), 0o644))
	d.start(t, "--config", d.config, "--log-level", "debug")
	return d
}

// newDaemonDirs makes a daemon's module directory, secrets file and the
// client's password file in a fresh temp dir.
func newDaemonDirs(t testing.TB) (*daemon, string) {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{
		Data:    filepath.Join(dir, "backup"),
		Secrets: filepath.Join(dir, "rsyncd.secrets"),
		PwFile:  filepath.Join(dir, "rsync.password"),
	}
	must(t, os.Mkdir(d.Data, 0o755))
	must(t, os.WriteFile(d.Secrets, []byte(testUser+":"+testPassword+"\n"), 0o600))
	must(t, os.WriteFile(d.PwFile, []byte(testPassword+"\n"), 0o600))
	return d, dir
}

var listenRE = regexp.MustCompile(`msg=listening .*addr=(\S+)|rsyncd-go version \S+ starting, listening on port (\d+)`)

func (d *daemon) start(t testing.TB, args ...string) {
	t.Helper()
	d.startVia(t, listenRE, daemonBin, args...)
}

// stop ends the daemon this test started, by its PID, and reports a crash.
func (d *daemon) stop(t testing.TB) {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
	if strings.Contains(d.Log(), "panic:") || strings.Contains(d.Log(), "WARNING: DATA RACE") {
		t.Errorf("rsyncd-go panicked:\n%s", d.Log())
	}
	if t.Failed() {
		t.Logf("rsyncd-go log:\n%s", d.Log())
	}
	d.cmd = nil
}

// Log returns what the daemon logged so far.
func (d *daemon) Log() string {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	return d.log.String()
}

// URL returns the rsync:// URL of a module path, with the test user.
func (d *daemon) URL(path string) string {
	return "rsync://" + testUser + "@" + d.Addr + "/" + path
}

// result is one client run.
type result struct {
	Code   int
	Stdout string
	Stderr string
}

// rsync runs the stock client with args, a 2-minute bound, the password
// file of d when d is not nil.
func rsync(t testing.TB, d *daemon, args ...string) result {
	t.Helper()
	if d != nil {
		args = append([]string{"--password-file=" + d.PwFile}, args...)
	}
	return runCmd(t, 2*time.Minute, rsyncBin(t), args...)
}

func runCmd(t testing.TB, limit time.Duration, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	err := cmd.Run()
	res := result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out after %v\nstdout:%s\nstderr:%s", name, args, limit, res.Stdout, res.Stderr)
	}
	return res
}

// mustRsync runs the client and fails the test unless it exits 0.
func mustRsync(t testing.TB, d *daemon, args ...string) result {
	t.Helper()
	res := rsync(t, d, args...)
	if res.Code != 0 {
		t.Fatalf("rsync %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.Code, res.Stdout, res.Stderr)
	}
	return res
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		_, file, line, _ := runtime.Caller(1)
		t.Fatalf("%s:%d: %v", filepath.Base(file), line, err)
	}
}

// entry is what the tree comparison looks at for one path.
type entry struct {
	mode   fs.FileMode
	mtime  time.Time
	size   int64
	target string
	data   []byte
}

// snapshot reads a tree: type, permissions, mtime (dirs and files), size,
// contents and symlink targets.
func snapshot(t testing.TB, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode(), mtime: fi.ModTime(), size: fi.Size()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.target, err = os.Readlink(p)
			e.size = 0
		case fi.Mode().IsRegular():
			e.data, err = os.ReadFile(p)
		case fi.IsDir():
			e.size = 0
		}
		out[rel] = e
		return err
	})
	must(t, err)
	return out
}

// compareTrees fails the test where dst differs from src: a missing or
// extra path, type, permissions, mtime (to the second unless nsec), size,
// contents, symlink target.
func compareTrees(t testing.TB, src, dst string, nsec bool) {
	t.Helper()
	compareTreesOpt(t, src, dst, nsec, false)
}

// compareTreesOpt is compareTrees that may allow extra destination paths.
func compareTreesOpt(t testing.TB, src, dst string, nsec, allowExtra bool) {
	t.Helper()
	a, b := snapshot(t, src), snapshot(t, dst)
	var diffs []string
	for p, ea := range a {
		eb, ok := b[p]
		if !ok {
			diffs = append(diffs, "missing in destination: "+p)
			continue
		}
		if ea.mode != eb.mode {
			diffs = append(diffs, fmt.Sprintf("%s: mode %v, want %v", p, eb.mode, ea.mode))
		}
		if ea.mode&fs.ModeSymlink != 0 {
			if ea.target != eb.target {
				diffs = append(diffs, fmt.Sprintf("%s: symlink -> %q, want %q", p, eb.target, ea.target))
			}
		} else if p != "." {
			ta, tb := ea.mtime, eb.mtime
			if !nsec {
				ta, tb = ta.Truncate(time.Second), tb.Truncate(time.Second)
			}
			if !ta.Equal(tb) {
				diffs = append(diffs, fmt.Sprintf("%s: mtime %v, want %v", p, eb.mtime, ea.mtime))
			}
		}
		if ea.size != eb.size || !bytes.Equal(ea.data, eb.data) {
			diffs = append(diffs, fmt.Sprintf("%s: contents differ (%d vs %d bytes)", p, eb.size, ea.size))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok && !allowExtra {
			diffs = append(diffs, "extra in destination: "+p)
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 30 {
			diffs = append(diffs[:30], fmt.Sprintf("... and %d more", len(diffs)-30))
		}
		t.Fatalf("trees differ (%s vs %s):\n  %s", src, dst, strings.Join(diffs, "\n  "))
	}
}
