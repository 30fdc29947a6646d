package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKilledClient kills the client in the middle of replacing a file: the
// old file must stay intact and the daemon must remove its temp file.
func TestKilledClient(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	old := bytes.Repeat([]byte("old contents\n"), 1000)
	must(t, os.WriteFile(filepath.Join(d.Data, "big"), old, 0o644))
	big := make([]byte, 32<<20)
	for i := range big {
		big[i] = byte(i * 31 >> 3)
	}
	must(t, os.WriteFile(filepath.Join(src, "big"), big, 0o644))

	killMidTransfer(t, d, 0, "-a", "--bwlimit=1000", src+"/", d.URL("backup/"))
	got, err := os.ReadFile(filepath.Join(d.Data, "big"))
	must(t, err)
	if !bytes.Equal(got, old) {
		t.Fatalf("the old file was damaged: %d bytes, want %d", len(got), len(old))
	}
	// The daemon still serves: a complete push goes through.
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	compareTrees(t, src, d.Data, true)
}

// killMidTransfer starts the stock client with args, waits until the
// daemon's temp file holds at least minBytes, kills the client with SIGKILL
// and waits until the daemon has dealt with its temp file.
func killMidTransfer(t *testing.T, d *daemon, minBytes int64, args ...string) {
	t.Helper()
	cmd := exec.Command(rsyncBin(t), append([]string{"--password-file=" + d.PwFile}, args...)...)
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, err := tempSize(d.Data); err == nil && n >= minBytes {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the transfer did not progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	deadline = time.Now().Add(15 * time.Second)
	for hasTemp(t, d.Data) {
		if time.Now().After(deadline) {
			t.Fatal("temp file left behind after the client was killed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasTemp(t *testing.T, dir string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".rsyncd-go-tmp.") {
			return true
		}
	}
	return false
}

// TestPartialDir kills the client in the middle of a new file with
// --partial-dir: what arrived waits in the partial dir, the next push uses
// it as its basis (sending less), and removes it once the file is whole.
func TestPartialDir(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	big := patterned(24<<20, func(i int) byte { return byte(i*131 + i>>11) })
	must(t, os.WriteFile(filepath.Join(src, "big"), big, 0o644))
	killMidTransfer(t, d, 2<<20, "-a", "--partial-dir=.partial", "--bwlimit=2000", src+"/", d.URL("backup/"))
	// The temp file became the partial file (renamed, so it is never missing).
	if fi, err := os.Stat(filepath.Join(d.Data, ".partial", "big")); err != nil || fi.Size() == 0 {
		t.Fatalf("no partial file was kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.Data, "big")); err == nil {
		t.Fatal("the partial file took the target's place")
	}
	res := mustRsync(t, d, "-a", "--partial-dir=.partial", "--stats", src+"/", d.URL("backup/"))
	compareTreesOpt(t, src, d.Data, true, false)
	if m := literalRE.FindStringSubmatch(res.Stdout); m == nil || strings.ReplaceAll(m[1], ",", "") == fmt.Sprint(len(big)) {
		t.Errorf("the resumed push sent everything again:\n%s", res.Stdout)
	}
}

// tempSize returns the size of the daemon's temp file in dir.
func tempSize(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".rsyncd-go-tmp.") {
			fi, err := e.Info()
			if err != nil {
				return 0, err
			}
			return fi.Size(), nil
		}
	}
	return 0, os.ErrNotExist
}

// TestInplace updates a large file in place: same inode, right contents.
func TestInplace(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	big := patterned(4<<20, func(i int) byte { return byte(i*7 + i>>10) })
	must(t, os.WriteFile(filepath.Join(src, "big"), big, 0o644))
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	var before syscall.Stat_t
	must(t, syscall.Stat(filepath.Join(d.Data, "big"), &before))
	copy(big[1<<20:], bytes.Repeat([]byte("in place"), 1000))
	big = big[:3<<20] // and shorter
	must(t, os.WriteFile(filepath.Join(src, "big"), big, 0o644))
	mustRsync(t, d, "-a", "--inplace", "--no-whole-file", src+"/", d.URL("backup/"))
	compareTrees(t, src, d.Data, true)
	var after syscall.Stat_t
	must(t, syscall.Stat(filepath.Join(d.Data, "big"), &after))
	if before.Ino != after.Ino {
		t.Error("--inplace replaced the file instead of updating it")
	}
}

// TestPartial kills the client with --partial: what arrived replaces the
// file (the client asked for that), and no temp file is left.
func TestPartial(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	big := patterned(24<<20, func(i int) byte { return byte(i*131 + i>>11) })
	must(t, os.WriteFile(filepath.Join(src, "big"), big, 0o644))
	must(t, os.WriteFile(filepath.Join(d.Data, "big"), []byte("old"), 0o644))
	killMidTransfer(t, d, 2<<20, "-a", "--partial", "--bwlimit=2000", src+"/", d.URL("backup/"))
	got, err := os.ReadFile(filepath.Join(d.Data, "big"))
	must(t, err)
	if len(got) < 2<<20 || len(got) >= len(big) || !bytes.Equal(got, big[:len(got)]) {
		t.Fatalf("partial file: %d bytes, want a prefix of the %d-byte source", len(got), len(big))
	}
}

// patterned returns n bytes made by f: compressible data whose blocks
// differ, for the large-file tests.
func patterned(n int, f func(int) byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = f(i)
	}
	return b
}
