package sender

import (
	"os"
	"path/filepath"
	"testing"
)

func TestUnmunge(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/rsyncd-munged/f0", "f0"},
		{"/rsyncd-munged/../x", "../x"},
		{"/rsyncd-munged//etc/passwd", "/etc/passwd"},
		{"/rsyncd-munged/", "/rsyncd-munged/"}, // nothing after the prefix: kept, as rsync does
		{"/rsyncd-munged", "/rsyncd-munged"},
		{"plain", "plain"},
		{"x/rsyncd-munged/y", "x/rsyncd-munged/y"},
	} {
		if got := unmunge(tt.in); got != tt.want {
			t.Errorf("unmunge(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestUnreadable checks the access test of "ignore nonreadable" through
// the module root. Root reads everything, so it runs only as another user.
func TestUnreadable(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "open"), nil, 0o644))
	must(os.WriteFile(filepath.Join(dir, "closed"), nil, 0o000))
	must(os.Symlink("closed", filepath.Join(dir, "link")))
	root, err := os.OpenRoot(dir)
	must(err)
	defer root.Close()
	for _, tt := range []struct {
		name   string
		ignore bool
		want   bool
	}{
		{"open", true, false},
		{"closed", true, os.Geteuid() != 0},
		{"closed", false, false}, // the option off: nothing hidden
		{"link", true, false},    // symlinks are not checked
	} {
		b := &builder{cfg: &Config{Root: root, IgnoreNonreadable: tt.ignore}}
		st, err := root.Lstat(tt.name)
		must(err)
		if got := b.unreadable(nil, tt.name, st); got != tt.want {
			t.Errorf("unreadable(%s, ignore=%v) = %v, want %v", tt.name, tt.ignore, got, tt.want)
		}
		d, err := root.Open(".")
		must(err)
		if got := b.unreadable(d, tt.name, st); got != tt.want {
			t.Errorf("unreadable(%s, ignore=%v) with open dir = %v, want %v", tt.name, tt.ignore, got, tt.want)
		}
		d.Close()
	}
}
