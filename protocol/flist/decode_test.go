package flist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

func TestCleanName(t *testing.T) {
	cases := []struct {
		in, want string
		relative bool
		bad      bool
	}{
		{in: "a", want: "a"},
		{in: "a/b/c", want: "a/b/c"},
		{in: ".", want: "."},
		{in: "./", want: "."},
		{in: "./a", want: "a"},
		{in: "a//b///c", want: "a/b/c"},
		{in: "a/./b", want: "a/b"},
		{in: "a/b/", want: "a/b"},
		{in: "..a/b..", want: "..a/b.."},
		{in: "/a/b", want: "/a/b", relative: true},
		{in: "//a//b", want: "/a/b", relative: true},
		{in: "/.", want: "/.", relative: true},
		{in: "/./", relative: true, bad: true}, // rsync cleans it to "/"
		{in: "", bad: true},
		{in: "/a", bad: true},
		{in: "/", relative: true, bad: true},
		{in: "..", bad: true},
		{in: "../a", bad: true},
		{in: "a/..", bad: true},
		{in: "a/../b", bad: true},
		{in: "/../a", relative: true, bad: true},
		{in: "a/.", bad: true},
		{in: "a\x00b", bad: true},
	}
	for _, tc := range cases {
		// The encoder's check accepts exactly the names that are clean.
		clean := !tc.bad && tc.want == tc.in
		if err := checkName(tc.in, tc.relative, MaxPathLen-1); (err == nil) != clean {
			t.Errorf("checkName(%q) = %v, want clean=%v", tc.in, err, clean)
		}
		b := []byte(tc.in)
		n, err := cleanName(b, tc.relative)
		if tc.bad {
			if err == nil {
				t.Errorf("cleanName(%q) = %q, want an error", tc.in, b[:n])
			}
			continue
		}
		if err != nil || string(b[:n]) != tc.want {
			t.Errorf("cleanName(%q) = %q, %v; want %q", tc.in, b[:n], err, tc.want)
		}
	}
}

func TestCompare(t *testing.T) {
	dir := func(n string) *File { return &File{Name: n, Mode: ModeDir} }
	reg := func(n string) *File { return &File{Name: n, Mode: ModeRegular} }
	cases := []struct {
		a, b  *File
		proto int
		want  int // sign
	}{
		{reg("a"), reg("b"), 32, -1},
		{dir("."), reg("-x"), 32, -1},
		{dir("."), reg("-x"), 28, 1},       // plain byte order before 29
		{reg("b"), dir("a"), 32, -1},       // files before dirs at a level
		{reg("b"), dir("a"), 28, 1},        // but not before 29
		{dir("dir"), reg("dir!x"), 32, 1},  // the dir sorts as "dir/"
		{dir("dir"), reg("dir!x"), 28, -1}, // "dir" < "dir!x"
		{dir("dir"), reg("dir/x"), 32, -1}, // a dir before its contents
		{reg("dir/x"), dir("dir/sub"), 32, -1},
		{reg("dir/zz"), dir("dir/a"), 32, -1},
		{dir("a"), dir("a.b"), 32, 1}, // "a/" vs "a.b/": '/' (47) > '.' (46)
		{reg("a"), reg("a"), 32, 0},
		{dir("a"), reg("a"), 32, 1}, // same name: the file first
		{dir("a"), reg("a"), 28, 0},
		{&File{Name: "x", Mode: ModeRegular, Flags: FlagRemoved}, reg("y"), 32, 1},
		{dir("/tmp"), reg("/tmp/a"), 32, -1},
		{reg("/a"), dir("/b"), 32, -1},
	}
	sign := func(v int) int {
		switch {
		case v < 0:
			return -1
		case v > 0:
			return 1
		}
		return 0
	}
	for _, tc := range cases {
		got := sign(Compare(tc.a, tc.b, tc.proto))
		back := sign(Compare(tc.b, tc.a, tc.proto))
		if got != tc.want || back != -tc.want {
			t.Errorf("Compare(%q dir=%v, %q dir=%v, %d) = %d/%d, want %d", tc.a.Name, tc.a.IsDir(),
				tc.b.Name, tc.b.IsDir(), tc.proto, got, back, tc.want)
		}
	}
}

func TestSortAndClean(t *testing.T) {
	dir := func(n string, flags uint32) File { return File{Name: n, Mode: ModeDir, Flags: flags} }
	reg := func(n string, size int64) File { return File{Name: n, Mode: ModeRegular, Size: size} }
	cases := []struct {
		name  string
		proto int
		in    []File
		want  []string // names in order, "" for removed
		check func(t *testing.T, out []File)
	}{
		{"first of equal files stays", 32,
			[]File{reg("b", 1), reg("a", 1), reg("b", 2)},
			[]string{"a", "b", ""},
			func(t *testing.T, out []File) {
				if out[1].Size != 1 {
					t.Errorf("kept the second b (size %d)", out[1].Size)
				}
			}},
		{"dir beats an earlier file", 32,
			[]File{reg("x", 1), reg("x.txt", 1), dir("x", 0)},
			[]string{"", "x.txt", "x/"},
			nil},
		{"dir beats a file before 29", 28,
			[]File{reg("x", 1), dir("x", 0)},
			[]string{"", "x/"},
			nil},
		{"file after dir is dropped", 28,
			[]File{dir("x", 0), reg("x", 1)},
			[]string{"x/", ""},
			nil},
		{"dirs merge flags", 32,
			[]File{dir("d", FlagImpliedDir), dir("d", FlagContentDir|FlagTopDir)},
			[]string{"d/", ""},
			func(t *testing.T, out []File) {
				if out[0].Flags != FlagContentDir|FlagTopDir {
					t.Errorf("merged flags %#x", out[0].Flags)
				}
			}},
		{"root duplicates", 32,
			[]File{dir(".", FlagTopDir|FlagContentDir), reg("a", 1), dir(".", FlagTopDir|FlagContentDir), reg("a", 2)},
			[]string{"./", "", "a", ""},
			nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := append([]File(nil), tc.in...)
			SortAndClean(out, tc.proto, false)
			var got []string
			for _, f := range out {
				switch {
				case f.Flags&FlagRemoved != 0:
					got = append(got, "")
				case f.IsDir():
					got = append(got, f.Name+"/")
				default:
					got = append(got, f.Name)
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("order %q, want %q", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func TestStripRoot(t *testing.T) {
	files := []File{
		{Name: "/tmp/src/a", Mode: ModeRegular},
		{Name: "/tmp", Mode: ModeDir, Flags: FlagImpliedDir},
		{Name: "/.", Mode: ModeDir},
		{Name: "/tmp/src", Mode: ModeDir, Flags: FlagTopDir | FlagContentDir},
	}
	SortAndClean(files, 32, true)
	var got []string
	for _, f := range files {
		got = append(got, f.Name)
	}
	if want := ".|tmp|tmp/src|tmp/src/a"; strings.Join(got, "|") != want {
		t.Fatalf("got %q, want %s", got, want)
	}
}

// entry32 builds one protocol-32 entry (varint flags, no preserved
// attributes but the mode): flags, prefix, name, size, mtime and mode.
func entry32(flags uint32, l1 int, name string, size int64, mode uint32) []byte {
	// rsync never sends zero flags, which would end the list.
	wf := flags
	if wf == 0 {
		wf = xmitExtendedFlags
	}
	b := wire.AppendVarint(nil, int32(wf))
	if flags&xmitSameName != 0 {
		b = append(b, byte(l1))
	}
	if flags&xmitLongName != 0 {
		b = wire.AppendVarint(b, int32(len(name)))
	} else {
		b = append(b, byte(len(name)))
	}
	b = append(b, name...)
	b = wire.AppendVarlong(b, size, 3)
	if flags&xmitSameTime == 0 {
		b = wire.AppendVarlong(b, 1_700_000_000, 4)
	}
	if flags&xmitSameMode == 0 {
		b = binary.LittleEndian.AppendUint32(b, mode)
	}
	return b
}

var end32 = []byte{0, 0}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecodeRejects(t *testing.T) {
	o32 := Options{Protocol: 32, VarintFlags: true, SafeFlist: true}
	reg := uint32(ModeRegular | 0o644)
	root := entry32(xmitTopDir, 0, ".", 0, ModeDir|0o755)
	cases := []struct {
		name string
		o    Options
		data []byte
		want string // part of the error
	}{
		{"absolute name", o32, cat(entry32(0, 0, "/etc/passwd", 1, reg), end32), "absolute"},
		{"dot-dot component", o32, cat(entry32(0, 0, "a/../../x", 1, reg), end32), `".."`},
		{"leading dot-dot", o32, cat(entry32(0, 0, "../x", 1, reg), end32), `".."`},
		{"empty name", o32, cat(entry32(0, 0, "", 1, reg), end32), "empty"},
		{"NUL in name", o32, cat(entry32(0, 0, "a\x00b", 1, reg), end32), "NUL"},
		{"prefix longer than previous", o32,
			cat(root, entry32(xmitSameName, 5, "x", 1, reg), end32), "shares 5 bytes"},
		{"prefix without previous", o32, cat(entry32(xmitSameName, 1, "x", 1, reg), end32), "shares 1 bytes"},
		{"long name beyond MAXPATHLEN", o32,
			cat(wire.AppendVarint(nil, xmitLongName), wire.AppendVarint(nil, MaxPathLen)), "out of range"},
		{"negative long name", o32,
			cat(wire.AppendVarint(nil, xmitLongName), wire.AppendVarint(nil, -1)), "out of range"},
		{"prefix plus name too long", o32,
			cat(entry32(xmitLongName, 0, strings.Repeat("a", 4000), 1, reg),
				entry32(xmitSameName|xmitLongName, 255, strings.Repeat("b", 3900), 1, reg), end32), "exceeds"},
		{"negative size", o32, cat(entry32(0, 0, "f", -1, reg), end32), "negative size"},
		{"negative size p29", Options{Protocol: 29},
			cat([]byte{xmitTopDir, 1, 'f'}, wire.AppendLongint(nil, -5), make([]byte, 4),
				binary.LittleEndian.AppendUint32(nil, ModeRegular|0o644), make([]byte, 5)), "negative size"},
		{"bad mode", o32, cat(entry32(0, 0, "f", 1, 0o170644), end32), "invalid file mode"},
		{"mode zero", o32, cat(entry32(0, 0, "f", 1, 0o644), end32), "invalid file mode"},
		{"root not a dir", o32, cat(entry32(0, 0, ".", 1, reg), end32), "not a directory"},
		{"trailing dot", o32, cat(entry32(0, 0, "a/.", 1, ModeDir), end32), `"."`},
		{"nsec out of range", o32,
			cat(wire.AppendVarint(nil, xmitModNsec), []byte{1, 'f'}, wire.AppendVarlong(nil, 0, 3),
				wire.AppendVarlong(nil, 1, 4), wire.AppendVarint(nil, 1_000_000_000)), "nanoseconds"},
		{"symlink target too long", Options{Protocol: 32, VarintFlags: true, PreserveLinks: true},
			cat(entry32(0, 0, "l", 1, ModeSymlink|0o777), wire.AppendVarint(nil, MaxPathLen)), "symlink target length"},
		{"symlink target negative", Options{Protocol: 32, VarintFlags: true, PreserveLinks: true},
			cat(entry32(0, 0, "l", 1, ModeSymlink|0o777), wire.AppendVarint(nil, -2)), "symlink target length"},
		{"symlink target NUL", Options{Protocol: 32, VarintFlags: true, PreserveLinks: true},
			cat(entry32(0, 0, "l", 1, ModeSymlink|0o777), wire.AppendVarint(nil, 3), []byte("a\x00b")), "NUL"},
		{"hard-link forward reference", Options{Protocol: 32, VarintFlags: true, PreserveHardLinks: true},
			cat(wire.AppendVarint(nil, xmitHLinked), []byte{1, 'h'}, wire.AppendVarint(nil, 0)), "out of range"},
		{"hard-link to a non-first", Options{Protocol: 32, VarintFlags: true, PreserveHardLinks: true},
			cat(root, wire.AppendVarint(nil, xmitHLinked), []byte{1, 'h'}, wire.AppendVarint(nil, 0)), "not the first"},
		{"io_error end without safe flist", Options{Protocol: 30},
			[]byte{xmitExtendedFlags, xmitIOErrorEndList >> 8, 0}, "without safe"},
		{"io_error end before 30", Options{Protocol: 29},
			[]byte{xmitExtendedFlags, xmitIOErrorEndList >> 8, 0}, "without safe"},
		{"truncated varint flags", o32, []byte{0xC0}, "unexpected EOF"},
		{"stream ends before end marker", o32, root, "unexpected EOF"},
		{"uid list too long", Options{Protocol: 32, VarintFlags: true, PreserveUID: true},
			cat(entry32(0, 0, "f", 1, reg), []byte{0}, end32,
				[]byte{1, 1, 'a', 2, 1, 'b', 3, 1, 'c', 0}), "more than"},
		{"atimes on 27", Options{Protocol: 27, PreserveAtimes: true}, []byte{0, 0, 0, 0, 0}, "atimes"},
		{"varint before 30", Options{Protocol: 29, VarintFlags: true}, []byte{0}, "varint"},
		{"bad checksum length", Options{Protocol: 31, AlwaysChecksum: true, ChecksumLen: 65}, []byte{0}, "checksum length"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadList(wire.NewReader(bytes.NewReader(tc.data)), tc.o)
			if err == nil {
				t.Fatalf("accepted %x", tc.data)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	o32 := Options{Protocol: 32, VarintFlags: true, SafeFlist: true}
	reg := uint32(ModeRegular | 0o644)
	cases := []struct {
		name  string
		o     Options
		data  []byte
		names []string
	}{
		{"names are cleaned", o32, cat(entry32(0, 0, "./a//b/", 1, reg), end32), []string{"a/b"}},
		{"relative leading slash stripped", Options{Protocol: 32, VarintFlags: true, RelativePaths: true},
			cat(entry32(0, 0, "/x", 1, reg), end32), []string{"x"}},
		{"prefix refers to the raw name", o32,
			cat(entry32(0, 0, "d//a", 1, reg), entry32(xmitSameName|xmitSameTime|xmitSameMode, 3, "b", 1, reg), end32),
			[]string{"d/a", "d/b"}},
		{"missing arg with --delete-missing-args", Options{Protocol: 32, VarintFlags: true, DeleteMissingArgs: true},
			cat(entry32(0, 0, "gone", 0, 0), end32), []string{"gone"}},
		{"extended flag as the only flag", o32,
			cat(entry32(xmitExtendedFlags, 0, "f", 0, reg), end32), []string{"f"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ReadList(wire.NewReader(bytes.NewReader(tc.data)), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range l.Files {
				got = append(got, f.Name)
			}
			if strings.Join(got, "|") != strings.Join(tc.names, "|") {
				t.Fatalf("names %q, want %q", got, tc.names)
			}
		})
	}
}

// TestTruncated feeds every proper prefix of a full list: each must fail
// cleanly, never panic or succeed.
func TestTruncated(t *testing.T) {
	for i, o := range roundTripCases() {
		if i%len(optionSets) != 0 {
			continue // the richest option set per protocol is enough
		}
		var buf bytes.Buffer
		w := wire.NewWriter(&buf)
		if _, err := WriteList(w, o, sampleFiles(), 0); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		for n := range len(data) {
			_, err := ReadList(wire.NewReader(bytes.NewReader(data[:n])), o)
			if err == nil {
				t.Fatalf("p%d: a prefix of %d of %d bytes was accepted", o.Protocol, n, len(data))
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("p%d: prefix %d: %v, want unexpected EOF", o.Protocol, n, err)
			}
		}
	}
}

func TestLimits(t *testing.T) {
	files := []File{
		{Name: ".", Mode: ModeDir | 0o755},
		{Name: "abcdef", Mode: ModeRegular | 0o644},
		{Name: "ghijkl", Mode: ModeSymlink | 0o777, LinkTarget: "target"},
	}
	o := Options{Protocol: 31, PreserveLinks: true}
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	if _, err := WriteList(w, o, files, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		lim  Limits
		want string
	}{
		{"files", Limits{MaxFiles: 2}, "more than 2 entries"},
		{"name length", Limits{MaxNameLen: 5}, "exceeds 5"},
		{"total name bytes", Limits{MaxNameBytes: 12}, "exceed 12 bytes"},
		{"link target length", Limits{MaxNameLen: 6, MaxNameBytes: 100}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lo := o
			lo.Limits = tc.lim
			_, err := ReadList(wire.NewReader(bytes.NewReader(buf.Bytes())), lo)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected at the limit: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestEncoderRejects(t *testing.T) {
	o := Options{Protocol: 32, VarintFlags: true, PreserveLinks: true, AlwaysChecksum: true, ChecksumLen: 16}
	cases := []struct {
		name string
		f    File
	}{
		{"unclean name", File{Name: "a//b", Mode: ModeRegular, Checksum: make([]byte, 16)}},
		{"dot-dot", File{Name: "../x", Mode: ModeRegular, Checksum: make([]byte, 16)}},
		{"absolute", File{Name: "/x", Mode: ModeRegular, Checksum: make([]byte, 16)}},
		{"too long", File{Name: strings.Repeat("a", MaxPathLen), Mode: ModeRegular, Checksum: make([]byte, 16)}},
		{"bad mode", File{Name: "x", Mode: 0o644}},
		{"root as a file", File{Name: ".", Mode: ModeRegular, Checksum: make([]byte, 16)}},
		{"negative size", File{Name: "x", Mode: ModeRegular, Size: -1, Checksum: make([]byte, 16)}},
		{"nsec", File{Name: "x", Mode: ModeRegular, ModNsec: 1_000_000_000, Checksum: make([]byte, 16)}},
		{"empty link", File{Name: "x", Mode: ModeSymlink}},
		{"short checksum", File{Name: "x", Mode: ModeRegular, Checksum: make([]byte, 15)}},
		{"long user", File{Name: "x", Mode: ModeDir, User: strings.Repeat("u", 256)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			e := NewEncoder(wire.NewWriter(&buf), o)
			if err := e.Encode(&tc.f); err == nil {
				t.Fatal("accepted")
			}
			if e.Count() != 0 {
				t.Fatal("counted a rejected entry")
			}
		})
	}
}

func TestListFile(t *testing.T) {
	l := &List{NdxStart: 1, Files: []File{{Name: "."}, {Name: "x", Flags: FlagRemoved}, {Name: "y"}}}
	for ndx, want := range map[int32]string{0: "", 1: ".", 2: "", 3: "y", 4: "", -1: ""} {
		got := ""
		if f := l.File(ndx); f != nil {
			got = f.Name
		}
		if got != want {
			t.Errorf("File(%d) = %q, want %q", ndx, got, want)
		}
	}
}

// compareFull is compareNames without the common-prefix shortcut: the
// cursors walk both names from their start, as rsync's f_name_cmp does.
func compareFull(n1 string, dir1 bool, n2 string, dir2 bool) int {
	a := sortKey{n1, strings.LastIndexByte(n1, '/'), dir1}
	b := sortKey{n2, strings.LastIndexByte(n2, '/'), dir2}
	var c1, c2 nameCursor
	c1.init(a.name, a.slash, a.dir)
	c2.init(b.name, b.slash, b.dir)
	return walkCursors(&c1, &c2)
}

func TestCompareShortcut(t *testing.T) {
	// Every clean name over a small alphabet, up to three components.
	comps := []string{"a", "b", "a.", "a!", "ab", "-"}
	var names []string
	for _, x := range comps {
		names = append(names, x)
		for _, y := range comps {
			names = append(names, x+"/"+y)
			for _, z := range comps {
				names = append(names, x+"/"+y+"/"+z)
			}
		}
	}
	names = append(names, ".")
	for _, n1 := range names {
		for _, n2 := range names {
			for _, d := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				if (n1 == "." && !d[0]) || (n2 == "." && !d[1]) {
					continue
				}
				a := sortKey{n1, strings.LastIndexByte(n1, '/'), d[0]}
				b := sortKey{n2, strings.LastIndexByte(n2, '/'), d[1]}
				got, want := compareNames(&a, &b), compareFull(n1, d[0], n2, d[1])
				if (got < 0) != (want < 0) || (got > 0) != (want > 0) {
					t.Fatalf("compare(%q %v, %q %v) = %d, full walk %d", n1, d[0], n2, d[1], got, want)
				}
			}
		}
	}
}

// TestSorterReuse: one Sorter over lists growing and shrinking (its
// buffers reused and regrown) orders each as a stable sort by Compare,
// for both name orders.
func TestSorterReuse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	parts := []string{"a", "b", "a.b", "a-b", "B", "z", ".x"}
	var s Sorter
	for _, proto := range []int{28, 31} {
		for _, n := range []int{0, 1, 7, 300, 3, 64, 1000, 2, 129} {
			files := make([]File, n)
			for i := range files {
				name := parts[rng.IntN(len(parts))]
				for range rng.IntN(3) {
					name += "/" + parts[rng.IntN(len(parts))]
				}
				files[i] = File{Name: name, Mode: ModeRegular, HLinkGroup: int32(i)}
				if rng.IntN(3) == 0 {
					files[i].Mode = ModeDir
				}
			}
			want := slices.Clone(files)
			slices.SortStableFunc(want, func(a, b File) int { return Compare(&a, &b, proto) })
			s.Sort(files, proto)
			for i := range files {
				if files[i].Name != want[i].Name || files[i].HLinkGroup != want[i].HLinkGroup {
					t.Fatalf("protocol %d, %d entries: position %d is %q (#%d), want %q (#%d)",
						proto, n, i, files[i].Name, files[i].HLinkGroup, want[i].Name, want[i].HLinkGroup)
				}
			}
		}
	}
}
