package checksum

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

// sums returns the raw s1 and s2 of p; four bytes per step keeps the
// dependency chain of s2 short.
func sums(p []byte) (s1, s2 uint32) {
	for len(p) >= 4 {
		x0 := uint32(int8(p[0]))
		x1 := uint32(int8(p[1]))
		x2 := uint32(int8(p[2]))
		x3 := uint32(int8(p[3]))
		s2 += 4*(s1+x0) + 3*x1 + 2*x2 + x3
		s1 += x0 + x1 + x2 + x3
		p = p[4:]
	}
	for _, b := range p {
		s1 += uint32(int8(b))
		s2 += s1
	}
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
