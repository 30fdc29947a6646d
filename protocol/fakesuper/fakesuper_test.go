package fakesuper

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseAppend(t *testing.T) {
	tests := []struct {
		in   string
		want Stat
		ok   bool
	}{
		{"100644 0,0 1234:5678", Stat{Mode: 0o100644, UID: 1234, GID: 5678}, true},
		{"20666 1,3 0:0", Stat{Mode: 0o20666, Major: 1, Minor: 3}, true},
		{"120777 0,0 42:43", Stat{Mode: 0o120777, UID: 42, GID: 43}, true},
		{"104755  0,0  0:0 trailing", Stat{Mode: 0o104755}, true}, // sscanf skips spaces, ignores the rest
		{"100644 0,0 4294967295:0", Stat{Mode: 0o100644, UID: 4294967295}, true},
		{"100644 0 ,0 1:1", Stat{}, false}, // ',' must follow the number
		{"100648 0,0 1:1", Stat{}, false},  // 8 is no octal digit: "10064", major "8", then no comma
		{"", Stat{}, false},
		{"100644 0,0 1", Stat{}, false},
		{"100644 0,0 1:99999999999", Stat{}, false},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("Parse(%q): error %v is not ErrCorrupt", tt.in, err)
		}
	}
	s := Stat{Mode: 0o20644, Major: 8, Minor: 1, UID: 1000, GID: 100}
	if got := string(s.Append(nil)); got != "20644 8,1 1000:100" {
		t.Errorf("Append = %q", got)
	}
}

// TestSetGet writes and reads the attribute through a module root, as
// user.* xattrs allow on the test's file system (tmpfs and ext4 do).
func TestSetGet(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/f", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, ok, err := Get(root, "f"); ok || err != nil {
		t.Fatalf("fresh file: ok=%v err=%v", ok, err)
	}
	want := Stat{Mode: 0o120777, UID: 7, GID: 8}
	if err := Set(root, "f", want); err != nil {
		if errors.Is(err, unix.ENOTSUP) && os.Getenv("CI") != "true" {
			t.Skip("no user xattrs on this file system (CI runs it on one that has them)")
		}
		t.Fatal(err)
	}
	got, ok, err := Get(root, "f")
	if !ok || err != nil || got != want {
		t.Fatalf("Get = %+v %v %v", got, ok, err)
	}
	if err := Remove(root, "f"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := Get(root, "f"); ok {
		t.Fatal("still there after Remove")
	}
	// A name leaving the module is refused by the root.
	if err := Set(root, "../x", want); err == nil {
		t.Fatal("Set outside the module succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("100644 0,0 1234:5678"))
	f.Add([]byte("20666 1,3 0:0"))
	f.Add([]byte("-1 -1,-1 -1:-1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		// What rsync writes reads back the same.
		again, err := Parse(s.Append(nil))
		if err != nil || again != s {
			t.Fatalf("round trip of %q: %+v, %v (from %+v)", b, again, err, s)
		}
		if bytes.Contains(s.Append(nil), []byte("-")) {
			t.Fatalf("negative output %q", s.Append(nil))
		}
	})
}
