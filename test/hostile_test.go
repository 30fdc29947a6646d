package test

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHandshakeCapPerAddress: one address holding many silent handshakes
// is cut off at the cap, while a client from another address is served.
func TestHandshakeCapPerAddress(t *testing.T) {
	d := startDaemon(t, "", "")
	var open []net.Conn
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	for range 16 {
		c, err := net.Dial("tcp", d.Addr)
		must(t, err)
		open = append(open, c)
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Fatalf("greeting: %v", err)
		}
	}
	c, err := net.Dial("tcp", d.Addr)
	must(t, err)
	open = append(open, c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		t.Fatalf("the 17th silent handshake got %q", line)
	}
	// Another loopback address is not affected.
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	mustRsync(t, d, "-a", "--address=127.0.0.2", src+"/", d.URL("backup/"))
	compareTrees(t, src, d.Data, true)
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
