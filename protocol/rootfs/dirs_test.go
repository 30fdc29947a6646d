package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDirs walks a tree in an order that reuses ancestors, climbs back,
// goes sideways, through symlinks and deeper than the kept stack: each
// directory Dirs returns must be the one os.Root opens, a symlink out of
// the root must be refused, and the descriptors held stay bounded.
func TestDirs(t *testing.T) {
	top := t.TempDir()
	mod := filepath.Join(top, "mod")
	deep := strings.Repeat("d/", maxDirsDepth+4)
	for _, d := range []string{"a/b/c", "a/x", "y", deep} {
		if err := os.MkdirAll(filepath.Join(mod, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(mod, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"in": "a/b", "a/up": "..", "out": "..", "abs": top} {
		if err := os.Symlink(target, filepath.Join(mod, link)); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(mod)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	fdsBefore := openFDs(t)

	d := &Dirs{Root: root}
	for _, tc := range []struct {
		dir     string
		wantErr bool
	}{
		{"", false},
		{"a/", false},
		{"a/b/c/", false},
		{"a/b/", false},
		{"a/b/c", false},
		{"a/x/", false},
		{".", false},
		{"y/", false},
		{"in/", false}, // a symlink inside the root: followed
		{"in/c/", false},
		{"a/up/y/", false},
		{"a/b/", false},
		{deep, false},
		{deep + "../", false}, // ".." inside the root: resolved by os.Root
		{"out/", true},        // out of the root
		{"abs/", true},
		{"file/", true},
		{"nope/", true},
		{"a/nope/", true},
		{"a/b/c/", false},
	} {
		f, fd, err := d.Dir(tc.dir)
		if tc.wantErr {
			if err == nil {
				t.Errorf("Dir(%q): no error", tc.dir)
			}
			continue
		}
		if err != nil {
			t.Errorf("Dir(%q): %v", tc.dir, err)
			continue
		}
		if int(f.Fd()) != fd {
			t.Errorf("Dir(%q): descriptor %d, file's %d", tc.dir, fd, f.Fd())
		}
		want, err := root.Stat(filepath.Clean("./" + tc.dir))
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		if w := want.Sys().(*syscall.Stat_t); w.Dev != st.Dev || w.Ino != st.Ino {
			t.Errorf("Dir(%q) opened another directory", tc.dir)
		}
		if held := openFDs(t) - fdsBefore; held > maxDirsDepth+2 {
			t.Errorf("Dir(%q): %d descriptors held", tc.dir, held)
		}
	}
	d.Close()
	if held := openFDs(t) - fdsBefore; held != 0 {
		t.Errorf("after Close: %d descriptors still open", held)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
