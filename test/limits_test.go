package test

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// holdOpenSlot opens a daemon connection and stops in the middle of the
// handshake, after the module was accepted and its connection slot claimed
// (the daemon asks for the password then); closing the connection frees it.
func holdOpenSlot(t *testing.T, addr, module string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	must(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	r := bufio.NewReader(c)
	greeting, err := r.ReadString('\n')
	must(t, err)
	if !strings.HasPrefix(greeting, "@RSYNCD: ") {
		t.Fatalf("greeting %q", greeting)
	}
	_, err = fmt.Fprintf(c, "@RSYNCD: 32.0 md5\n%s\n", module)
	must(t, err)
	line, err := r.ReadString('\n')
	must(t, err)
	if !strings.HasPrefix(line, "@RSYNCD: AUTHREQD ") {
		t.Fatalf("after the module name: %q, want the auth challenge", line)
	}
	return c
}

// TestMaxConnectionsInetd: with lock_file, max_connections holds across
// the one-process-per-connection daemons of --inetd (Accept=yes): while a
// first connection holds the only slot a second is refused as rsyncd
// refuses it, and once the first ends a third gets through.
func TestMaxConnectionsInetd(t *testing.T) {
	sa := socketActivate(t)
	d, dir := newDaemonDirs(t)
	lock := filepath.Join(dir, "rsyncd.lock")
	cfg := writeInstance(t, dir, "limited", "127.0.0.1:1\nmax_connections: 1\nlock_file: "+lock, defaultModules, d)
	port := freePort(t)
	d.startVia(t, activateRE, sa, "--inetd", "-a", "-l", fmt.Sprintf("127.0.0.1:%d", port),
		daemonBin, "--inetd", "--config", cfg, "--log-level", "debug")

	first := holdOpenSlot(t, d.Addr, "backup")
	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 7)
	res := rsync(t, d, "-a", src+"/", d.URL("backup"))
	const refusal = "@ERROR: max connections (1) reached -- try again later"
	if res.Code != 5 || !strings.Contains(res.Stderr, refusal) {
		t.Fatalf("second connection: exit %d, stderr:\n%s\nwant exit 5 and %q", res.Code, res.Stderr, refusal)
	}

	first.Close()
	// The first process exits after its connection closes; its lock goes
	// with it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		res = rsync(t, d, "-a", src+"/", d.URL("backup"))
		if res.Code == 0 {
			break
		}
		if !strings.Contains(res.Stderr, refusal) || time.Now().After(deadline) {
			t.Fatalf("third connection: exit %d, stderr:\n%s", res.Code, res.Stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	compareTrees(t, src, d.Data, true)
	if !strings.Contains(d.Log(), "max connections reached") {
		t.Errorf("the refusal is not logged:\n%s", d.Log())
	}
}

// TestMaxConnectionsModule: in one daemon process, a module's
// max_connections refuses a second connection to it while another module
// stays open, and a lock file shared with a second daemon counts there too.
func TestMaxConnectionsModule(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "shared.lock")
	mods := `
lock_file: ` + lock + `
modules:
  - name: backup
    path: {{DATA}}
    read_only: false
    max_connections: 1
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
  - name: other
    path: {{DATA}}
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
`
	a := startDaemon(t, "", mods)
	b := startDaemon(t, "", mods)
	held := holdOpenSlot(t, a.Addr, "backup")
	holdOpenSlot(t, a.Addr, "other") // no limit on "other"

	for _, d := range []*daemon{a, b} {
		res := rsync(t, d, d.URL("backup/"))
		if res.Code != 5 || !strings.Contains(res.Stderr, "@ERROR: max connections (1) reached") {
			t.Errorf("%s: exit %d, stderr:\n%s", d.Addr, res.Code, res.Stderr)
		}
		mustRsync(t, d, d.URL("other/"))
	}
	held.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := rsync(t, b, b.URL("backup/"))
		if res.Code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the slot was freed: exit %d, stderr:\n%s", res.Code, res.Stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
