package wire

import (
	"bytes"
	"testing"
)

// FuzzVarint decodes arbitrary bytes as varints and varlongs; what decodes
// must re-encode to a value that decodes the same.
func FuzzVarint(f *testing.F) {
	f.Add([]byte{0x80, 0x80})
	f.Add([]byte{0xF0, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0xFC, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		if v, err := r.ReadVarint(); err == nil {
			got, err := NewReader(bytes.NewReader(AppendVarint(nil, v))).ReadVarint()
			if err != nil || got != v {
				t.Fatalf("varint %d re-decodes to %d, %v", v, got, err)
			}
		}
		for _, min := range []int{3, 4} { // the minimums rsync uses
			r := NewReader(bytes.NewReader(in))
			if v, err := r.ReadVarlong(min); err == nil {
				got, err := NewReader(bytes.NewReader(AppendVarlong(nil, v, min))).ReadVarlong(min)
				if err != nil || got != v {
					t.Fatalf("varlong %d re-decodes to %d, %v", v, got, err)
				}
			}
		}
	})
}

// FuzzNdx decodes arbitrary bytes as file-list indexes for protocol 31;
// every index it returns must be in range.
func FuzzNdx(f *testing.F) {
	f.Add([]byte{0x01, 0xFE, 0x01, 0x00, 0xFF, 0x05, 0x00})
	f.Add([]byte{0xFE, 0x80, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		c := NdxCodec{Protocol: 31}
		for range 64 {
			n, err := r.ReadNdx(&c)
			if err != nil {
				return
			}
			if n < -0x7FFFFFFF {
				t.Fatalf("index %d out of range", n)
			}
		}
	})
}

// FuzzDemux reads a multiplexed stream of arbitrary frames; it must never
// panic nor deliver more data than the input holds.
func FuzzDemux(f *testing.F) {
	f.Add([]byte{4, 0, 0, 7, 1, 2, 3, 4})
	f.Add([]byte{6, 0, 0, 9, 'h', 'i', 0, 0, 0, 0, 1, 0, 0, 7, 'x'})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		r.StartMultiplex()
		r.OnMessage = func(MsgTag, []byte) error { return nil }
		var total int
		buf := make([]byte, 7)
		for {
			n, err := r.Read(buf)
			total += n
			if err != nil {
				break
			}
		}
		if total > len(in) {
			t.Fatalf("delivered %d bytes from %d", total, len(in))
		}
	})
}
