package wire

import (
	"bytes"
	"io"
	"testing"
)

// benchStream is 4 MiB of data multiplexed into MSG_DATA frames.
func benchStream(b *testing.B) ([]byte, []byte) {
	b.Helper()
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.StartMultiplex(); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return data, out.Bytes()
}

// BenchmarkMuxWrite is the sender's bulk path: data in 32 KiB writes.
func BenchmarkMuxWrite(b *testing.B) {
	data, _ := benchStream(b)
	w := NewWriter(io.Discard)
	if err := w.StartMultiplex(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for off := 0; off < len(data); off += 32 << 10 {
			if _, err := w.Write(data[off : off+32<<10]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMuxRead is the receiver's bulk path: a multiplexed stream read
// in 32 KiB chunks.
func BenchmarkMuxRead(b *testing.B) {
	data, stream := benchStream(b)
	buf := make([]byte, 32<<10)
	src := bytes.NewReader(stream)
	r := NewReader(src)
	r.StartMultiplex()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(stream)
		r.br.Reset(src)
		r.avail = 0
		for got := 0; got < len(data); got += len(buf) {
			if err := r.ReadFull(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReadVarint is the per-field path of file-list and token
// decoding: small integers through a multiplexed stream.
func BenchmarkReadVarint(b *testing.B) {
	const n = 1 << 16
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.StartMultiplex(); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := w.WriteVarint(int32(i * 37)); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	stream := out.Bytes()
	src := bytes.NewReader(stream)
	r := NewReader(src)
	r.StartMultiplex()
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(stream)
		r.br.Reset(src)
		r.avail = 0
		for i := range n {
			v, err := r.ReadVarint()
			if err != nil || v != int32(i*37) {
				b.Fatalf("varint %d: got %d, %v", i, v, err)
			}
		}
	}
}

// BenchmarkReadVarlong reads file sizes and times as protocol 30+ sends
// them (varlong, at least 3 bytes).
func BenchmarkReadVarlong(b *testing.B) {
	const n = 1 << 16
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.StartMultiplex(); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := w.WriteVarlong(int64(i)*1_000_003, 3); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	stream := out.Bytes()
	src := bytes.NewReader(stream)
	r := NewReader(src)
	r.StartMultiplex()
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(stream)
		r.br.Reset(src)
		r.avail = 0
		for i := range n {
			v, err := r.ReadVarlong(3)
			if err != nil || v != int64(i)*1_000_003 {
				b.Fatalf("varlong %d: got %d, %v", i, v, err)
			}
		}
	}
}
