package flist

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// benchFiles returns n entries shaped like a real tree: 100 files per
// directory, a few owners, times a second apart, sent in rsync's order.
func benchFiles(n int) []File {
	files := make([]File, 0, n)
	files = append(files, File{Name: ".", Mode: ModeDir | 0o755, Flags: FlagTopDir | FlagContentDir, ModTime: 1_700_000_000})
	for d := 0; len(files) < n; d++ {
		dir := fmt.Sprintf("data/%03d/dir%05d", d%50, d)
		files = append(files, File{Name: dir, Mode: ModeDir | 0o755, Flags: FlagContentDir, Size: 4096,
			ModTime: 1_700_000_000 + int64(d), UID: 1000, GID: 1000, User: "backup", Group: "backup"})
		for i := 0; i < 100 && len(files) < n; i++ {
			files = append(files, File{
				Name:    fmt.Sprintf("%s/file-%05d.log", dir, i),
				Mode:    ModeRegular | 0o644,
				Size:    int64(1000 + i*37),
				ModTime: 1_700_000_000 + int64(d*100+i),
				ModNsec: int32(i * 1_000_003),
				UID:     1000 + uint32(i%3), GID: 1000,
				User: []string{"backup", "www", "db"}[i%3], Group: "backup",
			})
		}
	}
	return files
}

var benchOpts = Options{Protocol: 32, VarintFlags: true, SafeFlist: true, ID0Names: true,
	PreserveUID: true, PreserveGID: true, PreserveLinks: true, PreserveDevices: true, PreserveSpecials: true, Recurse: true}

func encodeBench(b *testing.B, files []File) []byte {
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	if _, err := WriteList(w, benchOpts, files, 0); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func BenchmarkEncode100k(b *testing.B) {
	files := benchFiles(100_000)
	b.SetBytes(int64(len(encodeBench(b, files))))
	b.ReportAllocs()
	for b.Loop() {
		w := wire.NewWriter(io.Discard)
		e := NewEncoder(w, benchOpts)
		for i := range files {
			if err := e.Encode(&files[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := e.End(0); err != nil {
			b.Fatal(err)
		}
		if err := e.WriteTrailer(0); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode100k is the receiver's whole job: entries, id lists,
// sort and clean.
func BenchmarkDecode100k(b *testing.B) {
	data := encodeBench(b, benchFiles(100_000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		l, err := ReadList(wire.NewReader(bytes.NewReader(data)), benchOpts)
		if err != nil {
			b.Fatal(err)
		}
		if len(l.Files) != 100_000 {
			b.Fatalf("%d entries", len(l.Files))
		}
	}
}

// BenchmarkDecodeEntries100k decodes entries only, without sorting.
func BenchmarkDecodeEntries100k(b *testing.B) {
	data := encodeBench(b, benchFiles(100_000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var f File
	for b.Loop() {
		d := NewDecoder(wire.NewReader(bytes.NewReader(data)), benchOpts)
		n := 0
		for d.next(&f) == nil {
			n++
		}
		if n != 100_000 {
			b.Fatalf("%d entries", n)
		}
	}
}

func BenchmarkSort100k(b *testing.B) {
	files := benchFiles(100_000)
	work := make([]File, len(files))
	b.ReportAllocs()
	for b.Loop() {
		copy(work, files)
		SortAndClean(work, 32, false)
	}
}

// BenchmarkListReader1000x100 is the receiver's side of an incremental
// recursion over 1,000 directories of 100 files: a top list, then one
// short list per directory, each decoded, sorted and cleaned.
func BenchmarkListReader1000x100(b *testing.B) {
	o := benchOpts
	o.IncRecurse = true
	data, top, starts := incStream(b, o, 1000, func(d int) []File {
		files := make([]File, 100)
		for i := range files {
			files[i] = File{Name: fmt.Sprintf("d%04d/f%06d.dat", d, d*100+i), Mode: ModeRegular | 0o644,
				Size: int64(i * 5), ModTime: 1_700_000_000 + int64(i)}
		}
		return files
	})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		lr := NewListReader(wire.NewReader(bytes.NewReader(data)), o)
		if _, err := lr.Read(0, ""); err != nil {
			b.Fatal(err)
		}
		for d := range 1000 {
			l, err := lr.Read(starts[d], top[d+1].Name)
			if err != nil || len(l.Files) != 100 {
				b.Fatalf("list %d: %v", d, err)
			}
		}
	}
}
