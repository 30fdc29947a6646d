package receiver

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestDirCache checks that the cache's short way to a child directory (one
// openat beside a cached parent) gives what os.Root gives: the same status,
// symlinks inside the module followed, symlinks out of it and missing or
// non-directory parents refused.
func TestDirCache(t *testing.T) {
	top := t.TempDir()
	mod := filepath.Join(top, "mod")
	for _, d := range []string{"a/b/c", "x"} {
		if err := os.MkdirAll(filepath.Join(mod, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/f", "a/b/f", "a/b/c/f", "x/f", "file"} {
		if err := os.WriteFile(filepath.Join(mod, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(top, "secret"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"in": "a/b", "out": "..", "abs": top} {
		if err := os.Symlink(target, filepath.Join(mod, link)); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(mod)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	c := &dirCache{root: root}
	defer c.drop()
	// In this order the cache walks down, back up, sideways and into links,
	// so both the openat beside a parent and the fallback run.
	for _, tc := range []struct {
		name    string
		wantErr bool
	}{
		{"file", false},
		{"a/f", false},
		{"a/b/f", false},
		{"a/b/c/f", false},
		{"a/b/f", false},
		{"x/f", false},
		{"a/b/c/f", false},
		{"in/f", false}, // a symlink to a directory inside: followed
		{"in/c/f", false},
		{"out/secret", true}, // out of the module: refused
		{"abs/secret", true},
		{"file/f", true}, // a parent that is a file
		{"nope/f", true},
		{"a/nope/f", true},
	} {
		st, err := c.lstat(tc.name)
		if tc.wantErr {
			if err == nil {
				t.Errorf("lstat(%q): no error", tc.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("lstat(%q): %v", tc.name, err)
			continue
		}
		want, err := root.Lstat(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if st.size != want.Size() || st.mtime != want.ModTime().Unix() {
			t.Errorf("lstat(%q): size %d mtime %d, want %d %d", tc.name, st.size, st.mtime, want.Size(), want.ModTime().Unix())
		}
	}
	if _, err := c.lstat("nope/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing parent: %v, want not exist", err)
	}
	names, err := c.names("a/b")
	if err != nil || len(names) != 2 {
		t.Errorf("names(a/b) = %v, %v; want c and f", names, err)
	}
}
