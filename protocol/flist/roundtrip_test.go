package flist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// sampleFiles returns entries of every shape, in sending order: the root,
// files, directories of each kind, symlinks, devices, specials, hard-link
// groups, long names and shared prefixes, owners with and without names.
func sampleFiles() []File {
	sum := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }
	long := strings.Repeat("L", 300)
	deep := "deep/" + strings.Repeat("p", 250) + "/" + strings.Repeat("q", 100)
	files := []File{
		{Name: ".", Mode: ModeDir | 0o755, Size: 4096, ModTime: 1_700_000_000, ModNsec: 5, Flags: FlagTopDir | FlagContentDir, UID: 0, GID: 0, User: "root", Group: "root"},
		{Name: "a", Mode: ModeRegular | 0o644, Size: 6, ModTime: 1_700_000_000, ModNsec: 123_456_789, UID: 1000, GID: 1000, User: "alice", Group: "staff", Atime: 1_700_000_100, Crtime: 1_700_000_000, Checksum: sum(1)},
		{Name: "b", Mode: ModeRegular | 0o600, Size: 0, ModTime: 1_700_000_000, UID: 1000, GID: 1000, User: "alice", Group: "staff", Atime: 1_700_000_100, Crtime: 5, Checksum: sum(2)},
		{Name: "big", Mode: ModeRegular | 0o644, Size: 1 << 40, ModTime: 4_000_000_000, ModNsec: 999_999_999, UID: 1001, GID: 1000, User: "bob", Group: "staff", Atime: 3, Checksum: sum(3)},
		{Name: "edge", Mode: ModeRegular | 0o644, Size: 0x7FFFFFFF, ModTime: 0x7FFFFFFF, UID: 12345, GID: 54321, Checksum: sum(4)},
		{Name: "edge2", Mode: ModeRegular | 0o4755, Size: 0x80000000, ModTime: 1, UID: 12345, GID: 54321, Checksum: sum(5)},
		{Name: "dir", Mode: ModeDir | 0o755, Size: 4096, ModTime: 1_600_000_000, Flags: FlagContentDir, UID: 0, GID: 0, User: "root", Group: "root"},
		{Name: "dir/x", Mode: ModeRegular | 0o644, Size: 1, ModTime: 1_600_000_000, UID: 0, GID: 0, User: "root", Group: "root", Checksum: sum(6)},
		{Name: "dir/sub", Mode: ModeDir | 0o700, Size: 4096, ModTime: 1_600_000_001, Flags: FlagContentDir, UID: 0, GID: 0, User: "root", Group: "root"},
		{Name: "implied", Mode: ModeDir | 0o755, Size: 4096, ModTime: 1_600_000_001, Flags: FlagImpliedDir, UID: 0, GID: 0, User: "root", Group: "root"},
		{Name: "nocontent", Mode: ModeDir | 0o755, Size: 4096, ModTime: 1_600_000_002, UID: 0, GID: 0, User: "root", Group: "root"},
		{Name: "link", Mode: ModeSymlink | 0o777, Size: 1, ModTime: 1_600_000_002, LinkTarget: "a", UID: 1000, GID: 1000, User: "alice", Group: "staff", Atime: 9},
		{Name: "linklong", Mode: ModeSymlink | 0o777, Size: MaxPathLen - 1, ModTime: 1_600_000_003, LinkTarget: strings.Repeat("t", MaxPathLen-1), UID: 1000, GID: 1000, User: "alice", Group: "staff", Atime: 9},
		{Name: "null", Mode: ModeCharDev | 0o666, ModTime: 1_600_000_003, RdevMajor: 1, RdevMinor: 3},
		{Name: "null-same-major", Mode: ModeCharDev | 0o666, ModTime: 1_600_000_003, RdevMajor: 1, RdevMinor: 5},
		{Name: "bigminor", Mode: ModeCharDev | 0o600, ModTime: 1_600_000_004, RdevMajor: 4, RdevMinor: 300},
		{Name: "blk", Mode: ModeBlockDev | 0o660, ModTime: 1_600_000_004, RdevMajor: 259, RdevMinor: 70000},
		{Name: "fifo", Mode: ModeFIFO | 0o640, ModTime: 1_600_000_005},
		{Name: "sock", Mode: ModeSocket | 0o755, ModTime: 1_600_000_006},
		{Name: "h1", Mode: ModeRegular | 0o644, Size: 7, ModTime: 1_650_000_000, ModNsec: 42, Flags: FlagHLinked, HLinkDev: 5, HLinkIno: 100, UID: 1000, GID: 1000, User: "alice", Group: "staff", Atime: 77, Crtime: 1_650_000_000, Checksum: sum(7)},
		{Name: "g1", Mode: ModeRegular | 0o600, Size: 8, ModTime: 1_650_000_001, Flags: FlagHLinked, HLinkDev: 5, HLinkIno: 200, UID: 1001, GID: 1000, User: "bob", Group: "staff", Atime: 78, Checksum: sum(8)},
		{Name: "h2", Mode: ModeRegular | 0o644, Size: 7, ModTime: 1_650_000_000, ModNsec: 42, Flags: FlagHLinked, HLinkDev: 5, HLinkIno: 100, UID: 1000, GID: 1000, User: "alice", Group: "staff", Atime: 77, Crtime: 1_650_000_000, Checksum: sum(7)},
		{Name: "dir/h3", Mode: ModeRegular | 0o644, Size: 7, ModTime: 1_650_000_000, ModNsec: 42, Flags: FlagHLinked, HLinkDev: 5, HLinkIno: 100, UID: 1000, GID: 1000, User: "alice", Group: "staff", Atime: 77, Crtime: 1_650_000_000, Checksum: sum(7)},
		{Name: "g2", Mode: ModeRegular | 0o600, Size: 8, ModTime: 1_650_000_001, Flags: FlagHLinked, HLinkDev: 5, HLinkIno: 200, UID: 1001, GID: 1000, User: "bob", Group: "staff", Atime: 78, Checksum: sum(8)},
		{Name: "otherdev", Mode: ModeRegular | 0o644, Size: 1, ModTime: 1_650_000_002, Flags: FlagHLinked, HLinkDev: 9, HLinkIno: 100, Checksum: sum(9)},
		{Name: long, Mode: ModeRegular | 0o644, Size: 2, ModTime: 1_650_000_003, Checksum: sum(10)},
		{Name: "deep", Mode: ModeDir | 0o755, ModTime: 1_650_000_004, Flags: FlagContentDir},
		{Name: deep, Mode: ModeDir | 0o755, ModTime: 1_650_000_004, Flags: FlagContentDir},
		{Name: deep + "/f", Mode: ModeRegular | 0o644, Size: 3, ModTime: 1_650_000_005, Checksum: sum(11)},
		{Name: deep + "/" + strings.Repeat("z", 255), Mode: ModeRegular | 0o644, Size: 3, ModTime: 1_650_000_005, Checksum: sum(12)},
		{Name: "ünï/ファイル", Mode: ModeRegular | 0o644, Size: 3, ModTime: 1_650_000_006, UID: 65534, GID: 65534, User: "nobody", Group: "nogroup", Checksum: sum(13)},
		{Name: "bad\xff\xfe name", Mode: ModeRegular | 0o644, Size: 3, ModTime: 1_650_000_006, UID: 65534, GID: 65534, User: "nobody", Group: "nogroup", Checksum: sum(14)},
		{Name: "zero-time", Mode: ModeRegular | 0o644, Size: 3, ModTime: 0, Checksum: sum(15)},
		{Name: "negative-time", Mode: ModeRegular | 0o644, Size: 3, ModTime: -86400, ModNsec: 1, Checksum: sum(16)},
	}
	for i := range files {
		// Owners are consistent: an id always has the same name.
		if files[i].UID == 0 {
			files[i].User = "root"
		}
		if files[i].GID == 0 {
			files[i].Group = "root"
		}
	}
	return files
}

// expected returns what a receiver decodes from files sent with o, in
// arrival order.
func expected(files []File, o Options) []File {
	out := make([]File, len(files))
	serial := map[[2]int64]int32{}
	first := map[[2]int64]int32{}
	inDelHier := false
	for i, in := range files {
		f := File{Name: in.Name, Mode: in.Mode, Size: in.Size, ModTime: in.ModTime, HLinkGroup: -1}
		if o.Protocol < 30 {
			f.ModTime = int64(uint32(f.ModTime))
		}
		if o.Protocol >= 31 {
			f.ModNsec = in.ModNsec
		}
		if o.PreserveAtimes && !in.IsDir() {
			f.Atime = in.Atime
		}
		if o.PreserveCrtimes {
			f.Crtime = in.Crtime
		}
		if o.PreserveUID {
			f.UID = in.UID
			if !o.NumericIDs && (in.UID != 0 || o.ID0Names || o.IncRecurse) {
				f.User = in.User
			}
		}
		if o.PreserveGID {
			f.GID = in.GID
			if !o.NumericIDs && (in.GID != 0 || o.ID0Names || o.IncRecurse) {
				f.Group = in.Group
			}
		}
		switch {
		case in.IsDevice():
			f.Size = 0
			if o.PreserveDevices {
				f.RdevMajor, f.RdevMinor = in.RdevMajor, in.RdevMinor
				if o.Protocol < 28 {
					f.RdevMajor, f.RdevMinor = splitDev32(joinDev32(in.RdevMajor, in.RdevMinor))
				}
			}
		case in.IsSpecial() && o.PreserveSpecials && o.Protocol < 31:
			f.Size = 0
		}
		if in.IsSymlink() && o.PreserveLinks {
			f.LinkTarget = in.LinkTarget
		}
		if in.IsRegular() && o.AlwaysChecksum {
			f.Checksum = in.Checksum
		}
		if in.IsDir() {
			if o.Protocol >= 30 {
				f.Flags = in.Flags & (FlagTopDir | FlagContentDir | FlagImpliedDir)
				if f.Flags&FlagContentDir == 0 {
					f.Flags &^= FlagTopDir
				}
			} else if in.Flags&FlagTopDir != 0 {
				f.Flags = FlagTopDir | FlagContentDir
				inDelHier = o.Recurse
			} else if inDelHier {
				f.Flags = FlagContentDir
			}
		}
		if o.PreserveHardLinks && !in.IsDir() &&
			(o.Protocol >= 28 && in.Flags&FlagHLinked != 0 || o.Protocol < 28 && in.IsRegular()) {
			key := [2]int64{in.HLinkDev, in.HLinkIno}
			f.Flags |= FlagHLinked
			if o.Protocol >= 30 {
				if n, ok := first[key]; ok {
					f.HLinkGroup = n
				} else {
					first[key] = o.NdxStart + int32(i)
					f.HLinkGroup = o.NdxStart + int32(i)
					f.Flags |= FlagHLinkFirst
				}
			} else {
				f.HLinkDev, f.HLinkIno = in.HLinkDev, in.HLinkIno
				if _, ok := serial[key]; !ok {
					serial[key] = int32(len(serial))
				}
				f.HLinkGroup = serial[key]
			}
		}
		out[i] = f
	}
	return out
}

type optionSet struct {
	name string
	set  func(o *Options)
}

var optionSets = []optionSet{
	{"all", func(o *Options) {
		archive(o)
		o.PreserveHardLinks, o.AlwaysChecksum, o.ChecksumLen = true, true, 16
		o.PreserveAtimes = o.Protocol >= 28
		o.PreserveCrtimes = o.VarintFlags
	}},
	{"bare", func(o *Options) {}},
	{"numeric", func(o *Options) { archive(o); o.NumericIDs = true }},
	{"links-only", func(o *Options) { o.PreserveLinks, o.PreserveUID = true, true }},
	{"no-recurse", func(o *Options) { archive(o); o.Recurse = false; o.PreserveHardLinks = true }},
	{"id0", func(o *Options) {
		archive(o)
		o.ID0Names = o.Protocol >= 30
		o.IncRecurse = o.Protocol >= 30
		if o.IncRecurse {
			o.NdxStart = 1
		}
		o.PreserveHardLinks = true
	}},
}

func roundTripCases() []Options {
	var out []Options
	for proto := 27; proto <= 32; proto++ {
		for _, varint := range []bool{false, true} {
			if varint && proto < 30 {
				continue
			}
			for _, set := range optionSets {
				o := Options{Protocol: proto, VarintFlags: varint, SafeFlist: proto >= 30}
				set.set(&o)
				out = append(out, o)
			}
		}
	}
	return out
}

func caseName(o Options, i int) string {
	return fmt.Sprintf("p%d/varint=%v/%d", o.Protocol, o.VarintFlags, i%len(optionSets))
}

func TestRoundTrip(t *testing.T) {
	for i, o := range roundTripCases() {
		t.Run(caseName(o, i), func(t *testing.T) {
			in := sampleFiles()
			var buf bytes.Buffer
			w := wire.NewWriter(&buf)
			sent, err := WriteList(w, o, in, 0)
			if err != nil {
				t.Fatalf("WriteList: %v", err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			want := expected(in, o)

			// Entry by entry, in arrival order.
			d := NewDecoder(wire.NewReader(bytes.NewReader(buf.Bytes())), o)
			for j := range want {
				f, err := d.Next()
				if err != nil {
					t.Fatalf("entry %d: %v", j, err)
				}
				w := want[j]
				if !o.IncRecurse {
					// Names come with the id lists after the entries.
					w.User, w.Group = "", ""
				}
				if !reflect.DeepEqual(*f, w) {
					t.Fatalf("entry %d:\n got %+v\nwant %+v", j, *f, w)
				}
			}
			if _, err := d.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the last entry: %v, want io.EOF", err)
			}

			// As a whole list: sorted, names resolved, trailer consumed.
			r := wire.NewReader(bytes.NewReader(buf.Bytes()))
			l, err := ReadList(r, o)
			if err != nil {
				t.Fatalf("ReadList: %v", err)
			}
			if r.Count() != int64(buf.Len()) {
				t.Errorf("ReadList consumed %d of %d bytes", r.Count(), buf.Len())
			}
			SortAndClean(want, o.Protocol, false)
			if !reflect.DeepEqual(l.Files, want) {
				for j := range min(len(l.Files), len(want)) {
					if !reflect.DeepEqual(l.Files[j], want[j]) {
						t.Fatalf("sorted entry %d:\n got %+v\nwant %+v", j, l.Files[j], want[j])
					}
				}
				t.Fatalf("got %d entries, want %d", len(l.Files), len(want))
			}
			for j := range sent.Files {
				if sent.Files[j].Name != l.Files[j].Name {
					t.Fatalf("sender and receiver disagree at %d: %q vs %q", j, sent.Files[j].Name, l.Files[j].Name)
				}
			}
		})
	}
}

// TestIOError covers every way a sender's io_error reaches the receiver.
func TestIOError(t *testing.T) {
	cases := []struct {
		name    string
		o       Options
		mux     bool
		inList  bool // carried by the list itself rather than MSG_IO_ERROR
		errByte int32
	}{
		{"p29 trailer word", Options{Protocol: 29}, false, true, 1},
		{"p30 safe marker", Options{Protocol: 30, SafeFlist: true}, true, true, 2},
		{"p31 implied safe", Options{Protocol: 31}, true, true, 3},
		{"p32 varint", Options{Protocol: 32, VarintFlags: true, SafeFlist: true}, true, true, 1},
		{"p30 message", Options{Protocol: 30}, true, false, 1},
		{"p30 varint unsafe", Options{Protocol: 30, VarintFlags: true}, true, false, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := wire.NewWriter(&buf)
			if tc.mux {
				if err := w.StartMultiplex(); err != nil {
					t.Fatal(err)
				}
			}
			files := []File{{Name: ".", Mode: ModeDir | 0o755}, {Name: "f", Mode: ModeRegular | 0o644}}
			if _, err := WriteList(w, tc.o, files, tc.errByte|0x10); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			r := wire.NewReader(&buf)
			var msgErr int32
			if tc.mux {
				r.StartMultiplex()
				r.OnMessage = func(tag wire.MsgTag, p []byte) error {
					if tag != wire.MsgIOError || len(p) != 4 {
						return fmt.Errorf("unexpected message %d", tag)
					}
					msgErr = int32(p[0])
					return nil
				}
			}
			l, err := ReadList(r, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if tc.mux && !tc.inList {
				// The message follows the list; reading on meets it.
				if _, err := r.ReadByte(); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
					t.Fatalf("after the list: %v", err)
				}
			}
			got := l.IOError
			if !tc.inList {
				if got != 0 {
					t.Errorf("list io_error %d, want 0 (sent as a message)", got)
				}
				got = msgErr & ioErrValidMask
			}
			if got != tc.errByte {
				t.Errorf("io_error %d, want %d (unknown bits masked)", got, tc.errByte)
			}
		})
	}
}
