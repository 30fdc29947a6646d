package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSilentHandshakes: silent connections from one address cannot crowd
// out honest clients from that same address. Past 64 pending handshakes a
// newcomer pushes out the oldest stale one, so after 80 silent
// connections an honest push from the same address still succeeds, and
// the oldest silent connection has been closed.
func TestSilentHandshakes(t *testing.T) {
	d := startDaemon(t, "", "")
	var silent []net.Conn
	t.Cleanup(func() {
		for _, c := range silent {
			c.Close()
		}
	})
	for range 80 {
		c, err := net.Dial("tcp", d.Addr)
		must(t, err)
		silent = append(silent, c)
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Fatalf("greeting: %v", err)
		}
	}
	time.Sleep(2500 * time.Millisecond) // they are stale now
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	compareTrees(t, src, d.Data, true)
	_ = silent[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent[0].Read(make([]byte, 1)); err == nil {
		t.Error("the oldest silent handshake was not pushed out")
	}
}

// TestConcurrentPushesOneAddress: 100 pushes started at once from one
// address (a storage server's inotify burst) all arrive whole.
func TestConcurrentPushesOneAddress(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 31)
	const n = 100
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
