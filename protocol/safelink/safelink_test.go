package safelink

import (
	"slices"
	"strings"
	"testing"
)

// TestUnsafe runs the cases of rsync's testsuite/unsafe-byname (t_unsafe
// TARGET NAME) and a daemon's list names.
func TestUnsafe(t *testing.T) {
	tests := []struct {
		target, name string
		unsafe       bool
	}{
		{"file", "from", false},
		{"dir/file", "from", false},
		{"dir/./file", "from", false},
		{"dir/.", "from", false},
		{"dir/", "from", false},
		{"/etc/passwd", "from", true},
		{"//../etc/passwd", "from", true},
		{"//./etc/passwd", "from", true},
		{"./foo", "from", false},
		{"../foo", "from", true},
		{"./../foo", "from", true},
		{".//../foo", "from", true},
		{"./../foo", "from/..", true},
		{"../dest", "from/dir", false},
		{"../../dest", "from//dir", true},
		{"..//../dest", "from/dir", true},
		{"..", "from/file", false},
		{"../..", "from/file", true},
		{"..//..", "from//file", true},
		{"dir/..", "from", true},
		{"dir/../..", "from", true},
		{"dir/..//..", "from", true},
		{"", "from", true},
		{"../../unsafe/unsafefile", "from/safe", true},
		{"..//../unsafe/unsafefile", "from/safe", true},
		{"../files/file1", "from/safe", false},
		{"../../unsafe/unsafefile", "safe", true},
		{"../files/file1", "safe", true},
		{"../../unsafe/unsafefile", "/work/from/safe", false},
		{"../files/file1", "/work/from/safe", false},

		{"../x", "a/b/link", false},
		{"../../x", "a/b/link", false},
		{"../../../x", "a/b/link", true},
		{"a/../../x", "d/link", true}, // ".." past a leading run
		{"../a/../b", "d/link", true},
		{"x/../y", "link", true},  // mid-path "..", even when it stays inside
		{"sub/../f", "d/l", true}, // the same one level down
		{"sub/..", "d/l", true},   // a trailing "/.."
		{"a/./b/..", "x", true},   // ditto
		{"..", "link", true},
		{"...", "link", false},
		{".hidden/../x", "link", true},
		{"/rsyncd-munged/x", "link", true},
	}
	for _, tt := range tests {
		if got := Unsafe(tt.target, tt.name); got != tt.unsafe {
			t.Errorf("Unsafe(%q, %q) = %v, want %v", tt.target, tt.name, got, tt.unsafe)
		}
	}
}

// FuzzUnsafe feeds symlink targets and names as a peer may send them:
// never a panic; absolute and empty targets are always unsafe, and a
// relative one without a ".." component never is.
func FuzzUnsafe(f *testing.F) {
	for _, s := range [][2]string{{"../x", "a/b"}, {"/etc/passwd", "l"}, {"a/../../b", "d/l"}, {"..//..", "from//file"}, {"", ""}, {"./", "/"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, target, name string) {
		got := Unsafe(target, name)
		if (target == "" || target[0] == '/') && !got {
			t.Fatalf("Unsafe(%q, %q) = false for an absolute or empty target", target, name)
		}
		if target != "" && target[0] != '/' && !slices.Contains(strings.Split(target, "/"), "..") && got {
			t.Fatalf("Unsafe(%q, %q) = true without a \"..\"", target, name)
		}
	})
}
