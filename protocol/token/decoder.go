package token

import (
	"errors"
	"fmt"
	"io"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Decoder reads the token streams of a session's files, one after another,
// as rsync's receiver does (token.c recv_token). Per file it resets the
// token numbering and the deflate history (zlib, zlibx); the zstd stream
// spans the whole session, as stock's ZSTD_DCtx does; lz4 chunks stand
// alone. Output buffers are reused: no allocation per token or chunk.
type Decoder struct {
	r        *wire.Reader
	codec    Codec
	protocol int
	err      error // sticky: a broken stream stays broken

	buf []byte // output buffer handed out by Next

	// plain
	residue int32 // bytes left in the current literal run

	// compressed streams
	started  bool  // the file's first flag has been read (rx_token valid)
	rxToken  int32 // last token number returned
	rxRun    int32 // tokens left in the current run
	flag     int   // a flag byte read ahead, or -1
	chunk    int   // payload bytes left in the current DEFLATED_DATA chunk
	data     bool  // inside a run of data chunks (r_inflating)
	inflater inflater
	zstd     zstdState
	lz4in    []byte // one compressed lz4 chunk
}

// NewDecoder returns a decoder of token streams compressed with codec, read
// from r, for protocol version protocol.
func NewDecoder(r *wire.Reader, codec Codec, protocol int) *Decoder {
	d := &Decoder{r: r, codec: codec, protocol: protocol, flag: -1}
	if !codec.valid() {
		d.err = fmt.Errorf("token: unknown codec %d", int(codec))
	}
	return d
}

// Next returns the next token of the current file: a literal run (data,
// valid until the next call) with block == -1, or the index of a matched
// basis block (>= 0) with data == nil. At the end of the file's stream it
// returns io.EOF, after which the next call starts the next file.
func (d *Decoder) Next() (data []byte, block int32, err error) {
	if d.err != nil {
		return nil, -1, d.err
	}
	if d.codec == None {
		data, block, err = d.nextPlain()
	} else {
		data, block, err = d.nextCompressed()
	}
	if err != nil && err != io.EOF {
		d.err = err
	}
	return data, block, err
}

// SeeBlock must be called with the basis data of a matched block right
// after Next returned it: zlib puts it into the inflater's history as the
// sender put it into its deflater's; other codecs ignore it.
func (d *Decoder) SeeBlock(data []byte) error {
	if d.err != nil {
		return d.err
	}
	if d.codec == Zlib {
		d.inflater.hist = appendHistory(d.inflater.histBuf(), data, d.protocol)
	}
	return nil
}

func (d *Decoder) nextPlain() ([]byte, int32, error) {
	if d.residue == 0 {
		n, err := readInt32(d.r)
		if err != nil {
			return nil, -1, fmt.Errorf("token: reading token: %w", noEOF(err))
		}
		switch {
		case n == 0:
			return nil, -1, io.EOF
		case n < 0:
			return nil, -(n + 1), nil
		case n > MaxLiteralRun:
			return nil, -1, fmt.Errorf("token: literal run of %d bytes exceeds %d", n, MaxLiteralRun)
		}
		d.residue = n
	}
	if d.buf == nil {
		d.buf = make([]byte, ChunkSize)
	}
	n := min(d.residue, ChunkSize)
	if err := d.r.ReadFull(d.buf[:n]); err != nil {
		return nil, -1, fmt.Errorf("token: reading literal data: %w", err)
	}
	d.residue -= n
	return d.buf[:n], -1, nil
}

// readFlag returns the flag read ahead, or the next byte of the stream.
func (d *Decoder) readFlag() (int, error) {
	if f := d.flag; f >= 0 {
		d.flag = -1
		return f, nil
	}
	b, err := d.r.ReadByte()
	if err != nil {
		return 0, fmt.Errorf("token: reading flag: %w", noEOF(err))
	}
	return int(b), nil
}

// readChunkLen reads the low length byte of a DEFLATED_DATA flag.
func (d *Decoder) readChunkLen(flag int) (int, error) {
	b, err := d.r.ReadByte()
	if err != nil {
		return 0, fmt.Errorf("token: reading data length: %w", noEOF(err))
	}
	return (flag&0x3f)<<8 | int(b), nil
}

// nextChunk makes the next DEFLATED_DATA chunk current when the stream
// continues with one; otherwise it keeps the flag for later and reports
// false.
func (d *Decoder) nextChunk() (bool, error) {
	flag, err := d.readFlag()
	if err != nil {
		return false, err
	}
	if flag&0xc0 != flagData {
		d.flag = flag
		return false, nil
	}
	n, err := d.readChunkLen(flag)
	if err != nil {
		return false, err
	}
	d.chunk = n
	return true, nil
}

var errBadToken = errors.New("token: invalid token number in compressed stream")

func (d *Decoder) nextCompressed() ([]byte, int32, error) {
	if !d.started {
		d.started = true
		d.rxToken = 0
		d.rxRun = 0
		d.startFile()
	}
	if d.rxRun > 0 {
		if d.rxToken >= maxTokenIndex {
			return nil, -1, errBadToken
		}
		d.rxToken++
		d.rxRun--
		return nil, d.rxToken, nil
	}
	for {
		if d.data {
			p, err := d.inflate()
			if err != nil || p != nil {
				return p, -1, err
			}
			continue // the data ended at a flag now read ahead
		}
		flag, err := d.readFlag()
		if err != nil {
			return nil, -1, err
		}
		if flag&0xc0 == flagData {
			n, err := d.readChunkLen(flag)
			if err != nil {
				return nil, -1, err
			}
			d.chunk = n
			p, err := d.startData()
			if err != nil || p != nil {
				return p, -1, err
			}
			continue
		}
		if flag == flagEnd {
			d.started = false
			return nil, -1, io.EOF
		}
		return d.tokenNum(flag)
	}
}

// tokenNum decodes a token flag (token.c recv_compressed_token_num). Like
// stock rsync it reads any flag without the TOKEN_REL bit as a long token.
func (d *Decoder) tokenNum(flag int) ([]byte, int32, error) {
	if flag&flagTokenRel != 0 {
		incr := int32(flag & 0x3f)
		if d.rxToken > maxTokenIndex-incr {
			return nil, -1, errBadToken
		}
		d.rxToken += incr
		flag >>= 6
	} else {
		t, err := readInt32(d.r)
		if err != nil {
			return nil, -1, fmt.Errorf("token: reading token number: %w", noEOF(err))
		}
		if t < 0 || t > maxTokenIndex {
			return nil, -1, errBadToken
		}
		d.rxToken = t
	}
	if flag&1 != 0 {
		n, err := readLE(d.r, 2)
		if err != nil {
			return nil, -1, fmt.Errorf("token: reading run length: %w", noEOF(err))
		}
		run := int32(n)
		if run == 0 || d.rxToken > maxTokenIndex-run {
			return nil, -1, errBadToken
		}
		d.rxRun = run
	}
	return nil, d.rxToken, nil
}

// startFile resets the per-file state of the codec.
func (d *Decoder) startFile() {
	switch d.codec {
	case Zlib, ZlibX:
		d.inflater.hist = d.inflater.histBuf()[:0]
	}
}

// startData begins decoding a run of data chunks; d.chunk holds the length
// of the first one, still unread. lz4 chunks stand alone and are decoded
// at once; the streaming codecs set d.data and are read by inflate.
func (d *Decoder) startData() ([]byte, error) {
	switch d.codec {
	case Zlib, ZlibX:
		d.data = true
		return nil, d.startInflate()
	case Zstd:
		d.data = true
		return nil, nil
	case LZ4:
		return d.decodeLZ4()
	}
	return nil, fmt.Errorf("token: codec %v has no data chunks", d.codec)
}

// inflate returns the next piece of literal data of the current run of data
// chunks, or nil with d.data cleared when the run has ended.
func (d *Decoder) inflate() ([]byte, error) {
	switch d.codec {
	case Zlib, ZlibX:
		return d.inflateZlib()
	case Zstd:
		return d.inflateZstd()
	}
	return nil, fmt.Errorf("token: codec %v has no data chunks", d.codec)
}

// readInt32 reads a little-endian int32 byte by byte: wire.Reader's
// ReadInt32 passes a stack array through io.ReadFull, which allocates.
func readInt32(r *wire.Reader) (int32, error) {
	v, err := readLE(r, 4)
	return int32(v), err
}

func readLE(r *wire.Reader, n int) (uint32, error) {
	var v uint32
	for i := range n {
		b, err := r.ReadByte()
		if err != nil {
			if i > 0 {
				err = noEOF(err)
			}
			return 0, err
		}
		v |= uint32(b) << (8 * i)
	}
	return v, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
