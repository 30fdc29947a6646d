package token

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// op is one step of a file's token stream: literal data, or a block of
// the basis when lit is nil.
type op struct {
	lit   []byte
	block int32
}

// file is a file's token stream and the basis its blocks refer to.
type file struct {
	basis  []byte
	blen   int
	ops    []op
	expect []byte // the file's content, filled in by resolve
}

func (f *file) blockData(i int32) ([]byte, error) {
	if f.blen <= 0 || i < 0 {
		return nil, fmt.Errorf("block %d without basis", i)
	}
	off := int(i) * f.blen
	if off >= len(f.basis) {
		return nil, fmt.Errorf("block %d beyond basis of %d bytes", i, len(f.basis))
	}
	return f.basis[off:min(off+f.blen, len(f.basis))], nil
}

func (f *file) resolve(t testing.TB) {
	var b []byte
	for _, o := range f.ops {
		if o.lit != nil {
			b = append(b, o.lit...)
			continue
		}
		d, err := f.blockData(o.block)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, d...)
	}
	f.expect = b
}

func encodeFiles(t testing.TB, codec Codec, level, protocol int, files []*file) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	e := NewEncoder(w, codec, level, protocol)
	for _, f := range files {
		for _, o := range f.ops {
			var err error
			if o.lit != nil {
				err = e.Literal(o.lit)
			} else {
				d, derr := f.blockData(o.block)
				if derr != nil {
					t.Fatal(derr)
				}
				err = e.Block(o.block, d)
			}
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
		}
		if err := e.End(); err != nil {
			t.Fatalf("encode end: %v", err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeFile decodes one file's stream and rebuilds its content; blocks
// lists the block tokens seen.
func decodeFile(d *Decoder, f *file) (content []byte, blocks []int32, err error) {
	for {
		data, block, err := d.Next()
		if err == io.EOF {
			return content, blocks, nil
		}
		if err != nil {
			return content, blocks, err
		}
		if block < 0 {
			if len(data) == 0 {
				return content, blocks, errors.New("empty literal")
			}
			content = append(content, data...)
			continue
		}
		if data != nil {
			return content, blocks, errors.New("block with data")
		}
		blocks = append(blocks, block)
		bd, err := f.blockData(block)
		if err != nil {
			return content, blocks, err
		}
		if err := d.SeeBlock(bd); err != nil {
			return content, blocks, err
		}
		content = append(content, bd...)
	}
}

func checkDecode(t *testing.T, stream []byte, codec Codec, protocol int, files []*file) {
	t.Helper()
	d := NewDecoder(wire.NewReader(bytes.NewReader(stream)), codec, protocol)
	for i, f := range files {
		got, blocks, err := decodeFile(d, f)
		if err != nil {
			t.Fatalf("file %d: decode: %v", i, err)
		}
		if !bytes.Equal(got, f.expect) {
			t.Fatalf("file %d: decoded %d bytes, want %d (first difference at %d)", i, len(got), len(f.expect), firstDiff(got, f.expect))
		}
		var want []int32
		for _, o := range f.ops {
			if o.lit == nil {
				want = append(want, o.block)
			}
		}
		if fmt.Sprint(blocks) != fmt.Sprint(want) {
			t.Fatalf("file %d: blocks %v, want %v", i, short(blocks), short(want))
		}
	}
	if _, _, err := d.Next(); err == nil || err == io.EOF {
		t.Fatalf("reading past the last file: got %v, want an error", err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func short(b []int32) []int32 {
	if len(b) > 20 {
		return b[:20]
	}
	return b
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// textish returns compressible data: words from a small vocabulary.
func textish(r *rand.Rand, n int) []byte {
	words := []string{"rsync ", "token ", "stream ", "deflate ", "block ", "match ", "literal ", "\n", "zstd ", "lz4 "}
	var b []byte
	for len(b) < n {
		b = append(b, words[r.IntN(len(words))]...)
	}
	return b[:n]
}

// testFiles builds the sessions every codec must round-trip.
func testFiles() map[string][]*file {
	r := rand.New(rand.NewPCG(1, 2))
	basis := append(randBytes(r, 50000), textish(r, 50000)...)
	blocks := func(ids ...int32) []op {
		var o []op
		for _, id := range ids {
			o = append(o, op{block: id})
		}
		return o
	}
	seq := func(from, n int32) []op {
		var o []op
		for i := range n {
			o = append(o, op{block: from + i})
		}
		return o
	}
	lit := func(b []byte) op { return op{lit: b} }

	smallBasis := textish(r, 140000) // 70000 blocks of 2 bytes
	var delta []op
	delta = append(delta, lit(textish(r, 100)))
	delta = append(delta, seq(3, 10)...)
	delta = append(delta, lit(randBytes(r, 5000)))
	delta = append(delta, blocks(0, 1, 2, 90, 40, 41, 42, 5, 5, 5)...)
	delta = append(delta, lit(textish(r, 40000)))
	delta = append(delta, blocks(99)...)
	delta = append(delta, lit([]byte("x")))

	m := map[string][]*file{
		"empty":      {{}},
		"random":     {{ops: []op{lit(randBytes(r, 300000))}}},
		"repetitive": {{ops: []op{lit(bytes.Repeat([]byte("abcdefgh"), 100000))}}},
		"text":       {{ops: []op{lit(textish(r, 200000))}}},
		"onlyblocks": {{basis: basis, blen: 1000, ops: blocks(0, 1, 2, 3, 7, 99, 98, 50)}},
		"delta":      {{basis: basis, blen: 1000, ops: delta}},
		"longruns": {{basis: smallBasis, blen: 2, ops: append(append(append(
			seq(0, 70000), seq(100, 3)...), blocks(69999, 0, 64, 65, 129, 1000)...),
			lit([]byte("end")))}},
		"bigblocks": {{basis: append(textish(r, 100000), randBytes(r, 100000)...), blen: 100000,
			ops: []op{lit(textish(r, 1000)), {block: 0}, lit(textish(r, 3000)), {block: 1}, {block: 0}, lit(randBytes(r, 10))}}},
		"multi": {
			{ops: []op{lit(textish(r, 70000))}},
			{},
			{basis: basis, blen: 700, ops: append([]op{lit(randBytes(r, 100))}, seq(0, 20)...)},
			{ops: []op{lit(randBytes(r, 70000)), lit(textish(r, 5))}},
			{basis: basis, blen: 500, ops: append(seq(150, 5), lit(textish(r, 100)))},
			{ops: []op{lit(textish(r, 60000))}}, // after a dictionary restart
		},
	}
	for _, fs := range m {
		for _, f := range fs {
			f.resolve(nil)
		}
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	files := testFiles()
	codecs := []struct {
		codec Codec
		level int
	}{{None, 0}, {Zlib, 6}, {Zlib, 1}, {Zlib, 9}, {Zlib, 0}, {ZlibX, 6}, {Zstd, 3}, {Zstd, 1}, {Zstd, 19}, {LZ4, 0}}
	for _, c := range codecs {
		for _, proto := range []int{27, 29, 30, 31, 32} {
			if proto < 30 && (c.codec == Zstd || c.codec == LZ4 || c.codec == ZlibX) {
				continue
			}
			for name, fs := range files {
				t.Run(fmt.Sprintf("%v-%d/p%d/%s", c.codec, c.level, proto, name), func(t *testing.T) {
					stream := encodeFiles(t, c.codec, c.level, proto, fs)
					checkDecode(t, stream, c.codec, proto, fs)
				})
			}
		}
	}
}
