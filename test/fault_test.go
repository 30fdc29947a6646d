package test

import (
	"bytes"
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

	cmd := exec.Command(rsyncBin(t), "--password-file="+d.PwFile, "-a", "--bwlimit=1000", src+"/", d.URL("backup/"))
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// Wait until the daemon is writing its temp file, then kill the client.
	deadline := time.Now().Add(30 * time.Second)
	for !hasTemp(t, d.Data) {
		if time.Now().After(deadline) {
			t.Fatal("no temp file appeared")
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
	got, err := os.ReadFile(filepath.Join(d.Data, "big"))
	must(t, err)
	if !bytes.Equal(got, old) {
		t.Fatalf("the old file was damaged: %d bytes, want %d", len(got), len(old))
	}
	// The daemon still serves: a complete push goes through.
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	compareTrees(t, src, d.Data, true)
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
