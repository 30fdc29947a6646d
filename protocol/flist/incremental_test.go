package flist

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// TestListReaderRecycle reads incremental lists of varying sizes, giving
// each back two lists later (as a receiver holds lists in flight): every
// list decodes whole and sorted, in recycled storage where a spare is big
// enough, and a recycled list's old entries never show through.
func TestListReaderRecycle(t *testing.T) {
	o := Options{Protocol: 31, VarintFlags: true, IncRecurse: true, Recurse: true}
	sizes := []int{40, 5, 90, 3, 1, 64, 64, 2, 100, 7}
	data, top, starts := incStream(t, o, len(sizes), func(d int) []File {
		n := sizes[d]
		files := make([]File, n)
		for i := range files {
			// Written in reverse: the reader must sort them.
			files[i] = File{Name: fmt.Sprintf("d%04d/f%03d", d, n-1-i), Mode: ModeRegular | 0o644, Size: int64(d*1000 + n - 1 - i), ModTime: 2}
		}
		return files
	})

	lr := NewListReader(wire.NewReader(bytes.NewReader(data)), o)
	if _, err := lr.Read(0, ""); err != nil {
		t.Fatal(err)
	}
	var held []*List
	reused := 0
	for d, n := range sizes {
		var spares []*File
		for _, s := range lr.spare.free {
			if cap(s) >= n {
				spares = append(spares, &s[:1][0])
			}
		}
		l, err := lr.Read(starts[d], top[d+1].Name)
		if err != nil {
			t.Fatalf("list %d: %v", d, err)
		}
		if len(l.Files) != n {
			t.Fatalf("list %d: %d entries, want %d", d, len(l.Files), n)
		}
		for i, f := range l.Files {
			if want := fmt.Sprintf("d%04d/f%03d", d, i); f.Name != want || f.Size != int64(d*1000+i) {
				t.Fatalf("list %d entry %d: %q size %d, want %q size %d", d, i, f.Name, f.Size, want, d*1000+i)
			}
		}
		if len(spares) > 0 {
			if first := &l.Files[:1][0]; first != spares[0] {
				t.Errorf("list %d of %d entries: not decoded into the spare that fits", d, n)
			}
			reused++
		}
		held = append(held, l)
		if len(held) > 2 {
			lr.Recycle(held[0].Files)
			held = held[1:]
		}
	}
	if reused < 3 {
		t.Errorf("only %d lists were decoded into recycled storage", reused)
	}
}

// incStream encodes an incremental recursion: a top list of dirs
// directories, then one list per directory with list(d)'s entries. It
// returns the stream, the top list and each directory list's first index.
func incStream(tb testing.TB, o Options, dirs int, list func(d int) []File) ([]byte, []File, []int32) {
	tb.Helper()
	top := []File{{Name: ".", Mode: ModeDir | 0o755, Flags: FlagTopDir | FlagContentDir, ModTime: 1_700_000_000}}
	for d := range dirs {
		top = append(top, File{Name: fmt.Sprintf("d%04d", d), Mode: ModeDir | 0o755, Flags: FlagContentDir, ModTime: 1_700_000_000})
	}
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	e := NewEncoder(w, o)
	encode := func(files []File) {
		for i := range files {
			if err := e.Encode(&files[i]); err != nil {
				tb.Fatal(err)
			}
		}
		if err := e.End(0); err != nil {
			tb.Fatal(err)
		}
	}
	encode(top)
	starts := make([]int32, dirs)
	next := int32(len(top)) + 1
	for d := range dirs {
		starts[d] = next
		e.StartList(next)
		files := list(d)
		encode(files)
		next += int32(len(files)) + 1
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), top, starts
}

// TestSpares: Get hands out a kept slice with room enough, emptied and
// only once; Put keeps nothing past Max.
func TestSpares(t *testing.T) {
	s := Spares[string]{Max: 10}
	s.Put(make([]string, 4))
	s.Put([]string{"a", "b", "c", "d", "e", "f"}) // 4+6 = Max: kept
	s.Put(make([]string, 1))                      // past Max: dropped
	for _, c := range []struct{ n, wantCap int }{{5, 6}, {5, 0}, {2, 4}, {0, 0}} {
		b := s.Get(c.n)
		if cap(b) != c.wantCap || len(b) != 0 {
			t.Fatalf("Get(%d): len %d cap %d, want an empty slice of cap %d", c.n, len(b), cap(b), c.wantCap)
		}
		if b != nil && b[:1][0] != "" {
			t.Errorf("Get(%d) kept an element: %q", c.n, b[:1][0])
		}
	}
	if s.held != 0 {
		t.Errorf("%d held after every spare was taken", s.held)
	}

	// Empty slices are not kept, and no more than maxKept slices are, so
	// that Get's scan stays short whatever lists a peer sends.
	s = Spares[string]{Max: 1 << 20}
	s.Put(nil)
	s.Put(make([]string, 0))
	for range maxKept + 10 {
		s.Put(make([]string, 1))
	}
	if len(s.free) != maxKept || s.held != maxKept {
		t.Errorf("%d slices (%d elements) kept, want %d", len(s.free), s.held, maxKept)
	}
	if b := s.Get(2); b != nil {
		t.Errorf("Get(2) = cap %d, want nil", cap(b))
	}
}
