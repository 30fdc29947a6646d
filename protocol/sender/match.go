package sender

import (
	"bytes"
	"fmt"
	"hash"
	"io"
	"math/bits"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
)

// chunkSize is rsync's CHUNK_SIZE: the literal runs the match loop hands
// the token coder when it scans far past the last match.
const chunkSize = 32 << 10

// tokenSink receives a file's delta (token.Encoder does).
type tokenSink interface {
	Literal(data []byte) error
	Block(index int32, data []byte) error
	End() error
}

// matcher finds the receiver's blocks in the sender's file (match.c). Its
// hash table and buffers are reused from file to file.
type matcher struct {
	block   *checksum.Block
	head    []int32 // per hash slot: the first block of its chain, -1 none
	next    []int32 // per block: the next block of its chain
	shift   uint
	strong  []byte
	win     window
	literal int64 // bytes sent as literal data, all files
	matched int64 // bytes sent as block references, all files
}

func newMatcher(block *checksum.Block) *matcher {
	return &matcher{block: block}
}

// build fills the hash table with s's weak sums. Chains list higher block
// numbers first, as rsync's build_hash_table does.
func (m *matcher) build(s *Sums) {
	size := 1 << 16
	for size < int(s.Count) && size < 1<<24 {
		size <<= 1
	}
	m.shift = uint(32 - bits.TrailingZeros(uint(size)))
	if cap(m.head) < size {
		m.head = make([]int32, size)
	}
	m.head = m.head[:size]
	for i := range m.head {
		m.head[i] = -1
	}
	if cap(m.next) < int(s.Count) {
		m.next = make([]int32, s.Count)
	}
	m.next = m.next[:s.Count]
	for i := int32(0); i < s.Count; i++ {
		h := m.slot(s.Sum1[i])
		m.next[i] = m.head[h]
		m.head[h] = i
	}
}

func (m *matcher) slot(sum uint32) uint32 { return (sum * 0x9E3779B1) >> m.shift }

// send writes the delta of the size bytes of src against s to out, and
// feeds the whole file to fileSum. With inplace the receiver updates its
// basis in place, so a block that lies before the current offset is gone
// and must not be referenced.
func (m *matcher) send(src io.ReaderAt, size int64, s *Sums, out tokenSink, fileSum hash.Hash, inplace bool) error {
	m.win.reset(src, size, int(s.BLength))
	w := &m.win
	var lastMatch int64
	// literal sends [lastMatch, to) as one run.
	literal := func(to int64) error {
		if to <= lastMatch {
			return nil
		}
		p, err := w.get(lastMatch, lastMatch, to)
		if err != nil {
			return err
		}
		fileSum.Write(p)
		m.literal += to - lastMatch
		lastMatch = to
		return out.Literal(p)
	}

	if size == 0 || s.Count == 0 {
		for j := int64(chunkSize); j < size; j += chunkSize {
			if err := literal(j); err != nil {
				return err
			}
		}
		if err := literal(size); err != nil {
			return err
		}
		return out.End()
	}

	m.build(s)
	blen := int64(s.BLength)
	s2 := int(s.S2Length)
	end := size + 1 - int64(s.blockLen(s.Count-1))
	var roll checksum.Roller
	offset := int64(0)
	k := min(blen, size)
	p, err := w.get(0, 0, k)
	if err != nil {
		return err
	}
	roll.Init(p)
	wantI := int32(0)
	for offset < end {
		sum := roll.Sum()
		found := int32(-1)
		var strong []byte
		for i := m.head[m.slot(sum)]; i >= 0; i = m.next[i] {
			if s.Sum1[i] != sum || int64(s.blockLen(i)) != k {
				continue
			}
			if inplace && int64(i)*blen < offset {
				continue
			}
			if strong == nil {
				win, err := w.get(lastMatch, offset, offset+k)
				if err != nil {
					return err
				}
				m.strong = m.block.Sum(m.strong[:0], win)
				strong = m.strong[:s2]
			}
			if !bytes.Equal(strong, s.Sum2[int(i)*s2:int(i+1)*s2]) {
				continue
			}
			found = i
			// An adjacent match makes the token run coder happy.
			if i != wantI && wantI < s.Count && s.Sum1[wantI] == sum &&
				(!inplace || int64(wantI)*blen >= offset) &&
				bytes.Equal(strong, s.Sum2[int(wantI)*s2:int(wantI+1)*s2]) {
				found = wantI
			}
			break
		}
		if found >= 0 {
			if err := literal(offset); err != nil {
				return err
			}
			blk, err := w.get(lastMatch, offset, offset+k)
			if err != nil {
				return err
			}
			fileSum.Write(blk)
			if err := out.Block(found, blk); err != nil {
				return err
			}
			m.matched += k
			wantI = found + 1
			offset += k
			lastMatch = offset
			if offset >= end {
				break
			}
			k = min(blen, size-offset)
			p, err := w.get(lastMatch, offset, offset+k)
			if err != nil {
				return err
			}
			roll.Init(p)
			continue
		}
		backup := offset - lastMatch
		// Slide the window by one byte; at the end of the file it shrinks.
		more := offset+k < size
		hi := offset + k
		if more {
			hi++
		}
		p, err := w.get(lastMatch, offset, hi)
		if err != nil {
			return err
		}
		if more {
			roll.Roll(p[0], p[k])
		} else {
			roll.RollOut(p[0])
			k--
		}
		// Far from the last match: send literal data early, as match.c
		// does, so the window need not hold it.
		if backup >= blen+chunkSize && end-offset > chunkSize {
			if err := literal(offset - blen); err != nil {
				return err
			}
		}
		offset++
	}
	if err := literal(size); err != nil {
		return err
	}
	return out.End()
}

// window is a sliding view of a file, read in large pieces: the match loop
// needs the bytes from its last match to just past its rolling window.
type window struct {
	src   io.ReaderAt
	size  int64
	buf   []byte
	start int64 // file offset of buf[0]
	want  int   // preferred buffer size
	err   error // the first read error of the file
}

func (w *window) reset(src io.ReaderAt, size int64, blen int) {
	w.src, w.size, w.start = src, size, 0
	w.buf = w.buf[:0]
	w.err = nil
	w.want = max(256<<10, 4*blen+2*chunkSize)
}

// get returns the file bytes [lo, hi). Data before keep (<= lo) may be
// dropped: keep must not go backwards between calls. A file that shrank
// under us reads as zeros from its new end, as rsync's map_ptr does; the
// error is kept in w.err for the caller to report.
func (w *window) get(keep, lo, hi int64) ([]byte, error) {
	if keep < w.start || keep > lo || hi > w.size || lo > hi {
		return nil, fmt.Errorf("sender: window [%d,%d) outside [%d,%d)", lo, hi, w.start, w.size)
	}
	if hi <= w.start+int64(len(w.buf)) {
		return w.buf[lo-w.start : hi-w.start], nil
	}
	// Keep [keep, end of buffer), then read ahead.
	kept := copy(w.buf, w.buf[keep-w.start:])
	w.buf = w.buf[:kept]
	w.start = keep
	need := int(hi - keep)
	capWant := max(w.want, need)
	if cap(w.buf) < capWant {
		nb := make([]byte, kept, capWant)
		copy(nb, w.buf)
		w.buf = nb
	}
	fill := int(min(int64(cap(w.buf)), w.size-w.start))
	for len(w.buf) < fill {
		n, err := w.src.ReadAt(w.buf[len(w.buf):fill], w.start+int64(len(w.buf)))
		w.buf = w.buf[:len(w.buf)+n]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if w.err == nil {
				w.err = err
			}
			clear(w.buf[len(w.buf):fill])
			w.buf = w.buf[:fill]
		}
	}
	return w.buf[lo-w.start : hi-w.start], nil
}
