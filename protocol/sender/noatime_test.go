package sender

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenNoatime(t *testing.T) {
	if openFlags(true)&unix.O_NOATIME == 0 || openFlags(false)&unix.O_NOATIME != 0 {
		t.Fatalf("flags: %#x / %#x", openFlags(true), openFlags(false))
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/f", []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", dir+"/ln"); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, noatime := range []bool{false, true} {
		f, err := openNoFollow(root, "f", noatime)
		if err != nil {
			t.Fatalf("noatime=%v: %v", noatime, err)
		}
		fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
		f.Close()
		// O_NOATIME is kept where the caller owns the file (tests run as
		// its owner).
		if err != nil || (fl&unix.O_NOATIME != 0) != noatime {
			t.Errorf("noatime=%v: flags %#x, %v", noatime, fl, err)
		}
		if f, err := openNoFollow(root, "ln", noatime); err == nil {
			f.Close()
			t.Errorf("noatime=%v: a final symlink was followed", noatime)
		}
	}
}
