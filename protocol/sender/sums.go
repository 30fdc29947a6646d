package sender

import (
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Bounds of a sum head, as the receiver checks them (io.c read_sum_head).
const (
	maxBlockSize    = 1 << 17  // MAX_BLOCK_SIZE, protocol 30+
	oldMaxBlockSize = 16 << 20 // OLD_MAX_BLOCK_SIZE, before 30
	sumLength       = 16       // SUM_LENGTH: the longest strong block sum
	// sumsChunk bounds how many sums are allocated ahead of the bytes that
	// carry them, so a huge count costs memory only as its data arrives.
	sumsChunk = 1 << 14
)

// Sums is the block description a receiver sends for its basis file: the
// sum head and, per block, the weak sum and the first S2Length bytes of the
// strong sum.
type Sums struct {
	Count, BLength, S2Length, Remainder int32
	Sum1                                []uint32
	Sum2                                []byte // Count*S2Length bytes
}

// blockLen returns the length of block i.
func (s *Sums) blockLen(i int32) int32 {
	if i == s.Count-1 && s.Remainder != 0 {
		return s.Remainder
	}
	return s.BLength
}

// ReadSums reads a sum head and its sums (sender.c receive_sums) into s,
// reusing its slices. maxS2 is the transfer checksum's digest length; every
// field is bounded before anything is allocated.
func (s *Sums) ReadSums(r *wire.Reader, proto int, maxS2 int) error {
	var err error
	read := func(p *int32) {
		if err == nil {
			*p, err = r.ReadInt32()
		}
	}
	read(&s.Count)
	read(&s.BLength)
	read(&s.S2Length)
	read(&s.Remainder)
	if err != nil {
		return err
	}
	maxB := int32(maxBlockSize)
	if proto < 30 {
		maxB = oldMaxBlockSize
	}
	switch {
	case s.Count < 0:
		return rerr.New(rerr.Protocol, "Invalid checksum count %d [sender]", s.Count)
	case s.BLength < 0 || s.BLength > maxB:
		return rerr.New(rerr.Protocol, "Invalid block length %d [sender]", s.BLength)
	case s.Count > 0 && s.BLength == 0:
		return rerr.New(rerr.Protocol, "Invalid zero block length [sender]")
	case s.S2Length < 0 || int(s.S2Length) > min(maxS2, sumLength):
		return rerr.New(rerr.Protocol, "Invalid checksum length %d [sender]", s.S2Length)
	case s.Remainder < 0 || s.Remainder > s.BLength:
		return rerr.New(rerr.Protocol, "Invalid remainder length %d [sender]", s.Remainder)
	}
	s.Sum1 = s.Sum1[:0]
	s.Sum2 = s.Sum2[:0]
	s2 := int(s.S2Length)
	for i := int32(0); i < s.Count; i++ {
		if len(s.Sum1) == cap(s.Sum1) {
			grow := int(min(s.Count-i, sumsChunk))
			s.Sum1 = append(make([]uint32, 0, len(s.Sum1)+max(grow, len(s.Sum1))), s.Sum1...)
		}
		v, err := r.ReadInt32()
		if err != nil {
			return err
		}
		s.Sum1 = append(s.Sum1, uint32(v))
		n := len(s.Sum2)
		if n+s2 > cap(s.Sum2) {
			grow := int(min(s.Count-i, sumsChunk)) * s2
			s.Sum2 = append(make([]byte, 0, n+max(grow, n)), s.Sum2...)
		}
		s.Sum2 = s.Sum2[:n+s2]
		if err := r.ReadFull(s.Sum2[n:]); err != nil {
			return err
		}
	}
	return nil
}

// writeHead echoes the sum head (io.c write_sum_head).
func (s *Sums) writeHead(w *wire.Writer) error {
	for _, v := range [...]int32{s.Count, s.BLength, s.S2Length, s.Remainder} {
		if err := w.WriteInt32(v); err != nil {
			return err
		}
	}
	return nil
}
