// Package wire holds rsync's byte-level encodings: little-endian integers,
// varints and varlongs, file-list indexes, and the multiplexed message stream.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MsgTag identifies a multiplexed frame (rsync.h enum msgcode).
type MsgTag uint8

// Message tags, as numbered in rsync.h.
const (
	MsgData        MsgTag = 0
	MsgErrorXfer   MsgTag = 1
	MsgInfo        MsgTag = 2
	MsgError       MsgTag = 3
	MsgWarning     MsgTag = 4
	MsgErrorSocket MsgTag = 5
	MsgLog         MsgTag = 6
	MsgClient      MsgTag = 7
	MsgErrorUTF8   MsgTag = 8
	MsgRedo        MsgTag = 9
	MsgStats       MsgTag = 10
	MsgIOError     MsgTag = 22
	MsgIOTimeout   MsgTag = 33
	MsgNoop        MsgTag = 42
	MsgErrorExit   MsgTag = 86
	MsgSuccess     MsgTag = 100
	MsgDeleted     MsgTag = 101
	MsgNoSend      MsgTag = 102
)

// mplexBase is added to a tag in the frame header (rsync.h MPLEX_BASE).
const mplexBase = 7

// MaxFrame is the largest payload a frame header can describe.
const MaxFrame = 0xFFFFFF

// File-list index values with special meanings (rsync.h NDX_*).
const (
	NdxDone       = -1
	NdxFlistEOF   = -2
	NdxDelStats   = -3
	NdxFlistOfset = -101
)

// ErrOverflow reports a varint or varlong whose encoding exceeds its type.
var ErrOverflow = errors.New("wire: integer overflow in variable-length encoding")

// intByteExtra gives, for a varint's first byte divided by 4, how many more
// bytes follow (io.c int_byte_extra).
var intByteExtra = [64]uint8{
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 6,
}

// AppendVarint appends x in rsync's varint encoding.
func AppendVarint(dst []byte, x int32) []byte {
	var b [5]byte
	binary.LittleEndian.PutUint32(b[1:], uint32(x))
	cnt := 4
	for cnt > 1 && b[cnt] == 0 {
		cnt--
	}
	bit := byte(1) << (7 - cnt + 1)
	switch {
	case b[cnt] >= bit:
		cnt++
		b[0] = ^(bit - 1)
	case cnt > 1:
		b[0] = b[cnt] | ^(bit*2 - 1)
	default:
		b[0] = b[1]
	}
	return append(dst, b[:cnt]...)
}

// AppendVarlong appends x in rsync's varlong encoding with at least
// minBytes bytes (1..8).
func AppendVarlong(dst []byte, x int64, minBytes int) []byte {
	var b [9]byte
	binary.LittleEndian.PutUint64(b[1:], uint64(x))
	cnt := 8
	for cnt > minBytes && b[cnt] == 0 {
		cnt--
	}
	bit := byte(1) << (7 - cnt + minBytes)
	switch {
	case b[cnt] >= bit:
		cnt++
		b[0] = ^(bit - 1)
	case cnt > minBytes:
		b[0] = b[cnt] | ^(bit*2 - 1)
	default:
		b[0] = b[cnt]
	}
	return append(dst, b[:cnt]...)
}

// AppendLongint appends x in the pre-protocol-30 64-bit form: 4 bytes when
// it fits a non-negative int32, else 0xFFFFFFFF and 8 bytes.
func AppendLongint(dst []byte, x int64) []byte {
	if x >= 0 && x <= 0x7FFFFFFF {
		return binary.LittleEndian.AppendUint32(dst, uint32(x))
	}
	dst = binary.LittleEndian.AppendUint32(dst, 0xFFFFFFFF)
	return binary.LittleEndian.AppendUint64(dst, uint64(x))
}

// AppendVString appends a string with rsync's 1- or 2-byte length prefix
// (io.c write_vstring); s must be at most 0x7FFF bytes.
func AppendVString(dst []byte, s string) ([]byte, error) {
	n := len(s)
	if n > 0x7FFF {
		return dst, fmt.Errorf("wire: vstring of %d bytes exceeds 32767", n)
	}
	if n > 0x7F {
		dst = append(dst, byte(n/0x100+0x80))
	}
	dst = append(dst, byte(n))
	return append(dst, s...), nil
}

// NdxCodec encodes or decodes file-list indexes with the byte-reduction
// method of protocol 30 and later (io.c write_ndx/read_ndx); older
// protocols send plain int32s. Each direction of a connection keeps its own.
type NdxCodec struct {
	Protocol     int
	prevPositive int32
	prevNegative int32
	init         bool
}

func (c *NdxCodec) reset() {
	if !c.init {
		c.prevPositive, c.prevNegative, c.init = -1, 1, true
	}
}

// Append appends ndx to dst.
func (c *NdxCodec) Append(dst []byte, ndx int32) []byte {
	if c.Protocol < 30 {
		return binary.LittleEndian.AppendUint32(dst, uint32(ndx))
	}
	c.reset()
	var diff int32
	switch {
	case ndx >= 0:
		diff = ndx - c.prevPositive
		c.prevPositive = ndx
	case ndx == NdxDone:
		return append(dst, 0)
	default:
		dst = append(dst, 0xFF)
		ndx = -ndx
		diff = ndx - c.prevNegative
		c.prevNegative = ndx
	}
	switch {
	case diff > 0 && diff < 0xFE:
		return append(dst, byte(diff))
	case diff < 0 || diff > 0x7FFF:
		return append(dst, 0xFE, byte(ndx>>24)|0x80, byte(ndx), byte(ndx>>8), byte(ndx>>16))
	default:
		return append(dst, 0xFE, byte(diff>>8), byte(diff))
	}
}
