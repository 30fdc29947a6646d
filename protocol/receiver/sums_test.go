package receiver

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// TestWriteSums checks writeSums against the sums computed block by block,
// for layouts around its read size and for a basis shorter than the head
// says (zero sums from the short block on).
func TestWriteSums(t *testing.T) {
	tests := []struct {
		size, have  int // what the head describes, what the file holds
		blength, s2 int32
		name        string
	}{
		{1, 1, 700, 16, "one short block"},
		{700 * 3, 700 * 3, 700, 16, "exact blocks"},
		{sumsReadSize*3 + 5, sumsReadSize*3 + 5, 8192, 16, "several reads and a remainder"},
		{sumsReadSize + 1, sumsReadSize + 1, 1 << 17, 2, "largest blocks"},
		{1 << 20, 1<<20 - 10000, 4096, 16, "basis shrank"},
		{1 << 20, 12345, 4096, 8, "basis shrank in the first read"},
		{100000, 0, 1000, 16, "basis emptied"},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.have)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			count := int32((tc.size + int(tc.blength) - 1) / int(tc.blength))
			remainder := int32(tc.size % int(tc.blength))
			bs := checksum.NewBlock(checksum.MD5, 31, 7)
			var want []byte
			for i := range count {
				n := int(tc.blength)
				if i == count-1 && remainder != 0 {
					n = int(remainder)
				}
				off := int(i) * int(tc.blength)
				b := make([]byte, n)
				if off+n <= len(data) {
					copy(b, data[off:])
				}
				p := binary.LittleEndian.AppendUint32(nil, checksum.Rolling1(b))
				p = bs.Sum(p, b)
				want = append(want, p[:4+tc.s2]...)
			}
			var got bytes.Buffer
			tr := &transfer{out: wire.NewWriter(&got), blockSum: checksum.NewBlock(checksum.MD5, 31, 7)}
			if err := tr.writeSums(bytes.NewReader(data), count, tc.blength, tc.s2, remainder); err != nil {
				t.Fatal(err)
			}
			if err := tr.out.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("sums differ (%d bytes, want %d)", got.Len(), len(want))
			}
		})
	}
}
