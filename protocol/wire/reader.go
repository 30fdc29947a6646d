package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxMsgLen bounds the payload of an out-of-band (non-data) message. rsync's
// own messages are short (text lines, indexes, statistics).
const MaxMsgLen = 64 * 1024

// Reader reads rsync's encodings from a connection. Until StartMultiplex is
// called it reads the raw stream; afterwards it reads the payload of
// MSG_DATA frames and hands every other frame to OnMessage.
type Reader struct {
	br    *bufio.Reader
	src   source
	mux   bool
	avail int // payload bytes left in the current MSG_DATA frame

	// OnMessage receives out-of-band frames once multiplexing is on. An
	// error it returns ends the read that met the frame. Nil means any such
	// frame is a protocol error.
	OnMessage func(tag MsgTag, payload []byte) error

	msg     []byte
	count   int64   // data bytes delivered
	scratch [9]byte // small reads, kept here so they do not allocate
	hdr     [4]byte // frame headers
}

// NewReader reads from r through a buffer of its own.
func NewReader(r io.Reader) *Reader {
	rd := &Reader{src: source{r: r}}
	rd.br = bufio.NewReaderSize(&rd.src, 64*1024)
	return rd
}

// BeforeWait makes the reader call f whenever its buffer is empty and it
// must read the connection, where it may wait. A sender flushes its
// output there, as rsync's perform_io writes what it holds while it
// waits for input: answering many queued requests (a pull of small
// files, each one request) then writes full buffers, not a segment per
// request, and the peer never waits for output that sits here while this
// side waits for it. An error from f ends the read with it.
func (r *Reader) BeforeWait(f func() error) { r.src.before = f }

// NowReader is a connection that can tell, without waiting, what has
// arrived: ReadNow returns 0 and a nil error when nothing has.
type NowReader interface {
	io.Reader
	ReadNow(p []byte) (int, error)
}

// Idle is work a side can do while its peer has nothing for it, as
// rsync's sender sends file lists ahead while the client is quiet.
type Idle interface {
	// Pending reports whether there is work to do.
	Pending() bool
	// Work does one piece of it.
	Work() error
}

// WhileWaiting makes the reader do idle's work whenever its buffer is
// empty and nothing has arrived on the connection, before it waits; the
// BeforeWait function runs again after each piece. Nil stops it. It needs
// a NowReader connection: on any other, the reader just waits.
func (r *Reader) WhileWaiting(idle Idle) { r.src.idle = idle }

// source is the reader's connection; the buffer reads it only when empty.
type source struct {
	r      io.Reader
	before func() error
	idle   Idle
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.beforeWait(); err != nil {
		return 0, err
	}
	if s.idle != nil {
		if now, ok := s.r.(NowReader); ok {
			for s.idle.Pending() {
				if n, err := now.ReadNow(p); n > 0 || err != nil {
					return n, err
				}
				if err := s.idle.Work(); err != nil {
					return 0, err
				}
				if err := s.beforeWait(); err != nil {
					return 0, err
				}
			}
		}
	}
	return s.r.Read(p)
}

func (s *source) beforeWait() error {
	if s.before == nil {
		return nil
	}
	return s.before()
}

// StartMultiplex switches the reader to multiplexed input.
func (r *Reader) StartMultiplex() { r.mux = true }

// Count returns how many data bytes the reader has delivered.
func (r *Reader) Count() int64 { return r.count }

// nextFrame reads frame headers until a data frame with payload arrives,
// dispatching other frames.
func (r *Reader) nextFrame() error {
	for r.avail == 0 {
		// Not r.scratch: a value read through it may straddle frames, and
		// its first bytes are already there when the next header comes.
		h := r.hdr[:]
		if _, err := io.ReadFull(r.br, h); err != nil {
			return err
		}
		v := binary.LittleEndian.Uint32(h)
		n := int(v & 0xFFFFFF)
		code := int(v>>24) - mplexBase
		if code < 0 {
			return fmt.Errorf("wire: invalid multiplex header %#08x", v)
		}
		tag := MsgTag(code)
		if tag == MsgData {
			r.avail = n
			continue
		}
		if n > MaxMsgLen {
			return fmt.Errorf("wire: message %d of %d bytes exceeds %d", tag, n, MaxMsgLen)
		}
		if cap(r.msg) < n {
			r.msg = make([]byte, n)
		}
		p := r.msg[:n]
		if _, err := io.ReadFull(r.br, p); err != nil {
			return noEOF(err)
		}
		if r.OnMessage == nil {
			return fmt.Errorf("wire: unexpected message %d (%d bytes)", tag, n)
		}
		if err := r.OnMessage(tag, p); err != nil {
			return err
		}
	}
	return nil
}

// Read implements io.Reader over the data stream.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !r.mux {
		n, err := r.br.Read(p)
		r.count += int64(n)
		return n, err
	}
	if r.avail == 0 {
		if err := r.nextFrame(); err != nil {
			return 0, err
		}
	}
	if len(p) > r.avail {
		p = p[:r.avail]
	}
	n, err := r.br.Read(p)
	r.avail -= n
	r.count += int64(n)
	return n, noEOF(err)
}

// ReadByte implements io.ByteReader.
func (r *Reader) ReadByte() (byte, error) {
	if r.mux && r.avail == 0 {
		if err := r.nextFrame(); err != nil {
			return 0, err
		}
	}
	b, err := r.br.ReadByte()
	if err != nil {
		if r.mux {
			err = noEOF(err)
		}
		return 0, err
	}
	if r.mux {
		r.avail--
	}
	r.count++
	return b, nil
}

// ReadFull fills p or fails; a stream that ends early is io.ErrUnexpectedEOF.
func (r *Reader) ReadFull(p []byte) error {
	_, err := io.ReadFull(r, p)
	return noEOF(err)
}

// Discard skips n data bytes.
func (r *Reader) Discard(n int64) error {
	_, err := io.CopyN(io.Discard, r, n)
	return noEOF(err)
}

// ReadInt32 reads a little-endian 32-bit integer.
func (r *Reader) ReadInt32() (int32, error) {
	b := r.scratch[:4]
	if err := r.ReadFull(b); err != nil {
		return 0, err
	}
	return int32(binary.LittleEndian.Uint32(b)), nil
}

// ReadUint16 reads a little-endian 16-bit integer (rsync's shortint).
func (r *Reader) ReadUint16() (uint16, error) {
	b := r.scratch[:2]
	if err := r.ReadFull(b); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(b), nil
}

// ReadVarint reads rsync's variable-length 32-bit integer.
func (r *Reader) ReadVarint() (int32, error) {
	ch, err := r.ReadByte()
	if err != nil {
		return 0, noEOF(err)
	}
	extra := int(intByteExtra[ch/4])
	if extra == 0 {
		return int32(ch), nil
	}
	if extra >= 5 {
		return 0, ErrOverflow
	}
	b := r.scratch[:5]
	clear(b)
	if err := r.ReadFull(b[:extra]); err != nil {
		return 0, err
	}
	bit := byte(1) << (8 - extra)
	b[extra] = ch & (bit - 1)
	return int32(binary.LittleEndian.Uint32(b[:4])), nil
}

// ReadVarlong reads rsync's variable-length 64-bit integer written with at
// least minBytes bytes (1..8).
func (r *Reader) ReadVarlong(minBytes int) (int64, error) {
	if minBytes < 1 || minBytes > 8 {
		return 0, fmt.Errorf("wire: varlong min bytes %d out of range", minBytes)
	}
	// Reads go through r.scratch: a local array handed to ReadFull would
	// escape (io.ReadFull calls Read through an interface) and allocate.
	b := r.scratch[:minBytes]
	if err := r.ReadFull(b); err != nil {
		return 0, err
	}
	var u [9]byte
	first := b[0]
	copy(u[:], b[1:minBytes])
	extra := int(intByteExtra[first/4])
	if extra == 0 {
		u[minBytes-1] = first
	} else {
		if minBytes+extra > 9 {
			return 0, ErrOverflow
		}
		x := r.scratch[:extra]
		if err := r.ReadFull(x); err != nil {
			return 0, err
		}
		copy(u[minBytes-1:], x)
		bit := byte(1) << (8 - extra)
		u[minBytes+extra-1] = first & (bit - 1)
	}
	return int64(binary.LittleEndian.Uint64(u[:8])), nil
}

// ReadLongint reads the pre-protocol-30 64-bit form (see AppendLongint).
func (r *Reader) ReadLongint() (int64, error) {
	n, err := r.ReadInt32()
	if err != nil || n != -1 {
		return int64(n), err
	}
	b := r.scratch[:8]
	if err := r.ReadFull(b); err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(b)), nil
}

// ReadVarlong30 reads a 64-bit value as protocol proto encodes it: varlong
// from protocol 30, longint before.
func (r *Reader) ReadVarlong30(proto, minBytes int) (int64, error) {
	if proto < 30 {
		return r.ReadLongint()
	}
	return r.ReadVarlong(minBytes)
}

// ReadVString reads a string with a 1- or 2-byte length prefix (io.c
// read_vstring), refusing one longer than max bytes before allocating.
func (r *Reader) ReadVString(max int) (string, error) {
	b, err := r.ReadByte()
	if err != nil {
		return "", noEOF(err)
	}
	n := int(b)
	if b&0x80 != 0 {
		lo, err := r.ReadByte()
		if err != nil {
			return "", noEOF(err)
		}
		n = int(b&0x7F)<<8 | int(lo)
	}
	if n > max {
		return "", fmt.Errorf("wire: string of %d bytes exceeds %d", n, max)
	}
	p := make([]byte, n)
	if err := r.ReadFull(p); err != nil {
		return "", err
	}
	return string(p), nil
}

// ReadNdx reads a file-list index with c's state.
func (r *Reader) ReadNdx(c *NdxCodec) (int32, error) {
	if c.Protocol < 30 {
		return r.ReadInt32()
	}
	c.reset()
	b, err := r.ReadByte()
	if err != nil {
		return 0, noEOF(err)
	}
	prev := &c.prevPositive
	switch b {
	case 0:
		return NdxDone, nil
	case 0xFF:
		if b, err = r.ReadByte(); err != nil {
			return 0, noEOF(err)
		}
		prev = &c.prevNegative
	}
	var num uint32
	if b == 0xFE {
		x := r.scratch[:4] // not a local array: see ReadVarlong
		if err := r.ReadFull(x[:2]); err != nil {
			return 0, err
		}
		if x[0]&0x80 != 0 {
			x[3] = x[0] &^ 0x80
			x[0] = x[1]
			if err := r.ReadFull(x[1:3]); err != nil {
				return 0, err
			}
			num = binary.LittleEndian.Uint32(x)
		} else {
			num = uint32(x[0])<<8 + uint32(x[1]) + uint32(*prev)
		}
	} else {
		num = uint32(b) + uint32(*prev)
	}
	if num > 0x7FFFFFFF {
		return 0, fmt.Errorf("wire: invalid file index %d", num)
	}
	*prev = int32(num)
	if prev == &c.prevNegative {
		return -int32(num), nil
	}
	return int32(num), nil
}

// ReadLine reads a newline-terminated line of at most max bytes from the raw
// stream (the daemon handshake), without the newline and any carriage
// returns.
func (r *Reader) ReadLine(max int) (string, error) {
	var line []byte
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		switch b {
		case '\n':
			return string(line), nil
		case '\r':
			continue
		}
		if len(line) >= max {
			return "", fmt.Errorf("wire: line longer than %d bytes", max)
		}
		line = append(line, b)
	}
}

// ReadArg reads one protocol-30 argument: bytes up to a NUL, at most max.
func (r *Reader) ReadArg(max int) (string, error) {
	var arg []byte
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			return "", noEOF(err)
		}
		if b == 0 {
			return string(arg), nil
		}
		if len(arg) >= max {
			return "", fmt.Errorf("wire: argument longer than %d bytes", max)
		}
		arg = append(arg, b)
	}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
