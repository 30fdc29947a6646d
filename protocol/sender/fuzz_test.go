package sender

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

func sumHead(count, blen, s2, rem int32, sums ...byte) []byte {
	var b []byte
	for _, v := range []int32{count, blen, s2, rem} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return append(b, sums...)
}

// FuzzReadSums feeds arbitrary bytes to the sum head and sums decoder: it
// must return an error or a consistent description, never panic or
// allocate beyond what the input carries.
func FuzzReadSums(f *testing.F) {
	f.Add(uint8(31), sumHead(0, 0, 0, 0))
	f.Add(uint8(31), sumHead(1, 700, 2, 5, 1, 2, 3, 4, 9, 9))
	f.Add(uint8(27), sumHead(2, 700, 16, 0))
	f.Add(uint8(29), sumHead(-1, 700, 2, 0))
	f.Add(uint8(32), sumHead(0x7fffffff, 1<<17, 16, 0, 1, 2, 3))
	f.Fuzz(func(t *testing.T, proto uint8, in []byte) {
		p := 27 + int(proto)%6
		var s Sums
		err := s.ReadSums(wire.NewReader(bytes.NewReader(in)), p, 16)
		if err != nil {
			return
		}
		if s.Count < 0 || s.BLength < 0 || s.S2Length < 0 || s.S2Length > 16 || s.Remainder > s.BLength {
			t.Fatalf("accepted bad head %+v", s)
		}
		if len(s.Sum1) != int(s.Count) || len(s.Sum2) != int(s.Count)*int(s.S2Length) {
			t.Fatalf("count %d: %d weak, %d strong bytes", s.Count, len(s.Sum1), len(s.Sum2))
		}
		if need := 16 + int(s.Count)*(4+int(s.S2Length)); need > len(in) {
			t.Fatalf("decoded %d bytes of sums from %d input bytes", need, len(in))
		}
		// Reuse must give the same result.
		var again bytes.Buffer
		w := wire.NewWriter(&again)
		if err := s.writeHead(w); err != nil {
			t.Fatal(err)
		}
		must(t, w.Flush())
		if !bytes.Equal(again.Bytes(), in[:16]) {
			t.Fatalf("head echo %x, want %x", again.Bytes(), in[:16])
		}
	})
}
