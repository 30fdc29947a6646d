package test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needRoot skips a test that mounts file systems unless it runs as root;
// under CI (CI=true) it fails instead, so the fault tests never go missing
// there silently.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test mounts a tmpfs and needs root: run the suite as root in CI (sudo -E go test ./test)")
	}
	t.Skip("this test mounts a tmpfs and needs root")
}

// mountTmpfs mounts a tmpfs with opts over dir and unmounts it when the
// test ends.
func mountTmpfs(t *testing.T, dir, opts string) {
	t.Helper()
	needRoot(t)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs -o %s tmpfs %s: %v\n%s", opts, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// A daemon child may still sit in it: detach it instead.
			if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
				t.Errorf("umount %s: %v\n%s%s", dir, err, out, out2)
			}
		}
	})
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	must(t, err)
	return b
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestFullDisk pushes a new version of a file that does not fit on the
// module's file system, to rsyncd-go and to stock rsyncd on the same kind of
// 8 MiB tmpfs, over protocols 32, 30 and 29: the client is told which file
// failed and why, with the exit code stock gives (11 from protocol 31,
// where the client ends on MSG_ERROR_EXIT; 12 before, where stock's
// receiver reads on until the client has sent all and then closes); the
// old file stays byte for byte, no temp file is left, and the daemon goes
// on serving. Both daemons get a 4-second I/O timeout: stock's receiver
// waits out half of it (60 s without one) once the client goes quiet.
func TestFullDisk(t *testing.T) {
	needRoot(t)
	old := randomBytes(t, 3<<20)
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "big"), randomBytes(t, 7<<20), 0o644))
	for _, proto := range []int{32, 30, 29} {
		t.Run(fmt.Sprintf("protocol %d", proto), func(t *testing.T) {
			ours := startDaemon(t, "timeout: 4\n", "")
			stock := stockDaemon(t, "timeout = 4\n[backup]\npath = {{DATA}}\nread only = false\nauth users = rsync_backup\nsecrets file = {{SECRETS}}\n")
			push := func(d *daemon) result {
				mountTmpfs(t, d.Data, "size=8m,mode=0755")
				must(t, os.WriteFile(filepath.Join(d.Data, "big"), old, 0o644))
				return rsync(t, d, "-a", fmt.Sprintf("--protocol=%d", proto), src+"/", d.URL("backup/"))
			}
			want := push(stock)
			got := push(ours)

			const msg = `write failed on "big" (in backup): No space left on device (28)`
			if !strings.Contains(want.Stderr, msg) || want.Code == 0 {
				t.Fatalf("stock rsyncd does not report %q (the test is wrong): exit %d\n%s", msg, want.Code, want.Stderr)
			}
			if !strings.Contains(got.Stderr, "rsync: [receiver] "+msg) {
				t.Errorf("the client was not told %q:\n%s", msg, got.Stderr)
			}
			if got.Code != want.Code {
				t.Errorf("exit code %d, stock rsyncd gives %d\nours:\n%s\nstock:\n%s", got.Code, want.Code, got.Stderr, want.Stderr)
			}
			for _, d := range []*daemon{ours, stock} {
				b, err := os.ReadFile(filepath.Join(d.Data, "big"))
				must(t, err)
				if !bytes.Equal(b, old) {
					t.Errorf("%s: the old file was damaged (%d bytes)", d.Addr, len(b))
				}
				if names := listDir(t, d.Data); len(names) != 1 {
					t.Errorf("%s: left behind in the module: %v", d.Addr, names)
				}
			}

			// The daemon still serves: a small file fits.
			small := filepath.Join(t.TempDir(), "small")
			must(t, os.MkdirAll(small, 0o755))
			must(t, os.WriteFile(filepath.Join(small, "note"), []byte("fits\n"), 0o644))
			mustRsync(t, ours, "-a", small+"/note", ours.URL("backup/"))
			if b, err := os.ReadFile(filepath.Join(ours.Data, "note")); err != nil || string(b) != "fits\n" {
				t.Errorf("the push after the full disk did not land: %q, %v", b, err)
			}
		})
	}
}

// TestDaemonKilled kills the daemon with SIGKILL while it receives a new
// version of a file: the target keeps its old contents (never a partial
// one), and the temp file the killed daemon could not remove is removed by
// the next daemon on the same module at start, which then serves a push.
func TestDaemonKilled(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	old := bytes.Repeat([]byte("old contents\n"), 1000)
	must(t, os.WriteFile(filepath.Join(d.Data, "big"), old, 0o644))
	must(t, os.WriteFile(filepath.Join(src, "big"), patterned(32<<20, func(i int) byte { return byte(i*31 + i>>13) }), 0o644))

	client := exec.Command(rsyncBin(t), "--password-file="+d.PwFile, "-a", "--bwlimit=1000", src+"/", d.URL("backup/"))
	must(t, client.Start())
	clientDone := make(chan struct{})
	go func() { _ = client.Wait(); close(clientDone) }()
	t.Cleanup(func() { _ = client.Process.Kill(); <-clientDone })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, err := tempSize(d.Data); err == nil && n >= 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the transfer did not progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, d.cmd.Process.Signal(syscall.SIGKILL))
	_ = d.cmd.Wait()
	d.cmd = nil
	select {
	case <-clientDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the client did not notice the daemon's death")
	}

	got, err := os.ReadFile(filepath.Join(d.Data, "big"))
	must(t, err)
	if !bytes.Equal(got, old) {
		t.Fatalf("the target changed when the daemon was killed: %d bytes, want the old %d", len(got), len(old))
	}
	if !hasTemp(t, d.Data) {
		t.Fatal("no temp file after SIGKILL: the test did not kill the daemon mid-file")
	}

	// Files count as stale when changed a little (a clock tick) before the
	// daemon started: let that pass, as systemd's restart delay does.
	time.Sleep(200 * time.Millisecond)
	d.start(t, "--config", d.config, "--log-level", "debug")
	deadline = time.Now().Add(15 * time.Second)
	// The file goes before the lines that say so reach the test's pipe.
	for hasTemp(t, d.Data) || !strings.Contains(d.Log(), "removed=1") {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted daemon left the stale temp file or did not log its removal: %v\n%s", listDir(t, d.Data), d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"msg=\"removed stale temp file\"", "path=.big.rsyncd-go-tmp.", "msg=\"stale temp cleanup done\"", "removed=1"} {
		if !strings.Contains(d.Log(), want) {
			t.Errorf("daemon log lacks %q:\n%s", want, d.Log())
		}
	}
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	compareTrees(t, src, d.Data, true)
}

// TestUnusableModulePath pushes into a module on a read-only file system
// and into one whose directory vanished after the daemon started: the
// client gets a clear error and the exit code stock rsyncd gives.
func TestUnusableModulePath(t *testing.T) {
	needRoot(t)
	const conf = "[backup]\npath = {{DATA}}\nread only = false\nauth users = rsync_backup\nsecrets file = {{SECRETS}}\n"
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("data\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "sub", "g"), []byte("more\n"), 0o644))

	cases := []struct {
		name  string
		setup func(t *testing.T, d *daemon)
		want  []string // what both say
	}{
		{"read-only file system", func(t *testing.T, d *daemon) {
			mountTmpfs(t, d.Data, "ro,size=1m")
		}, []string{`mkstemp ".f.`, "(in backup) failed: Read-only file system (30)"}},
		{"vanished", func(t *testing.T, d *daemon) {
			must(t, os.Remove(d.Data))
		}, []string{"@ERROR: chdir failed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ours := startDaemon(t, "", "")
			stock := stockDaemon(t, conf)
			tc.setup(t, ours)
			tc.setup(t, stock)
			got := rsync(t, ours, "-a", src+"/", ours.URL("backup/"))
			want := rsync(t, stock, "-a", src+"/", stock.URL("backup/"))
			if want.Code == 0 {
				t.Fatalf("stock rsyncd took the push (the test is wrong):\n%s", want.Stderr)
			}
			if got.Code != want.Code {
				t.Errorf("exit code %d, stock rsyncd gives %d\nours:\n%s\nstock:\n%s", got.Code, want.Code, got.Stderr, want.Stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(want.Stderr, w) {
					t.Fatalf("stock rsyncd does not say %q (the test is wrong):\n%s", w, want.Stderr)
				}
				if !strings.Contains(got.Stderr, w) {
					t.Errorf("the client was not told %q:\n%s", w, got.Stderr)
				}
			}
		})
	}
}

// TestResetConnection resets the daemon's TCP connection (RST, as a
// middlebox or a crashed peer host does) in the middle of replacing a file:
// the old file stays, the daemon removes its temp file and serves on.
func TestResetConnection(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	old := bytes.Repeat([]byte("old contents\n"), 1000)
	must(t, os.WriteFile(filepath.Join(d.Data, "big"), old, 0o644))
	must(t, os.WriteFile(filepath.Join(src, "big"), patterned(32<<20, func(i int) byte { return byte(i*17 + i>>12) }), 0o644))

	// A one-connection proxy in front of the daemon, so the test holds the
	// daemon-side socket and can reset it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	upc := make(chan *net.TCPConn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := net.Dial("tcp", d.Addr)
		if err != nil {
			return
		}
		upc <- up.(*net.TCPConn)
		go func() { _, _ = io.Copy(up, c) }()
		_, _ = io.Copy(c, up)
	}()

	client := exec.Command(rsyncBin(t), "--password-file="+d.PwFile, "-a", "--bwlimit=1000", src+"/",
		"rsync://"+testUser+"@"+l.Addr().String()+"/backup/")
	must(t, client.Start())
	clientDone := make(chan struct{})
	go func() { _ = client.Wait(); close(clientDone) }()
	t.Cleanup(func() { _ = client.Process.Kill(); <-clientDone })
	var up *net.TCPConn
	select {
	case up = <-upc:
	case <-time.After(30 * time.Second):
		t.Fatal("the client did not connect")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, err := tempSize(d.Data); err == nil && n >= 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the transfer did not progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, up.SetLinger(0)) // close sends RST
	must(t, up.Close())

	deadline = time.Now().Add(15 * time.Second)
	for hasTemp(t, d.Data) {
		if time.Now().After(deadline) {
			t.Fatalf("temp file left behind after the reset: %v", listDir(t, d.Data))
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := os.ReadFile(filepath.Join(d.Data, "big"))
	must(t, err)
	if !bytes.Equal(got, old) {
		t.Fatalf("the old file was damaged by the reset: %d bytes, want %d", len(got), len(old))
	}
	select {
	case <-clientDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the client did not notice the reset")
	}
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	compareTrees(t, src, d.Data, true)
}
