package chmod

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const (
	reg = 0o100000
	dir = 0o040000
	lnk = 0o120000
)

func TestApply(t *testing.T) {
	tests := []struct {
		chmod string
		umask uint32
		mode  uint32
		want  uint32
	}{
		// rsync(1)'s examples.
		{"Dg+s,ug+w,Fo-w,+X", 0o022, dir | 0o755, dir | 0o2775},
		{"Dg+s,ug+w,Fo-w,+X", 0o022, reg | 0o646, reg | 0o664},
		{"Dg+s,ug+w,Fo-w,+X", 0o022, reg | 0o700, reg | 0o731}, // ug+w adds only w; +X adds x for all
		{"D2775,F664", 0o022, dir | 0o700, dir | 0o2775},
		{"D2775,F664", 0o022, reg | 0o4755, reg | 0o664},
		{"g=u", 0, reg | 0o640, reg | 0o660},
		{"o=g", 0, reg | 0o654, reg | 0o655},
		{"g-o", 0, reg | 0o775, reg | 0o725},
		{"g=o,o=", 0, reg | 0o751, reg | 0o710},
		{"ugo=rwX", 0o022, reg | 0o600, reg | 0o666},
		{"ugo=rwX", 0o022, reg | 0o700, reg | 0o777},
		{"ugo=rwX", 0o022, dir | 0o700, dir | 0o777},
		// No class: the umask masks the bits.
		{"+w", 0o022, reg | 0o444, reg | 0o644},
		{"a+w", 0o022, reg | 0o444, reg | 0o666},
		{"=r", 0o027, reg | 0o777, reg | 0o440},
		// Octal replaces all bits, specials included.
		{"644", 0o022, reg | 0o4777, reg | 0o644},
		{"0", 0, dir | 0o755, dir},
		{"7777", 0, reg, reg | 0o7777},
		// Special bits.
		{"u+s", 0, reg | 0o755, reg | 0o4755},
		{"g+s", 0, reg | 0o755, reg | 0o2755},
		{"a+s", 0, reg | 0o755, reg | 0o6755},
		{"+s", 0o022, reg | 0o755, reg | 0o4755},
		{"+t", 0o022, dir | 0o777, dir | 0o1777},
		{"u-s", 0, reg | 0o6755, reg | 0o2755},
		{"u=rw", 0, reg | 0o4755, reg | 0o4655}, // = keeps specials it does not name
		{"u=rws", 0, reg | 0o2755, reg | 0o6655},
		{"u=g", 0, reg | 0o4750, reg | 0o550},   // a copy = clears the class's special bit
		{"ug=o", 0, reg | 0o6705, reg | 0o555},  // both classes from o, both specials cleared
		{"o=u", 0, dir | 0o1750, dir | 0o757},   // sticky cleared
		{"g+u", 0, reg | 0o700, reg | 0o770},    // copy add
		{"go-u", 0, reg | 0o777, reg | 0o700},   // copy subtract
		{"=u", 0o022, reg | 0o700, reg | 0o755}, // copy, no class: umask applies
		// X keeps executability: only where some x was set, or a directory.
		{"a+X", 0, reg | 0o644, reg | 0o644},
		{"a+X", 0, reg | 0o744, reg | 0o755},
		{"a+X", 0, dir | 0o644, dir | 0o755},
		{"a=rX", 0, reg | 0o600, reg | 0o444},
		// D and F select the type.
		{"D700", 0, reg | 0o644, reg | 0o644},
		{"F600", 0, dir | 0o755, dir | 0o755},
		{"F600", 0, reg | 0o755, reg | 0o600},
		{"Fu+x", 0, 0o020000 | 0o644, 0o020000 | 0o744}, // a device is not a directory
		// Order: later items see earlier results.
		{"u=r,u+w", 0, reg | 0o777, reg | 0o677},
		{"go=,g+r", 0, reg | 0o777, reg | 0o740},
		// Symlinks and a zero mode are left alone.
		{"a=", 0, lnk | 0o777, lnk | 0o777},
		{"644", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%o/umask%o", tt.chmod, tt.mode, tt.umask), func(t *testing.T) {
			m, err := Parse(tt.chmod, tt.umask)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Apply(tt.mode); got != tt.want {
				t.Errorf("Apply(%o) = %o, want %o", tt.mode, got, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"", true}, // no directive
		{"u+r", true},
		{"ug+rw,o-rwx", true},
		{"D", false},
		{"Du+r", true},
		{"DDu+r", true},
		{"DFu+r", false},
		{"FD644", false},
		{"D2775", true},
		{"u", false},
		{"+", true}, // adds nothing, as rsync accepts
		{"u=", true},
		{"u+r,", false},
		{",u+r", false},
		{"u+r,,g+w", false},
		{"u644", false},
		{"8", false},
		{"648", false},
		{"10000", false},
		{"07777", true},
		{"0007777", true},
		{"u+q", false},
		{"u+-r", false},
		{"u+r+w", false},
		{"g=u", true},
		{"g=uo", false},
		{"g=ur", false},
		{"g=ru", false},
		{"g=su", false},
		{"g=us", false},
		{"g=uX", false},
		{"a+rwxXst", true},
		{"x+r", false},
		{" u+r", false},
		{"u+r ", false},
		{strings.Repeat("u+r,", 1100) + "u+r", false}, // too long
	}
	for _, tt := range tests {
		m, err := Parse(tt.in, 0o022)
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err == nil && tt.in == "" && m != nil {
			t.Errorf("Parse(\"\") = %v, want nil", m)
		}
	}
}

func TestNilModes(t *testing.T) {
	var m *Modes
	if got := m.Apply(reg | 0o644); got != reg|0o644 {
		t.Errorf("nil.Apply = %o", got)
	}
}

// TestStock copies files of many modes with the stock client (a local
// copy: its sender applies --chmod once, as a daemon applies a module's
// chmod to the file list) and compares each result with Apply.
func TestStock(t *testing.T) {
	rsync, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatal("the stock rsync binary is needed: apt-get install rsync")
	}
	if os.Geteuid() != 0 {
		t.Log("not root: setuid and setgid bits are not compared")
	}
	modes := []uint32{0, 0o400, 0o444, 0o600, 0o640, 0o644, 0o700, 0o711, 0o750, 0o751, 0o755, 0o777, 0o705, 0o4755, 0o2750, 0o1777, 0o6711}
	directives := []string{
		"Dg+s,ug+w,Fo-w,+X", "D2775,F664", "g=u", "o=g", "g-o", "g=o,o=", "ugo=rwX",
		"+w", "=r", "u=g", "ug=o", "o=u", "go-u", "=u", "a+X", "u+s,g-s", "+t", "a=rX,u+w", "F600,D700",
	}
	// The umask of this process is the one rsync's orig_umask sees.
	umask := Umask()
	for _, d := range directives {
		src, dst := t.TempDir(), filepath.Join(t.TempDir(), "out")
		for _, m := range modes {
			f := filepath.Join(src, fmt.Sprintf("f%o", m))
			must(t, os.WriteFile(f, nil, 0o600))
			must(t, os.Chmod(f, unixMode(m)))
			dd := filepath.Join(src, fmt.Sprintf("d%o", m))
			must(t, os.Mkdir(dd, 0o700))
			must(t, os.Chmod(dd, unixMode(m)))
		}
		out, err := exec.Command(rsync, "-rp", "--chmod="+d, src+"/", dst+"/").CombinedOutput()
		if err != nil {
			t.Fatalf("rsync --chmod=%s: %v\n%s", d, err, out)
		}
		c := MustParse(d, umask)
		for _, m := range modes {
			for _, kind := range []struct {
				prefix string
				typ    uint32
			}{{"f", reg}, {"d", dir}} {
				name := fmt.Sprintf("%s%o", kind.prefix, m)
				var st syscall.Stat_t
				must(t, syscall.Lstat(filepath.Join(dst, name), &st))
				want := c.Apply(kind.typ|m) & permBits
				got := st.Mode & permBits
				if os.Geteuid() != 0 {
					want, got = want&^0o6000, got&^0o6000
				}
				if got != want {
					t.Errorf("--chmod=%s on %s (%o): stock %o, Apply %o", d, name, m, got, want)
				}
			}
		}
		_ = os.Chmod(dst, 0o700)
		chmodAll(dst)
		chmodAll(src)
	}
}

// chmodAll makes a tree removable by the test cleanup.
func chmodAll(root string) {
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
}

func unixMode(m uint32) os.FileMode {
	fm := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"Dg+s,ug+w,Fo-w,+X", "D2775,F664", "g=u", "g=o,o=", "ugo=rwX", "u+q", "7777", "DFu+r"} {
		f.Add(s, uint32(0o022))
	}
	f.Fuzz(func(t *testing.T, s string, umask uint32) {
		m, err := Parse(s, umask)
		if err != nil {
			if m != nil {
				t.Fatal("modes with an error")
			}
			return
		}
		for _, mode := range []uint32{0, reg | 0o644, dir | 0o7777, lnk | 0o777, 0o020000 | 0o600} {
			got := m.Apply(mode)
			if got&^permBits != mode&^permBits {
				t.Fatalf("Apply(%o) = %o changed the type", mode, got)
			}
			if mode&typeMask == typeLink && got != mode {
				t.Fatalf("Apply changed a symlink mode")
			}
		}
	})
}
