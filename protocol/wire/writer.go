package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// maxDataFrame is the payload at which a MSG_DATA frame is closed, as
// rsync's IO_BUFFER_SIZE; flushAt is how much output goes to the
// connection in one write, as rsync's output buffer of two such frames
// (half the writes, and half the wake-ups of the peer, of one per frame).
const (
	maxDataFrame = 32 * 1024
	flushAt      = 2 * maxDataFrame
)

// Writer writes rsync's encodings to a connection. Until StartMultiplex is
// called bytes go out raw; afterwards they travel in MSG_DATA frames, and
// WriteMsg sends out-of-band frames between them. A Writer is safe for use
// by several goroutines; each call is atomic on the wire.
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte // pending output; with mux the last frame is open at frame
	frame int    // offset of the open data frame's header, -1 if none
	mux   bool
	err   error
	count int64 // data bytes accepted
}

// NewWriter writes to w; nothing reaches w before Flush or a full buffer.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, flushAt+maxDataFrame), frame: -1}
}

// StartMultiplex flushes raw output and switches to multiplexed frames.
func (w *Writer) StartMultiplex() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.flushLocked()
	w.mux = true
	return err
}

// Count returns how many data bytes the writer has accepted.
func (w *Writer) Count() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}

// closeFrame fills in the header of the open data frame.
func (w *Writer) closeFrame() {
	if w.frame < 0 {
		return
	}
	n := len(w.buf) - w.frame - 4
	if n == 0 {
		w.buf = w.buf[:w.frame]
	} else {
		binary.LittleEndian.PutUint32(w.buf[w.frame:], uint32(mplexBase+MsgData)<<24|uint32(n))
	}
	w.frame = -1
}

func (w *Writer) flushLocked() error {
	w.closeFrame()
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 {
		_, w.err = w.w.Write(w.buf)
		w.buf = w.buf[:0]
	}
	return w.err
}

// writeLocked appends data bytes, framing and flushing as needed.
func (w *Writer) writeLocked(p []byte) error {
	w.count += int64(len(p))
	if !w.mux {
		w.buf = append(w.buf, p...)
		if len(w.buf) >= flushAt {
			return w.flushLocked()
		}
		return w.err
	}
	for len(p) > 0 {
		if w.frame < 0 {
			w.frame = len(w.buf)
			w.buf = append(w.buf, 0, 0, 0, 0)
		}
		room := maxDataFrame - (len(w.buf) - w.frame - 4)
		n := min(room, len(p))
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
		if n == room {
			w.closeFrame()
			if len(w.buf) >= flushAt {
				if err := w.flushLocked(); err != nil {
					return err
				}
			}
		}
	}
	return w.err
}

// Write implements io.Writer for the data stream.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writeLocked(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush sends everything pending.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// WriteMsg sends an out-of-band frame after the data written before it,
// and flushes. Before multiplexing only MSG_DATA is possible.
func (w *Writer) WriteMsg(tag MsgTag, payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if tag == MsgData {
		if err := w.writeLocked(payload); err != nil {
			return err
		}
		return w.flushLocked()
	}
	if !w.mux {
		return fmt.Errorf("wire: message %d before multiplexing", tag)
	}
	if len(payload) > MaxFrame {
		return fmt.Errorf("wire: message of %d bytes exceeds a frame", len(payload))
	}
	w.closeFrame()
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(mplexBase+tag)<<24|uint32(len(payload)))
	w.buf = append(w.buf, payload...)
	return w.flushLocked()
}

// WriteMsgInt32 sends an out-of-band frame holding one int32 (MSG_REDO,
// MSG_SUCCESS, MSG_IO_TIMEOUT, ...).
func (w *Writer) WriteMsgInt32(tag MsgTag, v int32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(v))
	return w.WriteMsg(tag, b[:])
}

func (w *Writer) put(p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writeLocked(p)
}

// WriteByte writes one byte.
func (w *Writer) WriteByte(b byte) error { return w.put([]byte{b}) }

// WriteInt32 writes a little-endian 32-bit integer.
func (w *Writer) WriteInt32(v int32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(v))
	return w.put(b[:])
}

// WriteUint16 writes a little-endian 16-bit integer.
func (w *Writer) WriteUint16(v uint16) error {
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], v)
	return w.put(b[:])
}

// WriteVarint writes rsync's variable-length 32-bit integer.
func (w *Writer) WriteVarint(v int32) error {
	var b [5]byte
	return w.put(AppendVarint(b[:0], v))
}

// WriteVarlong writes rsync's variable-length 64-bit integer.
func (w *Writer) WriteVarlong(v int64, minBytes int) error {
	var b [9]byte
	return w.put(AppendVarlong(b[:0], v, minBytes))
}

// WriteVarlong30 writes a 64-bit value as protocol proto encodes it.
func (w *Writer) WriteVarlong30(proto int, v int64, minBytes int) error {
	var b [12]byte
	if proto < 30 {
		return w.put(AppendLongint(b[:0], v))
	}
	return w.put(AppendVarlong(b[:0], v, minBytes))
}

// WriteNdx writes a file-list index with c's state.
func (w *Writer) WriteNdx(c *NdxCodec, ndx int32) error {
	var b [6]byte
	return w.put(c.Append(b[:0], ndx))
}

// WriteString writes s raw (handshake lines and the like).
func (w *Writer) WriteString(s string) error { return w.put([]byte(s)) }
