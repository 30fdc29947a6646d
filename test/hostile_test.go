package test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSilentHandshakes: silent connections from one address cannot crowd
// out honest clients from that same address. 300 connections that read
// the greeting and then say nothing are held open; an honest push from the
// same address succeeds while they are fresh, and again once they are
// stale (past 64 pending handshakes a newcomer pushes out the oldest stale
// one), and most of them are still held open by the daemon after both.
func TestSilentHandshakes(t *testing.T) {
	const n = 300
	raiseNoFile(t, 4*n)
	d := startDaemon(t, "", "")
	var silent []net.Conn
	t.Cleanup(func() {
		for _, c := range silent {
			c.Close()
		}
	})
	for range n {
		c, err := net.Dial("tcp", d.Addr)
		must(t, err)
		silent = append(silent, c)
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Fatalf("greeting: %v", err)
		}
	}
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	compareTrees(t, src, d.Data, true)
	time.Sleep(10500 * time.Millisecond) // they are stale now (server.staleHandshake)
	must(t, os.WriteFile(filepath.Join(src, "g"), []byte("y"), 0o644))
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	compareTrees(t, src, d.Data, true)
	_ = silent[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent[0].Read(make([]byte, 1)); err == nil {
		t.Error("the oldest silent handshake was not pushed out")
	}
	open := 0
	for _, c := range silent[1:] {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			open++
		}
	}
	if open < n-10 {
		t.Errorf("only %d of %d silent connections are still held open", open, n)
	}
}

// raiseNoFile makes sure this process (and the daemon it starts, which
// inherits the limit) may open n descriptors.
func raiseNoFile(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("RLIMIT_NOFILE hard limit %d is below the %d descriptors this test needs (ulimit -Hn)", lim.Max, n)
	}
	lim.Cur = n
	must(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
}

// TestConcurrentPushesOneAddress: 200 pushes started at once from one
// address (a storage server's inotify burst) all arrive whole.
func TestConcurrentPushesOneAddress(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 31)
	const n = 200
	raiseNoFile(t, 8*n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			res := rsync(t, d, "-a", src+"/", d.URL(fmt.Sprintf("backup/p%d/", i)))
			if res.Code != 0 {
				errs <- fmt.Errorf("push %d: exit %d: %s", i, res.Code, res.Stderr)
				return
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for i := range n {
		compareTrees(t, src, filepath.Join(d.Data, fmt.Sprintf("p%d", i)), true)
	}
}

// TestAuthThrottle: repeated wrong passwords from one address are answered
// ever more slowly (and logged with the delay); the right password still
// works afterwards.
func TestAuthThrottle(t *testing.T) {
	d := startDaemon(t, "", "")
	wrong := filepath.Join(t.TempDir(), "wrong")
	must(t, os.WriteFile(wrong, []byte("nope\n"), 0o600))
	src := t.TempDir()
	var last time.Duration
	for range 3 {
		start := time.Now()
		res := rsync(t, nil, "--password-file="+wrong, "-a", src+"/", d.URL("backup/"))
		last = time.Since(start)
		if res.Code != 5 || !strings.Contains(res.Stderr, "@ERROR: auth failed on module backup") {
			t.Fatalf("wrong password: exit %d\n%s", res.Code, res.Stderr)
		}
	}
	if last < time.Second {
		t.Errorf("the third failure was answered in %v, want at least 1s", last)
	}
	if !strings.Contains(d.Log(), "delay=1s") {
		t.Errorf("the delay is not logged:\n%s", d.Log())
	}
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
}
