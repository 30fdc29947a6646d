package token

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Encoder writes the token streams of a session's files as rsync's sender
// does (token.c send_token). For each file call Literal and Block in file
// order, then End. Pass Literal the literal runs a stock sender passes
// send_token (match.c: the bytes between matches, and pieces of at most
// ChunkSize when scanning far ahead): plain runs are then split at
// ChunkSize and lz4 chunks cut exactly as stock's. Compressed data is
// flushed before each block token and the end of a file, not between
// Literal calls. zlib and zlibx restart per file; zstd keeps one stream
// (one never-ended frame) for the session, as stock's ZSTD_CCtx.
type Encoder struct {
	w        *wire.Writer
	codec    Codec
	level    int
	protocol int
	err      error // sticky

	// run coding of block tokens (token.c last_token, run_start, ...)
	lastToken  int32 // -1 at the start of a file, -2 after literal data
	runStart   int32
	lastRunEnd int32

	pending bool // literal data compressed since the last flush
	obuf    []byte

	// zlib/zlibx
	fw      *flate.Writer
	chunks  chunker
	hist    []byte // zlib: the receiver's inflater history
	deflate int    // what the deflater needs before more input

	// zstd
	zw *zstd.Encoder

	// lz4
	lz4c lz4.CompressorCCompat
}

// Deflater states before the next literal data.
const (
	deflateFresh = iota // a new file: start without history
	deflateDict         // blocks were inserted: restart with hist
	deflateLive         // go on with the stream
)

// NewEncoder returns an encoder writing token streams compressed with codec
// at level (as ResolveLevel returns it) to w for protocol version protocol.
func NewEncoder(w *wire.Writer, codec Codec, level int, protocol int) *Encoder {
	e := &Encoder{w: w, codec: codec, level: level, protocol: protocol, lastToken: -1}
	if !codec.valid() {
		e.err = fmt.Errorf("token: unknown codec %d", int(codec))
	}
	if codec == Zlib || codec == ZlibX {
		if level == -1 || level == LevelNotSpecified {
			e.level = ZlibDefaultLevel
		}
		e.level = min(max(e.level, 0), ZlibMaxLevel)
	}
	if codec != None {
		e.obuf = make([]byte, 0, MaxDataCount+2)
	}
	e.chunks.e = e
	return e
}

// Literal sends literal data of the current file.
func (e *Encoder) Literal(data []byte) error {
	if e.err != nil {
		return e.err
	}
	if len(data) == 0 {
		return nil
	}
	if e.codec == None {
		e.err = e.plainLiteral(data)
		return e.err
	}
	e.runs(-2, true)
	if e.err == nil {
		switch e.codec {
		case Zlib, ZlibX:
			e.err = e.deflateData(data)
		case Zstd:
			e.err = e.zstdData(data)
		case LZ4:
			e.err = e.lz4Data(data)
		}
	}
	return e.err
}

// Block sends a reference to basis block index; data is the block's
// content, which zlib adds to the deflate history as the receiver does.
func (e *Encoder) Block(index int32, data []byte) error {
	if e.err != nil {
		return e.err
	}
	if index < 0 || index > maxTokenIndex {
		e.err = fmt.Errorf("token: block index %d out of range", index)
		return e.err
	}
	if e.codec == None {
		e.err = e.w.WriteInt32(-(index + 1))
		return e.err
	}
	e.token(index)
	if e.err == nil && e.codec == Zlib {
		e.hist = appendHistory(e.histBuf(), data, e.protocol)
		e.deflate = deflateDict
	}
	return e.err
}

// End ends the current file's stream; the next call starts the next file.
func (e *Encoder) End() error {
	if e.err != nil {
		return e.err
	}
	if e.codec == None {
		e.err = e.w.WriteInt32(0)
		return e.err
	}
	e.token(-1)
	if e.err == nil {
		e.err = e.w.WriteByte(flagEnd)
	}
	e.lastToken = -1
	e.deflate = deflateFresh
	e.hist = e.hist[:0]
	return e.err
}

func (e *Encoder) plainLiteral(data []byte) error {
	for len(data) > 0 {
		n := min(len(data), ChunkSize)
		if err := e.w.WriteInt32(int32(n)); err != nil {
			return err
		}
		if _, err := e.w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// token handles a block token (>= 0) or the end of the file (-1): it
// flushes the compressed data before it and codes runs of tokens.
func (e *Encoder) token(t int32) {
	if e.pending {
		e.pending = false
		switch e.codec {
		case Zlib, ZlibX:
			e.err = e.deflateFlush()
		case Zstd:
			e.err = e.zstdFlush()
		}
		if e.err != nil {
			return
		}
	}
	e.runs(t, false)
}

// runs codes token t (-2 for literal data) into the run-length encoding of
// block tokens, writing the previous run when t does not extend it
// (token.c send_deflated_token).
func (e *Encoder) runs(t int32, data bool) {
	switch {
	case e.lastToken == -1:
		e.lastRunEnd = 0
		e.runStart = t
	case e.lastToken == -2:
		e.runStart = t
	case data || t != e.lastToken+1 || int64(t) > int64(e.runStart)+maxRun:
		r := e.runStart - e.lastRunEnd
		n := e.lastToken - e.runStart
		var b [7]byte
		p := b[:0]
		if r >= 0 && r <= 63 {
			if n == 0 {
				p = append(p, byte(flagTokenRel+r))
			} else {
				p = append(p, byte(flagTokenRunRel+r))
			}
		} else {
			if n == 0 {
				p = append(p, flagTokenLong)
			} else {
				p = append(p, flagTokenRunLong)
			}
			p = binary.LittleEndian.AppendUint32(p, uint32(e.runStart))
		}
		if n != 0 {
			p = append(p, byte(n), byte(n>>8))
		}
		if _, err := e.w.Write(p); err != nil {
			e.err = err
			return
		}
		e.lastRunEnd = e.lastToken
		e.runStart = t
	}
	e.lastToken = t
}

// chunker frames compressed output as DEFLATED_DATA chunks. It holds back
// the last 4 bytes, which are the sync marker when a flush ends there.
type chunker struct {
	e   *Encoder
	buf []byte
	err error
}

func (c *chunker) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= MaxDataCount+len(syncMarker) {
		c.err = c.emit(len(c.buf) - len(syncMarker))
		if c.err != nil {
			return 0, c.err
		}
	}
	return len(p), nil
}

// emit sends the first n buffered bytes in chunks of at most MaxDataCount.
func (c *chunker) emit(n int) error {
	off := 0
	for off < n {
		k := min(n-off, MaxDataCount)
		c.e.obuf = append(c.e.obuf[:0], byte(flagData+k>>8), byte(k))
		c.e.obuf = append(c.e.obuf, c.buf[off:off+k]...)
		if _, err := c.e.w.Write(c.e.obuf); err != nil {
			return err
		}
		off += k
	}
	c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	return nil
}

// flushAll sends everything buffered; strip drops the trailing sync marker,
// which must be there.
func (c *chunker) flushAll(strip bool) error {
	if c.err != nil {
		return c.err
	}
	n := len(c.buf)
	if strip {
		if !bytes.HasSuffix(c.buf, syncMarker[:]) {
			return errors.New("token: deflate flush did not end with a sync marker")
		}
		n -= len(syncMarker)
	}
	if err := c.emit(n); err != nil {
		return err
	}
	c.buf = c.buf[:0]
	return nil
}

func (e *Encoder) histBuf() []byte {
	if e.hist == nil {
		e.hist = make([]byte, 0, 2*deflateWindow)
	}
	return e.hist
}

func (e *Encoder) deflateData(data []byte) error {
	if e.fw == nil {
		fw, err := flate.NewWriter(&e.chunks, e.level)
		if err != nil {
			return fmt.Errorf("token: deflate level %d: %w", e.level, err)
		}
		e.fw = fw
		if e.deflate == deflateFresh {
			e.deflate = deflateLive
		}
	}
	switch e.deflate {
	case deflateFresh:
		// Not Reset: it would restore the last ResetDict dictionary.
		e.fw.ResetDict(&e.chunks, nil)
	case deflateDict:
		// After the sync point the receiver's inflater is at a block
		// boundary with hist as its window: a fresh deflater primed with
		// hist continues the stream.
		e.fw.ResetDict(&e.chunks, window(e.hist))
	}
	e.deflate = deflateLive
	if e.codec == Zlib {
		e.hist = pushHistory(e.histBuf(), data)
	}
	if _, err := e.fw.Write(data); err != nil {
		return fmt.Errorf("token: deflate: %w", err)
	}
	e.pending = true
	return nil
}

func (e *Encoder) deflateFlush() error {
	if err := e.fw.Flush(); err != nil {
		return fmt.Errorf("token: deflate flush: %w", err)
	}
	return e.chunks.flushAll(true)
}

func (e *Encoder) zstdData(data []byte) error {
	if e.zw == nil {
		// One stream for the whole session, as stock rsync's ZSTD_CCtx.
		win := 2 << 20
		if e.level >= 10 {
			win = 8 << 20
		}
		zw, err := zstd.NewWriter(&e.chunks,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(e.level)),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(win),
			zstd.WithLowerEncoderMem(true))
		if err != nil {
			return fmt.Errorf("token: zstd encoder: %w", err)
		}
		e.zw = zw
	}
	if _, err := e.zw.Write(data); err != nil {
		return fmt.Errorf("token: zstd: %w", err)
	}
	e.pending = true
	return nil
}

func (e *Encoder) zstdFlush() error {
	if err := e.zw.Flush(); err != nil {
		return fmt.Errorf("token: zstd flush: %w", err)
	}
	return e.chunks.flushAll(false)
}

// lz4Data compresses data as stock rsync does: pieces of at most
// MaxDataCount bytes, each an independent block, halved until the block
// fits a chunk (token.c send_compressed_token).
func (e *Encoder) lz4Data(data []byte) error {
	if cap(e.chunks.buf) < lz4.CompressBlockBound(MaxDataCount) {
		e.chunks.buf = make([]byte, 0, lz4.CompressBlockBound(MaxDataCount))
	}
	dst := e.chunks.buf[:cap(e.chunks.buf)]
	for len(data) > 0 {
		in := data[:min(len(data), MaxDataCount)]
		for {
			n, err := e.lz4c.CompressBlock(in, dst)
			if err != nil || n == 0 {
				return fmt.Errorf("token: lz4 compression failed (%d bytes): %v", len(in), err)
			}
			if n <= MaxDataCount {
				e.obuf = append(e.obuf[:0], byte(flagData+n>>8), byte(n))
				e.obuf = append(e.obuf, dst[:n]...)
				if _, err := e.w.Write(e.obuf); err != nil {
					return err
				}
				break
			}
			in = in[:len(in)/2]
		}
		data = data[len(in):]
	}
	return nil
}
