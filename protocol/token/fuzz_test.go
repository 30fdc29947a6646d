package token

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// fuzzBasis backs the blocks fuzzed streams refer to; one block size
// exceeds a stored deflate block to reach the protocol-30 quirk.
var fuzzBasis = func() []byte {
	b := make([]byte, 70000)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}()

// fuzzDecode decodes data as a session's token streams until it fails or
// ends, bounding the work a tiny input can cause.
func fuzzDecode(t *testing.T, data []byte, codec Codec, protocol int) {
	d := NewDecoder(wire.NewReader(bytes.NewReader(data)), codec, protocol)
	var out int
	for i := 0; i < 1<<10 && out < 16<<20; i++ {
		p, block, err := d.Next()
		if err == io.EOF {
			continue
		}
		if err != nil {
			if _, _, again := d.Next(); again == nil {
				t.Fatalf("error %v not sticky", err)
			}
			return
		}
		if block >= 0 {
			if p != nil {
				t.Fatal("block token with data")
			}
			if err := d.SeeBlock(fuzzBlock(block)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if len(p) == 0 {
			t.Fatal("empty literal")
		}
		out += len(p)
	}
}

func fuzzBlock(block int32) []byte { return fuzzBasis[:[]int{100, 700, 3000, 70000}[block%4]] }

// fuzzSeeds adds small valid sessions made by the encoder for codec.
func fuzzSeeds(f *testing.F, codec Codec) {
	r := rand.New(rand.NewPCG(7, 7))
	text, noise := textish(r, 2000), randBytes(r, 300)
	for _, protocol := range []int{30, 31} {
		var b bytes.Buffer
		w := wire.NewWriter(&b)
		_, level := ResolveLevel(codec, LevelNotSpecified)
		e := NewEncoder(w, codec, level, protocol)
		for _, file := range [][]any{
			{text, 0, 1, 2, noise, 5},
			{},
			{3, 4, text[:500]},
		} {
			for _, o := range file {
				switch o := o.(type) {
				case []byte:
					e.Literal(o)
				case int:
					e.Block(int32(o), fuzzBlock(int32(o)))
				}
			}
			e.End()
		}
		if err := w.Flush(); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
}

func FuzzDecodePlain(f *testing.F) {
	fuzzSeeds(f, None)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, data, None, 31)
	})
}

func FuzzDecodeZlib(f *testing.F) {
	fuzzSeeds(f, Zlib)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, data, Zlib, 31)
		fuzzDecode(t, data, Zlib, 30)
		fuzzDecode(t, data, ZlibX, 31)
	})
}

func FuzzDecodeZstd(f *testing.F) {
	fuzzSeeds(f, Zstd)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, data, Zstd, 31)
	})
}

func FuzzDecodeLZ4(f *testing.F) {
	fuzzSeeds(f, LZ4)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, data, LZ4, 31)
	})
}
