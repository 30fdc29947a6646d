package flist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Option bits of the fuzz target's second argument.
const (
	fzVarint = 1 << iota
	fzArchive
	fzHardLinks
	fzChecksum
	fzNumeric
	fzRelative
	fzIncRecurse
	fzAtimes
)

func fuzzOptions(proto, bits byte) Options {
	o := Options{Protocol: 27 + int(proto%6)}
	p := o.Protocol
	o.VarintFlags = bits&fzVarint != 0 && p >= 30
	o.SafeFlist = p >= 30 && bits&fzVarint != 0
	o.ID0Names = o.VarintFlags
	if bits&fzArchive != 0 {
		archive(&o)
	}
	o.PreserveHardLinks = bits&fzHardLinks != 0
	if bits&fzChecksum != 0 {
		o.AlwaysChecksum, o.ChecksumLen = true, 16
	}
	o.NumericIDs = bits&fzNumeric != 0
	o.RelativePaths = bits&fzRelative != 0
	if bits&fzIncRecurse != 0 && p >= 30 {
		o.IncRecurse, o.NdxStart = true, 1
	}
	o.PreserveAtimes = bits&fzAtimes != 0 && p >= 28
	// Keep a hostile list from using the fuzzer's memory.
	o.Limits = Limits{MaxFiles: 10_000, MaxNameBytes: 1 << 20}
	return o
}

// fuzzBits gives the option bits under which a capture was made.
func fuzzBits(sc scenario, ls *listStream) byte {
	o := optionsFor(sc, ls)
	var b byte
	if o.VarintFlags {
		b |= fzVarint
	}
	if o.PreserveUID {
		b |= fzArchive
	}
	if o.PreserveHardLinks {
		b |= fzHardLinks
	}
	if o.AlwaysChecksum {
		b |= fzChecksum
	}
	if o.NumericIDs {
		b |= fzNumeric
	}
	if o.RelativePaths {
		b |= fzRelative
	}
	if o.IncRecurse {
		b |= fzIncRecurse
	}
	if o.PreserveAtimes {
		b |= fzAtimes
	}
	return b
}

// FuzzDecode feeds arbitrary bytes to the list reader under varied
// options. Whatever it accepts must hold rsync's invariants, and must
// survive our encoder: re-encoded and read again, it is the same list.
func FuzzDecode(f *testing.F) {
	for i, o := range roundTripCases() {
		var buf bytes.Buffer
		w := wire.NewWriter(&buf)
		if _, err := WriteList(w, o, sampleFiles(), 0); err != nil {
			f.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			f.Fatal(err)
		}
		if i%len(optionSets) == 0 {
			var bits byte = fzArchive | fzHardLinks | fzChecksum
			if o.VarintFlags {
				bits |= fzVarint
			}
			if o.PreserveAtimes {
				bits |= fzAtimes
			}
			f.Add(buf.Bytes(), byte(o.Protocol-27), bits)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, proto, bits byte) {
		o := fuzzOptions(proto, bits)
		l, err := ReadList(wire.NewReader(bytes.NewReader(data)), o)
		if err != nil {
			return
		}
		checkInvariants(t, l, o)
		checkReencode(t, data, o, l)
	})
}

func checkInvariants(t *testing.T, l *List, o Options) {
	t.Helper()
	if len(l.Files) > o.Limits.MaxFiles {
		t.Fatalf("%d entries over the limit", len(l.Files))
	}
	for i := range l.Files {
		f := &l.Files[i]
		if err := checkName(f.Name, false, MaxPathLen-1); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if f.Size < 0 || f.ModNsec < 0 || f.ModNsec > maxWireNsec {
			t.Fatalf("entry %d: size %d nsec %d", i, f.Size, f.ModNsec)
		}
		if !validType(f.Mode) {
			t.Fatalf("entry %d: mode %o", i, f.Mode)
		}
		if len(f.LinkTarget) >= MaxPathLen || strings.IndexByte(f.LinkTarget, 0) >= 0 {
			t.Fatalf("entry %d: link target of %d bytes", i, len(f.LinkTarget))
		}
		if f.Checksum != nil && len(f.Checksum) != o.ChecksumLen {
			t.Fatalf("entry %d: checksum of %d bytes", i, len(f.Checksum))
		}
		if i > 0 && f.Flags&FlagRemoved == 0 && !o.RelativePaths {
			// Sorted, live entries strictly ascend.
			for j := i - 1; j >= 0; j-- {
				if l.Files[j].Flags&FlagRemoved == 0 {
					if Compare(&l.Files[j], f, o.Protocol) >= 0 && !(o.Protocol < 29 && l.Files[j].Name == f.Name) {
						t.Fatalf("entries %d %q and %d %q out of order", j, l.Files[j].Name, i, f.Name)
					}
					break
				}
			}
		}
	}
}

// checkReencode sends the accepted entries again with our encoder and
// reads them back; fields our encoder cannot reproduce from a hostile
// stream (inconsistent names, protocol-gated bits) are left out.
func checkReencode(t *testing.T, data []byte, o Options, l *List) {
	t.Helper()
	d := NewDecoder(wire.NewReader(bytes.NewReader(data)), o)
	var arrival []File
	for {
		f, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Decoder disagrees with ReadList: %v", err)
		}
		if f.Flags&FlagHLinked != 0 && o.Protocol >= 30 {
			if f.HLinkGroup < o.NdxStart {
				return // refers to an earlier list; not ours to redo
			}
			f.HLinkDev, f.HLinkIno = 0, int64(f.HLinkGroup)
		}
		arrival = append(arrival, *f)
	}
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	if _, err := WriteList(w, o, arrival, 0); err != nil {
		return // e.g. an empty symlink target, which we never send
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	l2, err := ReadList(wire.NewReader(bytes.NewReader(buf.Bytes())), o)
	if err != nil {
		t.Fatalf("our own encoding is rejected: %v", err)
	}
	norm := func(files []File) []File {
		out := append([]File(nil), files...)
		for i := range out {
			f := &out[i]
			f.User, f.Group = "", ""
			if o.Protocol < 31 {
				f.ModNsec = 0
			}
			if o.Protocol < 30 && o.RelativePaths {
				f.Flags &^= FlagContentDir
			}
		}
		return out
	}
	a, b := norm(l.Files), norm(l2.Files)
	if !reflect.DeepEqual(a, b) {
		for i := range min(len(a), len(b)) {
			if !reflect.DeepEqual(a[i], b[i]) {
				t.Fatalf("entry %d differs after re-encoding:\n first %+v\nsecond %+v", i, a[i], b[i])
			}
		}
		t.Fatalf("%d entries, %d after re-encoding", len(a), len(b))
	}
}

// TestWriteFuzzCorpus keeps testdata/fuzz/FuzzDecode seeded with the file
// lists of the stock-rsync recordings (run with -update).
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("only with -update")
	}
	dirs, err := filepath.Glob(filepath.Join("testdata", "captures", "*"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		c, err := loadCapture(dir)
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := findScenario(c.Scenario)
		ls, err := locateList(c, sc.pull)
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nbyte(%d)\nbyte(%d)\n",
			strconv.Quote(string(ls.data)), ls.proto-27, fuzzBits(sc, ls))
		name := filepath.Join(out, "capture-"+filepath.Base(dir))
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
