package sender

import (
	"bytes"
	"io"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/token"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// BenchmarkWhole sends a file without a basis (literal data only).
func BenchmarkWhole(b *testing.B) {
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	w := wire.NewWriter(io.Discard)
	_ = w.StartMultiplex()
	enc := token.NewEncoder(w, token.None, 0, 32)
	m := newMatcher(checksum.NewBlock(checksum.XXH128, 32, 1))
	h := checksum.NewFile(checksum.XXH128, 32, 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := m.send(bytes.NewReader(data), int64(len(data)), &Sums{}, enc, h, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDelta matches a file against a basis that differs in one place.
func BenchmarkDelta(b *testing.B) {
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	blk := checksum.NewBlock(checksum.XXH128, 32, 1)
	s := makeSums(data, 8192, 2, blk)
	data2 := append([]byte(nil), data...)
	copy(data2[1000000:], "xxxxxxxxxxxxxxxxxxxxxx")
	w := wire.NewWriter(io.Discard)
	_ = w.StartMultiplex()
	enc := token.NewEncoder(w, token.None, 0, 32)
	m := newMatcher(blk)
	h := checksum.NewFile(checksum.XXH128, 32, 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := m.send(bytes.NewReader(data2), int64(len(data2)), s, enc, h, false); err != nil {
			b.Fatal(err)
		}
	}
}
