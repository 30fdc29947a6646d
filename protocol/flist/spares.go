package flist

// maxKept bounds the slices a Spares keeps: more lists than a sender's
// lookahead holds in flight at one time.
const maxKept = 128

// Spares keeps the storage of lists a side is done with, for its next
// lists to fill: with incremental recursion a list per directory comes and
// goes, and reusing a spent one spares an allocation per list. It keeps
// at most Max elements of capacity in all, in at most maxKept slices (Get
// looks at each: a peer sending thousands of one-entry lists and then
// longer ones must not make every list a long scan); the zero value keeps
// nothing.
type Spares[T any] struct {
	Max  int
	free [][]T
	held int // the capacity of free
}

// Put keeps b's storage, emptied, unless that would pass Max. Nothing may
// refer to b's elements any more.
func (s *Spares[T]) Put(b []T) {
	if cap(b) == 0 || len(s.free) == maxKept || s.held+cap(b) > s.Max {
		return
	}
	clear(b) // no strings kept alive by a spare
	s.free = append(s.free, b[:0])
	s.held += cap(b)
}

// Get returns an empty kept slice with room for n elements, or nil.
func (s *Spares[T]) Get(n int) []T {
	for i, b := range s.free {
		if cap(b) >= n {
			last := len(s.free) - 1
			s.free[i] = s.free[last]
			s.free = s.free[:last]
			s.held -= cap(b)
			return b
		}
	}
	return nil
}
