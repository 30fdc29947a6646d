package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
)

func TestVarintEncoding(t *testing.T) {
	// Expected bytes worked out by hand from io.c's write_varint.
	cases := []struct {
		v    int32
		want []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{0x7F, []byte{0x7F}},
		{0x80, []byte{0x80, 0x80}},
		{0x3FFF, []byte{0xBF, 0xFF}},
		{0x4000, []byte{0xC0, 0x00, 0x40}},
		{0x1FFFFF, []byte{0xDF, 0xFF, 0xFF}},
		{0x200000, []byte{0xE0, 0x00, 0x00, 0x20}},
		{0x0FFFFFFF, []byte{0xEF, 0xFF, 0xFF, 0xFF}},
		{0x10000000, []byte{0xF0, 0x00, 0x00, 0x00, 0x10}},
		{-1, []byte{0xF0, 0xFF, 0xFF, 0xFF, 0xFF}},
	}
	for _, c := range cases {
		got := AppendVarint(nil, c.v)
		if !bytes.Equal(got, c.want) {
			t.Errorf("AppendVarint(%#x) = % x, want % x", c.v, got, c.want)
		}
		r := NewReader(bytes.NewReader(got))
		v, err := r.ReadVarint()
		if err != nil || v != c.v {
			t.Errorf("ReadVarint(% x) = %#x, %v; want %#x", got, v, err, c.v)
		}
	}
}

func TestVarlongRoundTrip(t *testing.T) {
	values := []int64{0, 1, 0x7F, 0x80, 0xFFFFFF, 0x1000000, 1 << 31, 1<<32 + 5, 1 << 40, 1<<56 - 1, 1 << 56, math.MaxInt64}
	for _, minBytes := range []int{1, 3, 4, 8} {
		// With fewer than 3 minimum bytes the encoding reaches only 7 bytes
		// (int_byte_extra tops out at 6); rsync uses 3 and 4.
		for _, v := range values {
			if minBytes < 3 && v >= 1<<48 {
				continue
			}
			b := AppendVarlong(nil, v, minBytes)
			if len(b) < minBytes {
				t.Errorf("varlong(%d, %d) is %d bytes", v, minBytes, len(b))
			}
			got, err := NewReader(bytes.NewReader(b)).ReadVarlong(minBytes)
			if err != nil || got != v {
				t.Errorf("varlong(%#x, min %d): % x decodes to %#x, %v", v, minBytes, b, got, err)
			}
		}
	}
}

func TestLongint(t *testing.T) {
	for _, v := range []int64{0, 5, 0x7FFFFFFF, 0x80000000, 1 << 40, -2} {
		b := AppendLongint(nil, v)
		wantLen := 12
		if v >= 0 && v <= 0x7FFFFFFF {
			wantLen = 4
		}
		if len(b) != wantLen {
			t.Errorf("longint(%d) is %d bytes, want %d", v, len(b), wantLen)
		}
		got, err := NewReader(bytes.NewReader(b)).ReadLongint()
		if err != nil || got != v {
			t.Errorf("longint(%d) decodes to %d, %v", v, got, err)
		}
	}
}

func TestNdxRoundTrip(t *testing.T) {
	seq := []int32{0, 1, 2, 5, 300, 299, 40000, 40001, 1 << 30, 3, NdxDone, NdxFlistEOF, NdxDelStats, -101, -5000, 7, NdxDone}
	for _, proto := range []int{27, 29, 30, 31, 32} {
		enc := NdxCodec{Protocol: proto}
		var b []byte
		for _, n := range seq {
			b = enc.Append(b, n)
		}
		r := NewReader(bytes.NewReader(b))
		dec := NdxCodec{Protocol: proto}
		for i, want := range seq {
			got, err := r.ReadNdx(&dec)
			if err != nil || got != want {
				t.Fatalf("proto %d: ndx %d = %d, %v; want %d", proto, i, got, err, want)
			}
		}
	}
}

func TestNdxDoneIsOneByte(t *testing.T) {
	c := NdxCodec{Protocol: 31}
	if b := c.Append(nil, NdxDone); !bytes.Equal(b, []byte{0}) {
		t.Errorf("NDX_DONE = % x, want 00", b)
	}
}

func TestMultiplexRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must(t, w.WriteString("raw line\n"))
	must(t, w.StartMultiplex())
	big := bytes.Repeat([]byte("0123456789"), 10000) // spans several frames
	must(t, w.WriteInt32(42))
	_, err := w.Write(big)
	must(t, err)
	must(t, w.WriteMsg(MsgInfo, []byte("hello\n")))
	must(t, w.WriteVarint(300))
	must(t, w.Flush())

	r := NewReader(&buf)
	line, err := r.ReadLine(100)
	if err != nil || line != "raw line" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	r.StartMultiplex()
	var msgs []string
	r.OnMessage = func(tag MsgTag, p []byte) error {
		if tag != MsgInfo {
			t.Errorf("tag %d", tag)
		}
		msgs = append(msgs, string(p))
		return nil
	}
	n, err := r.ReadInt32()
	if err != nil || n != 42 {
		t.Fatalf("ReadInt32 = %d, %v", n, err)
	}
	got := make([]byte, len(big))
	must(t, r.ReadFull(got))
	if !bytes.Equal(got, big) {
		t.Fatal("data differs after the multiplexed round trip")
	}
	v, err := r.ReadVarint()
	if err != nil || v != 300 {
		t.Fatalf("ReadVarint = %d, %v", v, err)
	}
	if len(msgs) != 1 || msgs[0] != "hello\n" {
		t.Errorf("messages = %q", msgs)
	}
	if _, err := r.ReadByte(); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Errorf("read past the end: %v", err)
	}
}

func TestFramesStayUnder32K(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must(t, w.StartMultiplex())
	_, err := w.Write(make([]byte, 100000))
	must(t, err)
	must(t, w.Flush())
	b := buf.Bytes()
	for len(b) > 0 {
		h := binary.LittleEndian.Uint32(b)
		n := int(h & 0xFFFFFF)
		if n > maxDataFrame {
			t.Fatalf("frame of %d bytes", n)
		}
		b = b[4+n:]
	}
}

func TestHostileFrames(t *testing.T) {
	frame := func(tag MsgTag, n int) []byte {
		return binary.LittleEndian.AppendUint32(nil, uint32(mplexBase+tag)<<24|uint32(n))
	}
	cases := map[string][]byte{
		"oversized message": frame(MsgInfo, MaxMsgLen+1),
		"bad tag":           {0, 0, 0, 1},
		"truncated data":    append(frame(MsgData, 10), 1, 2),
		"unexpected tag":    append(frame(MsgRedo, 4), 0, 0, 0, 0),
	}
	for name, in := range cases {
		r := NewReader(bytes.NewReader(in))
		r.StartMultiplex()
		if _, err := r.ReadInt32(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLineLimits(t *testing.T) {
	r := NewReader(bytes.NewReader(bytes.Repeat([]byte("a"), 5000)))
	if _, err := r.ReadLine(4096); err == nil {
		t.Error("over-long line accepted")
	}
	r = NewReader(bytes.NewReader([]byte("--server\x00-e.LsfxC\x00\x00")))
	for _, want := range []string{"--server", "-e.LsfxC", ""} {
		a, err := r.ReadArg(100)
		if err != nil || a != want {
			t.Errorf("ReadArg = %q, %v; want %q", a, err, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSmallReadsDoNotAllocate(t *testing.T) {
	data := bytes.Repeat([]byte{1, 0, 0, 0}, 1000)
	r := NewReader(bytes.NewReader(data))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.ReadInt32(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadInt32 allocates %v times per call", allocs)
	}
}

// readsLog is a connection that records, at each read, how many bytes the
// writer had put out by then.
type readsLog struct {
	in   io.Reader
	out  *bytes.Buffer
	seen []int
}

func (c *readsLog) Read(p []byte) (int, error) {
	c.seen = append(c.seen, c.out.Len())
	return c.in.Read(p)
}

// TestFlushBeforeRead (BeforeWait with a flush): output pending when the reader must read the
// connection goes out first; while input is buffered, output waits.
func TestFlushBeforeRead(t *testing.T) {
	var out bytes.Buffer
	conn := &readsLog{in: bytes.NewReader([]byte{1, 2, 3}), out: &out}
	r, w := NewReader(conn), NewWriter(&out)
	r.BeforeWait(w.Flush)
	for i, want := range []struct {
		write    []byte
		outAfter int // bytes written out after the ReadByte
		reads    int // connection reads so far
	}{
		{[]byte("ab"), 2, 1}, // empty buffer: flushed, then read
		{[]byte("cd"), 2, 1}, // input buffered: no flush, no read
		{[]byte("ef"), 2, 1}, // still buffered
		{[]byte("gh"), 8, 2}, // input gone: flushed before the read that meets EOF
	} {
		if _, err := w.Write(want.write); err != nil {
			t.Fatal(err)
		}
		_, err := r.ReadByte()
		if i < 3 && err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if i == 3 && err != io.EOF {
			t.Fatalf("read %d: %v, want EOF", i, err)
		}
		if out.Len() != want.outAfter || len(conn.seen) != want.reads {
			t.Errorf("after read %d: %d bytes out, %d connection reads; want %d, %d", i, out.Len(), len(conn.seen), want.outAfter, want.reads)
		}
	}
}

// nowConn is a connection whose input arrives in steps: ReadNow sees only
// what has arrived, Read waits for (takes) the next step.
type nowConn struct {
	steps   [][]byte
	arrived []byte
	waits   int
}

func (c *nowConn) ReadNow(p []byte) (int, error) {
	if len(c.arrived) == 0 && len(c.steps) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.arrived)
	c.arrived = c.arrived[n:]
	return n, nil
}

func (c *nowConn) Read(p []byte) (int, error) {
	if len(c.arrived) == 0 {
		if len(c.steps) == 0 {
			return 0, io.EOF
		}
		c.waits++
		c.arrived, c.steps = c.steps[0], c.steps[1:]
	}
	return c.ReadNow(p)
}

// pieces is idle work: n pieces, each writing one byte.
type pieces struct {
	n, done int
	w       *Writer
}

func (p *pieces) Pending() bool { return p.done < p.n }
func (p *pieces) Work() error {
	p.done++
	return p.w.WriteByte(byte('0' + p.done))
}

// TestWhileWaiting: idle work runs only when nothing has arrived, one
// piece at a time, each flushed; input that has arrived is read first;
// with no work left the reader waits.
func TestWhileWaiting(t *testing.T) {
	var out bytes.Buffer
	conn := &nowConn{steps: [][]byte{{1}, {2, 3}}, arrived: []byte{0}}
	r, w := NewReader(conn), NewWriter(&out)
	r.BeforeWait(w.Flush)
	idle := &pieces{n: 3, w: w}
	r.WhileWaiting(idle)
	for i, want := range []struct {
		b     byte
		done  int    // pieces of work done after the read
		out   string // bytes written out
		waits int
	}{
		{0, 0, "", 0},    // arrived: no work
		{1, 3, "123", 1}, // nothing arrived: all the work, then a wait
		{2, 3, "123", 2}, // no work left: a wait
		{3, 3, "123", 2}, // buffered
	} {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if b != want.b || idle.done != want.done || out.String() != want.out || conn.waits != want.waits {
			t.Errorf("read %d: byte %d, %d pieces done, out %q, %d waits; want %d, %d, %q, %d",
				i, b, idle.done, out.String(), conn.waits, want.b, want.done, want.out, want.waits)
		}
	}

	// Work stops as soon as input arrives: the connection delivers after
	// the first piece.
	out.Reset()
	conn = &nowConn{steps: [][]byte{{9}}}
	r = NewReader(conn)
	idle = &pieces{n: 5, w: NewWriter(&out)}
	r.BeforeWait(idle.w.Flush)
	r.WhileWaiting(arrival{idle, conn})
	if b, err := r.ReadByte(); err != nil || b != 9 || idle.done != 1 || conn.waits != 0 {
		t.Errorf("got %d, %v after %d pieces and %d waits; want 9 after 1 piece, no wait", b, err, idle.done, conn.waits)
	}

	// An error from the work ends the read with it.
	boom := errors.New("boom")
	r = NewReader(&nowConn{steps: [][]byte{{1}}})
	r.WhileWaiting(failing{boom})
	if _, err := r.ReadByte(); !errors.Is(err, boom) {
		t.Errorf("read with failing work: %v, want %v", err, boom)
	}

	// A plain reader has no ReadNow: no work, just the read.
	idle = &pieces{n: 2, w: NewWriter(io.Discard)}
	r = NewReader(bytes.NewReader([]byte{7}))
	r.WhileWaiting(idle)
	if b, err := r.ReadByte(); err != nil || b != 7 || idle.done != 0 {
		t.Errorf("plain reader: %d, %v after %d pieces; want 7 and no work", b, err, idle.done)
	}
}

// arrival is idle work after whose every piece the next input arrives.
type arrival struct {
	*pieces
	c *nowConn
}

func (a arrival) Work() error {
	a.c.arrived, a.c.steps = a.c.steps[0], a.c.steps[1:]
	return a.pieces.Work()
}

type failing struct{ err error }

func (failing) Pending() bool { return true }
func (f failing) Work() error { return f.err }

// sizesWriter records the size of each write that reaches the connection.
type sizesWriter struct{ sizes []int }

func (s *sizesWriter) Write(p []byte) (int, error) {
	s.sizes = append(s.sizes, len(p))
	return len(p), nil
}

// A stream of data goes to the connection two full frames per write, as
// rsync's output buffer does, not one write (and one wake-up of the peer)
// per 32 KiB frame.
func TestWritesCoalesceFrames(t *testing.T) {
	for _, mux := range []bool{false, true} {
		var c sizesWriter
		w := NewWriter(&c)
		if mux {
			must(t, w.StartMultiplex())
		}
		for range 300 {
			_, err := w.Write(make([]byte, 1000))
			must(t, err)
		}
		must(t, w.Flush())
		total := 0
		for i, n := range c.sizes {
			total += n
			if i < len(c.sizes)-1 && n < flushAt {
				t.Errorf("mux %v: write %d of %d bytes, want at least %d", mux, i, n, flushAt)
			}
		}
		if want := 300000 + 4*(300000+maxDataFrame-1)/maxDataFrame; mux && total != want || !mux && total != 300000 {
			t.Errorf("mux %v: %d bytes written, %v", mux, total, c.sizes)
		}
		if len(c.sizes) != 5 {
			t.Errorf("mux %v: %d writes %v, want 5", mux, len(c.sizes), c.sizes)
		}
	}
}
