package flist

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// The decoder reads fixed-size integers through its own buffer: the
// wire.Reader helpers keep theirs on the stack, where io.ReadFull makes
// them escape, costing an allocation per field (several per entry).

var errVarOverflow = errors.New("flist: variable-length integer overflows")

// extraBytes is how many bytes follow a varint's first byte: one per
// leading 1 bit, at most 6 (io.c int_byte_extra).
func extraBytes(ch byte) int { return min(bits.LeadingZeros8(^ch), 6) }

func (d *Decoder) readInt32() (int32, error) {
	b := d.tmp[:4]
	if err := d.r.ReadFull(b); err != nil {
		return 0, err
	}
	return int32(binary.LittleEndian.Uint32(b)), nil
}

func (d *Decoder) readVarint() (int32, error) {
	ch, err := d.r.ReadByte()
	if err != nil {
		return 0, noEOF(err)
	}
	extra := extraBytes(ch)
	if extra == 0 {
		return int32(ch), nil
	}
	if extra >= 5 {
		return 0, errVarOverflow
	}
	b := d.tmp[:8]
	clear(b)
	if err := d.r.ReadFull(b[:extra]); err != nil {
		return 0, err
	}
	b[extra] = ch & (1<<(8-extra) - 1)
	return int32(binary.LittleEndian.Uint32(b)), nil
}

func (d *Decoder) readVarlong(minBytes int) (int64, error) {
	first := d.tmp[:minBytes]
	if err := d.r.ReadFull(first); err != nil {
		return 0, err
	}
	var u [9]byte
	copy(u[:], first[1:])
	extra := extraBytes(first[0])
	if extra == 0 {
		u[minBytes-1] = first[0]
	} else {
		if minBytes+extra > 9 {
			return 0, errVarOverflow
		}
		ch := first[0]
		if err := d.r.ReadFull(d.tmp[minBytes : minBytes+extra]); err != nil {
			return 0, err
		}
		copy(u[minBytes-1:], d.tmp[minBytes:minBytes+extra])
		u[minBytes+extra-1] = ch & (1<<(8-extra) - 1)
	}
	return int64(binary.LittleEndian.Uint64(u[:8])), nil
}

// readLongint reads the pre-30 64-bit form: an int32, or -1 and 8 bytes.
func (d *Decoder) readLongint() (int64, error) {
	v, err := d.readInt32()
	if err != nil || v != -1 {
		return int64(v), err
	}
	b := d.tmp[:8]
	if err := d.r.ReadFull(b); err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(b)), nil
}

func (d *Decoder) readVarint30() (int32, error) {
	if d.o.Protocol < 30 {
		return d.readInt32()
	}
	return d.readVarint()
}

func (d *Decoder) readVarlong30(minBytes int) (int64, error) {
	if d.o.Protocol < 30 {
		return d.readLongint()
	}
	return d.readVarlong(minBytes)
}
