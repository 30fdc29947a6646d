package token

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// syncMarker ends every Z_SYNC_FLUSH; senders strip it and receivers put
// it back before the next token.
var syncMarker = [4]byte{0, 0, 0xff, 0xff}

// segmentEnd is what a segment's source serves after its data: the sync
// marker, then a final empty stored block. An inflater that decodes the
// latter and stops exactly at its end was at a block boundary after the
// marker: the clean sync point stock rsync checks with inflateSyncPoint.
var segmentEnd = [9]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

// inflater decodes rsync's zlib streams. Go's inflaters cannot take history
// mid-stream, so the stream is decoded in segments, one per run of data
// chunks: each segment ends at the sync point before a token, and the next
// starts a fresh inflater whose dictionary is the last 32 KiB of the file's
// stream so far (literal output plus, for zlib, matched blocks).
type inflater struct {
	fr   io.ReadCloser // *flate decompressor, a flate.Resetter
	br   *bufio.Reader
	src  segmentSource
	hist []byte // the stream's recent output, see pushHistory
	out  []byte
}

// histBuf returns hist, allocated with room for two windows.
func (f *inflater) histBuf() []byte {
	if f.hist == nil {
		f.hist = make([]byte, 0, 2*deflateWindow)
	}
	return f.hist
}

// segmentSource serves an inflater the payload of consecutive DEFLATED_DATA
// chunks; at the first other flag (kept for the decoder) it serves
// segmentEnd and then io.EOF.
type segmentSource struct {
	d      *Decoder
	marker int // segmentEnd bytes served, or -1 while serving chunks
	err    error
}

func (s *segmentSource) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	d := s.d
	for s.marker < 0 && d.chunk == 0 {
		ok, err := d.nextChunk()
		if err != nil {
			s.err = err
			return 0, err
		}
		if !ok {
			s.marker = 0
		}
	}
	if s.marker < 0 {
		n := min(len(p), d.chunk)
		if err := d.r.ReadFull(p[:n]); err != nil {
			s.err = fmt.Errorf("token: reading compressed data: %w", err)
			return 0, s.err
		}
		d.chunk -= n
		return n, nil
	}
	if s.marker == len(segmentEnd) {
		return 0, io.EOF
	}
	n := copy(p, segmentEnd[s.marker:])
	s.marker += n
	return n, nil
}

func (d *Decoder) startInflate() error {
	f := &d.inflater
	f.src = segmentSource{d: d, marker: -1}
	if f.br == nil {
		f.br = bufio.NewReaderSize(&f.src, 16*1024)
		f.out = make([]byte, ChunkSize)
	} else {
		f.br.Reset(&f.src)
	}
	dict := window(f.histBuf())
	if f.fr == nil {
		f.fr = flate.NewReaderDict(f.br, dict)
		return nil
	}
	if err := f.fr.(flate.Resetter).Reset(f.br, dict); err != nil {
		return fmt.Errorf("token: resetting inflater: %w", err)
	}
	return nil
}

func (d *Decoder) inflateZlib() ([]byte, error) {
	f := &d.inflater
	n, err := f.fr.Read(f.out)
	if n > 0 {
		f.hist = pushHistory(f.hist, f.out[:n])
		return f.out[:n], nil
	}
	switch {
	case f.src.err != nil:
		return nil, f.src.err
	case err == io.EOF && f.src.marker == len(segmentEnd) && f.br.Buffered() == 0:
		// The segment ended at the sync point; the token flag after it
		// waits in d.flag.
		d.data = false
		return nil, nil
	case err == nil:
		return nil, errors.New("token: inflate made no progress")
	case err == io.EOF && f.src.marker < 0:
		return nil, errors.New("token: deflate stream has a final block")
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return nil, errors.New("token: inflate lost sync with the sender")
	}
	return nil, fmt.Errorf("token: inflate: %w", err)
}

// zstdState is the zstd decompression context, which rsync keeps for the
// whole session: the sender's stream spans all files and never ends its
// frame.
type zstdState struct {
	dec     *zstd.Decoder
	src     zstdSource
	out     []byte
	pending bool // the last Read filled out; the decoder may hold more
}

// zstdOutSize exceeds the largest zstd block (128 KiB), so one Read drains
// a whole block and the decoder never reads past a flush point unasked.
const zstdOutSize = 128*1024 + 4096

// zstdSource serves the zstd decoder the payload of consecutive data
// chunks. A stock sender flushes before every token, so a block never
// continues past a token flag: meeting one inside a block is an error.
type zstdSource struct {
	d   *Decoder
	err error
}

var errZstdCut = errors.New("token: zstd block cut short by a token")

func (s *zstdSource) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	d := s.d
	for d.chunk == 0 {
		ok, err := d.nextChunk()
		if err != nil {
			s.err = err
			return 0, err
		}
		if !ok {
			s.err = errZstdCut
			return 0, s.err
		}
	}
	n := min(len(p), d.chunk)
	if err := d.r.ReadFull(p[:n]); err != nil {
		s.err = fmt.Errorf("token: reading compressed data: %w", err)
		return 0, s.err
	}
	d.chunk -= n
	return n, nil
}

func (d *Decoder) inflateZstd() ([]byte, error) {
	z := &d.zstd
	if !z.pending {
		// Between blocks: decode on only while the data chunks go on.
		for d.chunk == 0 {
			ok, err := d.nextChunk()
			if err != nil {
				return nil, err
			}
			if !ok {
				d.data = false
				return nil, nil
			}
		}
	}
	if z.dec == nil {
		z.src.d = d
		dec, err := zstd.NewReader(&z.src,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(MaxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("token: zstd decoder: %w", err)
		}
		z.dec = dec
		z.out = make([]byte, zstdOutSize)
	}
	n, err := z.dec.Read(z.out)
	z.pending = n == len(z.out)
	if n > 0 {
		return z.out[:n], nil
	}
	if z.src.err != nil {
		return nil, z.src.err
	}
	if err == nil {
		return nil, errors.New("token: zstd decoder made no progress")
	}
	return nil, fmt.Errorf("token: zstd: %w", err)
}

// decodeLZ4 decodes one lz4 chunk, whose length is in d.chunk. Its output
// must fit the stock receiver's buffer. A chunk that decodes to nothing is
// skipped (stock rsync would take it for the end of the file).
func (d *Decoder) decodeLZ4() ([]byte, error) {
	if d.lz4in == nil {
		d.lz4in = make([]byte, MaxDataCount)
		d.buf = make([]byte, lz4OutSize)
	}
	in := d.lz4in[:d.chunk]
	d.chunk = 0
	if err := d.r.ReadFull(in); err != nil {
		return nil, fmt.Errorf("token: reading compressed data: %w", err)
	}
	if len(in) == 0 {
		return nil, nil
	}
	n, err := lz4.UncompressBlock(in, d.buf[:lz4OutSize])
	if err != nil {
		return nil, fmt.Errorf("token: lz4 chunk of %d bytes: %w", len(in), err)
	}
	if n == 0 {
		return nil, nil
	}
	return d.buf[:n], nil
}
