package token

import (
	"bytes"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// mixedData returns n bytes of interleaved text, noise and runs.
func mixedData(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	var b []byte
	for len(b) < n {
		switch r.IntN(4) {
		case 0, 1:
			b = append(b, textish(r, 4096)...)
		case 2:
			b = append(b, randBytes(r, 4096)...)
		case 3:
			b = append(b, bytes.Repeat([]byte{byte(r.IntN(256))}, 4096)...)
		}
	}
	return b[:n]
}

// encodeLiteral sends data as one file's literal data in ChunkSize pieces,
// as a stock sender without basis does.
func encodeLiteral(e *Encoder, data []byte) error {
	for len(data) > 0 {
		n := min(len(data), ChunkSize)
		if err := e.Literal(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return e.End()
}

var benchCodecs = []Codec{None, Zlib, ZlibX, Zstd, LZ4}

func BenchmarkEncode(b *testing.B) {
	data := mixedData(1 << 20)
	for _, codec := range benchCodecs {
		b.Run(codec.String(), func(b *testing.B) {
			_, level := ResolveLevel(codec, LevelNotSpecified)
			w := wire.NewWriter(io.Discard)
			e := NewEncoder(w, codec, level, 31)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := encodeLiteral(e, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	data := mixedData(1 << 20)
	const files = 16
	for _, codec := range benchCodecs {
		b.Run(codec.String(), func(b *testing.B) {
			_, level := ResolveLevel(codec, LevelNotSpecified)
			var buf bytes.Buffer
			w := wire.NewWriter(&buf)
			e := NewEncoder(w, codec, level, 31)
			for range files {
				if err := encodeLiteral(e, data); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			session := buf.Bytes()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var d *Decoder
			var left int
			for b.Loop() {
				if left == 0 {
					d = NewDecoder(wire.NewReader(bytes.NewReader(session)), codec, 31)
					left = files
				}
				n := 0
				for {
					p, _, err := d.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n += len(p)
				}
				if n != len(data) {
					b.Fatalf("decoded %d bytes", n)
				}
				left--
			}
		})
	}
}

// TestDecodeMemoryBounded decodes a 256 MiB file (zeros: the best case for
// a zip bomb) and checks that the decoder streams it in bounded memory.
func TestDecodeMemoryBounded(t *testing.T) {
	const size = 256 << 20
	zeros := make([]byte, ChunkSize)
	for _, codec := range []Codec{Zlib, ZlibX, Zstd, LZ4, None} {
		var buf bytes.Buffer
		w := wire.NewWriter(&buf)
		e := NewEncoder(w, codec, 1, 31)
		for range size / ChunkSize {
			if err := e.Literal(zeros); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.End(); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		stream := buf.Bytes()
		if codec == None {
			stream = nil // plain is 256 MiB on the wire: generate it instead
		}
		var src io.Reader = bytes.NewReader(stream)
		if codec == None {
			src = &plainZeros{left: size}
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d := NewDecoder(wire.NewReader(src), codec, 31)
		var n int
		for {
			p, _, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%v: %v", codec, err)
			}
			n += len(p)
		}
		runtime.ReadMemStats(&after)
		if n != size {
			t.Fatalf("%v: decoded %d bytes, want %d", codec, n, size)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%v: %d MiB from %d bytes, %d KiB allocated", codec, size>>20, len(stream), alloc>>10)
		if alloc > 8<<20 {
			t.Errorf("%v: decoding %d MiB from %d bytes allocated %d bytes", codec, size>>20, len(stream), alloc)
		}
	}
}

// plainZeros generates a plain token stream of one file of zeros.
type plainZeros struct {
	left int
	hdr  []byte
	data int
	done bool
}

func (z *plainZeros) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(z.hdr) > 0:
			c := copy(p[n:], z.hdr)
			z.hdr = z.hdr[c:]
			n += c
		case z.data > 0:
			c := min(z.data, len(p)-n)
			clear(p[n : n+c])
			z.data -= c
			n += c
		case z.left > 0:
			c := min(z.left, ChunkSize)
			z.hdr = le32(int32(c))
			z.data = c
			z.left -= c
		case !z.done:
			z.hdr = le32(0)
			z.done = true
		default:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
	}
	return n, nil
}

// TestDecodeNoAllocs checks that once warm a decoder allocates nothing per
// file, token or chunk.
func TestDecodeNoAllocs(t *testing.T) {
	delta := testFiles()["delta"][0]
	for _, codec := range benchCodecs {
		var fs []*file
		for range 20 {
			fs = append(fs, delta)
		}
		_, level := ResolveLevel(codec, LevelNotSpecified)
		stream := encodeFiles(t, codec, level, 31, fs)
		d := NewDecoder(wire.NewReader(bytes.NewReader(stream)), codec, 31)
		decode := func() {
			for {
				_, block, err := d.Next()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if block >= 0 {
					bd, _ := delta.blockData(block)
					if err := d.SeeBlock(bd); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		decode() // warm up: buffers are allocated on first use
		if n := testing.AllocsPerRun(18, decode); n != 0 {
			t.Errorf("%v: %v allocations per file", codec, n)
		}
	}
}

// TestEncodeNoAllocs checks that once warm an encoder allocates nothing per
// file, token or chunk.
func TestEncodeNoAllocs(t *testing.T) {
	delta := testFiles()["delta"][0]
	for _, codec := range benchCodecs {
		_, level := ResolveLevel(codec, LevelNotSpecified)
		w := wire.NewWriter(io.Discard)
		e := NewEncoder(w, codec, level, 31)
		encode := func() {
			for _, o := range delta.ops {
				var err error
				if o.lit != nil {
					err = e.Literal(o.lit)
				} else {
					bd, _ := delta.blockData(o.block)
					err = e.Block(o.block, bd)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := e.End(); err != nil {
				t.Fatal(err)
			}
		}
		encode()
		if n := testing.AllocsPerRun(10, encode); n != 0 {
			t.Errorf("%v: %v allocations per file", codec, n)
		}
	}
}
