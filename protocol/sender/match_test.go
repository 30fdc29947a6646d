package sender

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/token"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// makeSums describes basis as rsync's generator does (generator.c
// generate_and_send_sums) for the given block length.
func makeSums(basis []byte, blen int32, s2 int32, blk *checksum.Block) *Sums {
	s := &Sums{BLength: blen, S2Length: s2}
	for off := 0; off < len(basis); off += int(blen) {
		end := min(off+int(blen), len(basis))
		p := basis[off:end]
		s.Count++
		s.Sum1 = append(s.Sum1, checksum.Rolling1(p))
		s.Sum2 = append(s.Sum2, blk.Sum(nil, p)[:s2]...)
		if end-off < int(blen) {
			s.Remainder = int32(end - off)
		}
	}
	return s
}

// decode rebuilds a file from a token stream against basis, and checks
// the whole-file sum that follows it.
func decode(t *testing.T, stream []byte, codec token.Codec, proto int, basis []byte, blen int32, fileSum []byte, inplace bool) ([]byte, int) {
	t.Helper()
	r := wire.NewReader(bytes.NewReader(stream))
	dec := token.NewDecoder(r, codec, proto)
	var out []byte
	blocks := 0
	for {
		data, block, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if block < 0 {
			out = append(out, data...)
			continue
		}
		off := int(block) * int(blen)
		if off >= len(basis) {
			t.Fatalf("block %d beyond basis", block)
		}
		if inplace && off < len(out) {
			t.Fatalf("inplace: block %d (offset %d) already overwritten at %d", block, off, len(out))
		}
		p := basis[off:min(off+int(blen), len(basis))]
		if err := dec.SeeBlock(p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p...)
		blocks++
	}
	sum := make([]byte, len(fileSum))
	if err := r.ReadFull(sum); err != nil {
		t.Fatalf("file sum: %v", err)
	}
	if !bytes.Equal(sum, fileSum) {
		t.Errorf("file sum %x, want %x", sum, fileSum)
	}
	return out, blocks
}

func randBytes(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

// edit returns basis with insertions, deletions and overwrites.
func edit(rng *rand.Rand, basis []byte, n int) []byte {
	out := append([]byte(nil), basis...)
	for range n {
		if len(out) == 0 {
			break
		}
		at := rng.IntN(len(out))
		switch rng.IntN(3) {
		case 0:
			ins := randBytes(rng, 1+rng.IntN(100))
			out = append(out[:at], append(ins, out[at:]...)...)
		case 1:
			out = append(out[:at], out[min(at+1+rng.IntN(100), len(out)):]...)
		default:
			copy(out[at:], randBytes(rng, 1+rng.IntN(50)))
		}
	}
	return out
}

func TestMatcher(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	big := randBytes(rng, 300000)
	cases := []struct {
		name          string
		basis, target []byte
		blen          int32
		minBlocks     int
	}{
		{"identical", big, big, 700, 428},
		{"edited", big, edit(rng, big, 20), 700, 300},
		{"prefix inserted", big, append([]byte("hello"), big...), 1000, 299},
		{"head deleted", big, big[12345:], 1000, 280},
		{"no basis", nil, big, 700, 0},
		{"empty target", big, nil, 700, 0},
		{"tiny", []byte("abc"), []byte("xabcx"), 700, 0},
		{"short tail block", big[:10500], big[:10500], 1000, 11},
		{"repeats", bytes.Repeat([]byte("abcdefgh"), 5000), bytes.Repeat([]byte("abcdefgh"), 5001), 64, 600},
		{"long literal run", big[:50000], append(randBytes(rng, 200000), big[:50000]...), 700, 70},
	}
	for _, codec := range []token.Codec{token.None, token.Zlib, token.ZlibX, token.LZ4, token.Zstd} {
		for _, proto := range []int{27, 30, 32} {
			kind := checksum.Default(proto)
			for _, inplace := range []bool{false, true} {
				for _, c := range cases {
					t.Run(fmt.Sprintf("%v/%d/%v/%s", codec, proto, inplace, c.name), func(t *testing.T) {
						blk := checksum.NewBlock(kind, proto, 12345)
						s := makeSums(c.basis, c.blen, 16, blk)
						var buf bytes.Buffer
						w := wire.NewWriter(&buf)
						_, level := token.ResolveLevel(codec, token.LevelNotSpecified)
						enc := token.NewEncoder(w, codec, level, proto)
						m := newMatcher(blk)
						h := checksum.NewFile(kind, proto, 12345)
						if err := m.send(bytes.NewReader(c.target), int64(len(c.target)), s, enc, h, inplace); err != nil {
							t.Fatal(err)
						}
						sum := h.Sum(nil)
						if _, err := w.Write(sum); err != nil {
							t.Fatal(err)
						}
						must(t, w.Flush())
						want := checksum.NewFile(kind, proto, 12345)
						want.Write(c.target)
						if !bytes.Equal(sum, want.Sum(nil)) {
							t.Fatalf("file sum %x, want %x", sum, want.Sum(nil))
						}
						got, blocks := decode(t, buf.Bytes(), codec, proto, c.basis, c.blen, sum, inplace)
						if !bytes.Equal(got, c.target) {
							t.Fatalf("rebuilt %d bytes differ from the %d-byte target", len(got), len(c.target))
						}
						if !inplace && blocks < c.minBlocks {
							t.Errorf("%d blocks matched, want at least %d", blocks, c.minBlocks)
						}
						if m.literal+m.matched != int64(len(c.target)) {
							t.Errorf("literal %d + matched %d != %d", m.literal, m.matched, len(c.target))
						}
					})
				}
			}
		}
	}
}

// TestLiteralRuns checks the runs handed to the token coder stay near
// rsync's bound (blength + CHUNK_SIZE) while scanning for matches.
func TestLiteralRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	basis := randBytes(rng, 100000)
	target := append(randBytes(rng, 500000), basis...)
	blk := checksum.NewBlock(checksum.MD5, 31, 0)
	s := makeSums(basis, 700, 16, blk)
	var rec runRecorder
	m := newMatcher(blk)
	if err := m.send(bytes.NewReader(target), int64(len(target)), s, &rec, checksum.NewFile(checksum.MD5, 31, 0), false); err != nil {
		t.Fatal(err)
	}
	for _, n := range rec.runs[:len(rec.runs)-1] {
		if n > 700+chunkSize+1 {
			t.Errorf("literal run of %d bytes", n)
		}
	}
	if rec.blocks < 140 {
		t.Errorf("%d blocks matched", rec.blocks)
	}
}

type runRecorder struct {
	runs   []int
	blocks int
}

func (r *runRecorder) Literal(p []byte) error    { r.runs = append(r.runs, len(p)); return nil }
func (r *runRecorder) Block(int32, []byte) error { r.blocks++; return nil }
func (r *runRecorder) End() error                { r.runs = append(r.runs, 0); return nil }

// shrinking is a file that ends early: the window pads with zeros and
// keeps the error.
type shrinking struct{ data []byte }

func (s shrinking) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(s.data)) {
		return 0, io.EOF
	}
	n := copy(p, s.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestShrunkFile(t *testing.T) {
	blk := checksum.NewBlock(checksum.MD5, 31, 0)
	m := newMatcher(blk)
	var rec runRecorder
	if err := m.send(shrinking{[]byte("short")}, 1000, &Sums{}, &rec, checksum.NewFile(checksum.MD5, 31, 0), false); err != nil {
		t.Fatal(err)
	}
	if m.win.err == nil || m.literal != 1000 {
		t.Errorf("err %v, literal %d", m.win.err, m.literal)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
