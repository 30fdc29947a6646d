package rootfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestOpenNoFollow(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "sub", "f"), []byte("inside"), 0o644))
	must(os.Symlink("f", filepath.Join(dir, "sub", "in-link")))
	must(os.Symlink(outside, filepath.Join(dir, "out-link")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	root, err := os.OpenRoot(dir)
	must(err)
	defer root.Close()

	f, err := OpenNoFollow(root, "sub/f")
	must(err)
	b := make([]byte, 16)
	n, _ := f.Read(b)
	f.Close()
	if string(b[:n]) != "inside" {
		t.Errorf("read %q", b[:n])
	}
	for _, name := range []string{"sub/in-link", "out-link", "../x", "/etc/passwd"} {
		if f, err := OpenNoFollow(root, name); err == nil {
			f.Close()
			t.Errorf("%s: opened", name)
		}
	}
	// A FIFO opens without blocking (and is then not a regular file).
	f, err = OpenNoFollow(root, "fifo")
	must(err)
	fi, err := f.Stat()
	f.Close()
	must(err)
	if fi.Mode().IsRegular() {
		t.Error("fifo reported as a regular file")
	}
}

func TestMknodAndLutimes(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Mknod(root, "d/fifo", syscall.S_IFIFO|0o600, 0); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "d", "fifo")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("fifo: %v %v", fi, err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "d", "l")); err != nil {
		t.Fatal(err)
	}
	if err := Lutimes(root, "d/l", 1700000000, 123456789); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dir, "d", "l"))
	if err != nil || fi.ModTime().UnixNano() != 1700000000_123456789 {
		t.Fatalf("symlink time %v, %v", fi.ModTime(), err)
	}
	if err := Mknod(root, "../escape", syscall.S_IFIFO|0o600, 0); err == nil {
		t.Fatal("mknod outside the root succeeded")
	}
}
