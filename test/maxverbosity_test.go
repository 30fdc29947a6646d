package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// maxVerbosityConf is the rsyncd.conf both daemons serve in
// TestMaxVerbosityStock: one writable module with "max verbosity".
const maxVerbosityConf = `uid = root
gid = root
use chroot = no
pid file = {{DIR}}/rsyncd.pid
log file = {{DIR}}/rsyncd.log
address = 127.0.0.1
port = {{PORT}}
[m]
	path = {{DIR}}/m
	read only = false
	max verbosity = {{MAX}}
`

// TestMaxVerbosityStock pushes with -vvv to stock rsyncd and rsyncd-go
// serving the same module with "max verbosity" 1 and 2, and compares what
// the client prints: the daemon's own lines ("created directory",
// "delta-transmission enabled" from -vv on) are cut at the module's limit.
func TestMaxVerbosityStock(t *testing.T) {
	rsync := rsyncBin(t)
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(filepath.Join(src, "d1/d2"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a"), []byte("hello\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "d1/b"), []byte("world\n"), 0o644))
	must(t, os.Symlink("a", filepath.Join(src, "l")))
	for _, tc := range []struct {
		max  int
		want []string // daemon lines the client must see (stock's, checked on both)
		not  []string
	}{
		{max: 1, want: []string{"created directory new"}, not: []string{"delta-transmission"}},
		{max: 2, want: []string{"created directory new", "delta-transmission enabled"}},
	} {
		t.Run(fmt.Sprintf("max%d", tc.max), func(t *testing.T) {
			var outs [2]string
			for i, bin := range []string{rsync, daemonBin} {
				addr := startMaxVerbosityDaemon(t, bin, tc.max)
				res := runCmd(t, time.Minute, rsync, "-vvv", "-a", src+"/", "rsync://"+addr+"/m/new/")
				if res.Code != 0 {
					t.Fatalf("%s: push exit %d\n%s%s", bin, res.Code, res.Stdout, res.Stderr)
				}
				outs[i] = normVerboseOut(res.Stdout)
			}
			if outs[0] != outs[1] {
				t.Errorf("client output differs\nstock:\n%s\nrsyncd-go:\n%s", outs[0], outs[1])
			}
			for _, w := range tc.want {
				if !strings.Contains(outs[1], "\n"+w+"\n") {
					t.Errorf("rsyncd-go: %q missing from the client output:\n%s", w, outs[1])
				}
			}
			for _, n := range tc.not {
				if strings.Contains(outs[1], n) {
					t.Errorf("rsyncd-go: %q beyond max verbosity %d:\n%s", n, tc.max, outs[1])
				}
			}
		})
	}
}

// normVerboseOut drops what differs by nature from a -vvv client's
// stdout: the daemon's port and the byte counts and rates of its summary.
func normVerboseOut(s string) string {
	s = regexp.MustCompile(`(?m)^(opening tcp connection to \S+ port) \d+$`).ReplaceAllString(s, "$1 PORT")
	s = regexp.MustCompile(`(?m)^sent \d+ bytes  received \d+ bytes .*$`).ReplaceAllString(s, "sent N bytes  received N bytes")
	return regexp.MustCompile(`(?m)speedup is [\d.,]+`).ReplaceAllString(s, "speedup is N")
}

// startMaxVerbosityDaemon starts bin --daemon on maxVerbosityConf in a
// fresh dir and returns its address; it is stopped by PID at cleanup.
func startMaxVerbosityDaemon(t *testing.T, bin string, limit int) string {
	t.Helper()
	d := &sideDaemon{who: filepath.Base(bin), dir: t.TempDir()}
	port := freePort(t)
	d.addr = fmt.Sprintf("127.0.0.1:%d", port)
	must(t, os.Mkdir(filepath.Join(d.dir, "m"), 0o755))
	conf := filepath.Join(d.dir, "rsyncd.conf")
	r := strings.NewReplacer("{{DIR}}", d.dir, "{{PORT}}", fmt.Sprint(port), "{{MAX}}", fmt.Sprint(limit))
	must(t, os.WriteFile(conf, []byte(r.Replace(maxVerbosityConf)), 0o644))
	d.cmd = exec.Command(bin, "--daemon", "--no-detach", "--config="+conf)
	d.cmd.Stdout, d.cmd.Stderr = &d.stderr, &d.stderr
	must(t, d.cmd.Start())
	t.Cleanup(func() { d.stop(t) })
	ready := regexp.MustCompile(`rsyncd(-go)? version .* starting, listening on port`)
	for deadline := time.Now().Add(20 * time.Second); !ready.MatchString(d.log()); {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start on %s\n%s\n%s", bin, d.addr, d.stderr.String(), d.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d.addr
}
