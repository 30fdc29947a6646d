package checksum

import "encoding/binary"

// rsync's weak sum (get_checksum1) reads the data as signed chars and adds
// CHAR_OFFSET, which is 0. With x[i] the signed bytes of a window of n bytes:
//	s1 = sum x[i]           s2 = sum (n-i)*x[i]       (mod 2^32)
//	sum = s1&0xffff | s2<<16
// The signedness matters: bytes >= 0x80 count as negative.

// Rolling1 returns rsync's weak checksum of p (get_checksum1).
func Rolling1(p []byte) uint32 {
	s1, s2 := sums(p)
	return s1&0xffff | s2<<16
}

// sums returns the raw s1 and s2 of p: 16 bytes per step in the bulk (the
// generator sums every block of a basis file, so its speed is part of a
// delta transfer's wall time), byte by byte in the tail.
func sums(p []byte) (s1, s2 uint32) {
	n := len(p) &^ 15
	if n > 0 {
		s1, s2 = sums16(p[:n])
	}
	for _, b := range p[n:] {
		s1 += uint32(int8(b))
		s2 += s1
	}
	return s1, s2
}

const (
	lo16s = 0x00FF00FF00FF00FF // the even bytes of a word, as 16-bit lanes
	flip  = 0x8080808080808080 // signed byte x becomes x+128, unsigned
	lanes = 0x0001000100010001 // multiplying sums the 16-bit lanes into the top one
)

// sums16 is sums for len(p) a multiple of 16, in SWAR arithmetic. With
// u[i] = x[i]+128 (the byte XOR 0x80) in [0,255]:
//
//	s1 = sum u[i] - 128n
//	s2 = sum (n-i)*u[i] - 128*n(n+1)/2
//
// and over 16-byte steps k of K (n = 16K), with S[k] the step's byte sum and
// L[j] the sum of the bytes at position j of every step:
//
//	sum (n-i)*u[i] = 16 * sum (K-k)*S[k] - sum j*L[j]
//
// The first sum is a running sum of running sums; the L[j] build up in
// 16-bit lanes, flushed before they can overflow. All of it is mod 2^32,
// as rsync's unsigned arithmetic is.
func sums16(p []byte) (s1, s2 uint32) {
	n := uint64(len(p))
	var pre, acc, w uint32 // sum of S so far, sum of pre, sum j*L[j]
	for len(p) > 0 {
		// 256 steps at most: a 16-bit lane gains 255 a step.
		chunk := p[:min(len(p), 256*16)]
		p = p[len(chunk):]
		var e0, o0, e1, o1 uint64
		for ; len(chunk) >= 16; chunk = chunk[16:] {
			w0 := binary.LittleEndian.Uint64(chunk) ^ flip
			w1 := binary.LittleEndian.Uint64(chunk[8:]) ^ flip
			a0, b0 := w0&lo16s, (w0>>8)&lo16s
			a1, b1 := w1&lo16s, (w1>>8)&lo16s
			e0 += a0
			o0 += b0
			e1 += a1
			o1 += b1
			pre += uint32(((a0 + b0 + a1 + b1) * lanes) >> 48)
			acc += pre
		}
		// Lane f of e0 is byte 2f, of o0 byte 2f+1, of e1 and o1 the same
		// plus 8.
		for f := range 4 {
			sh := 16 * f
			w += uint32(2*f)*uint32(e0>>sh&0xFFFF) + uint32(2*f+1)*uint32(o0>>sh&0xFFFF) +
				uint32(8+2*f)*uint32(e1>>sh&0xFFFF) + uint32(9+2*f)*uint32(o1>>sh&0xFFFF)
		}
	}
	s1 = pre - uint32(128*n)
	s2 = 16*acc - w - uint32(128*(n*(n+1)/2))
	return s1, s2
}

// Roller keeps the weak sum of a window that slides over data one byte at a
// time, as the sender's match loop does (match.c hash_search). The zero
// value is the sum of an empty window.
type Roller struct {
	s1, s2 uint32
	n      uint32 // window length
}

// Init sets the window to p.
func (r *Roller) Init(p []byte) {
	r.s1, r.s2 = sums(p)
	r.n = uint32(len(p))
}

// Roll slides the window one byte: out leaves at the front, in enters at the
// back; the window length stays the same.
func (r *Roller) Roll(out, in byte) {
	o := uint32(int8(out))
	r.s1 += uint32(int8(in)) - o
	r.s2 += r.s1 - r.n*o
}

// RollOut drops out from the front of the window without a byte entering, as
// rsync does when the window reaches the end of the file. The window must
// not be empty.
func (r *Roller) RollOut(out byte) {
	o := uint32(int8(out))
	r.s1 -= o
	r.s2 -= r.n * o
	r.n--
}

// Len returns the current window length.
func (r *Roller) Len() int { return int(r.n) }

// Sum returns the weak checksum of the current window, equal to Rolling1 of
// the window's bytes.
func (r *Roller) Sum() uint32 { return r.s1&0xffff | r.s2<<16 }
