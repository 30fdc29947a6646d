package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestReadStraddlingFrames reads every fixed and variable-length encoding
// from a stream cut into MSG_DATA frames of a few bytes, so that values
// straddle frame headers (stock senders cut frames anywhere).
func TestReadStraddlingFrames(t *testing.T) {
	var raw bytes.Buffer
	w := NewWriter(&raw)
	nc := NdxCodec{Protocol: 31}
	_ = w.WriteInt32(-123456789)
	_ = w.WriteUint16(0xBEEF)
	_ = w.WriteVarint(0x12345678)
	_ = w.WriteVarlong(0x123456789A, 3)
	_ = w.WriteVarlong30(29, 0x1122334455, 3) // longint form
	_ = w.WriteNdx(&nc, 5)
	_ = w.WriteNdx(&nc, 70000) // the 0xFE long form
	_ = w.WriteInt32(42)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	payload := raw.Bytes()
	for _, size := range []int{1, 2, 3, 5, 7} {
		var stream []byte
		for p := payload; len(p) > 0; {
			n := min(size, len(p))
			stream = binary.LittleEndian.AppendUint32(stream, uint32(mplexBase+MsgData)<<24|uint32(n))
			stream = append(stream, p[:n]...)
			p = p[n:]
		}
		r := NewReader(bytes.NewReader(stream))
		r.StartMultiplex()
		rc := NdxCodec{Protocol: 31}
		check := func(what string, got, want int64, err error) {
			t.Helper()
			if err != nil || got != want {
				t.Fatalf("frames of %d: %s = %#x, %v; want %#x", size, what, got, err, want)
			}
		}
		v32, err := r.ReadInt32()
		check("int32", int64(v32), -123456789, err)
		v16, err := r.ReadUint16()
		check("uint16", int64(v16), 0xBEEF, err)
		vi, err := r.ReadVarint()
		check("varint", int64(vi), 0x12345678, err)
		vl, err := r.ReadVarlong(3)
		check("varlong", vl, 0x123456789A, err)
		vl, err = r.ReadVarlong30(29, 3)
		check("longint", vl, 0x1122334455, err)
		n, err := r.ReadNdx(&rc)
		check("ndx", int64(n), 5, err)
		n, err = r.ReadNdx(&rc)
		check("long ndx", int64(n), 70000, err)
		v32, err = r.ReadInt32()
		check("last int32", int64(v32), 42, err)
	}
}
