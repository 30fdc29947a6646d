package flist

import "unsafe"

// arenaChunk is the size of one block of decoded strings. Names share
// blocks instead of taking an allocation each, which keeps a list of
// millions of entries compact and cheap to build.
const arenaChunk = 64 << 10

// arena hands out immutable byte runs carved from large blocks. A block is
// never written again once a run of it is handed out, which is what makes
// the strings built on it safe.
type arena struct {
	buf []byte
}

func (a *arena) alloc(n int) []byte {
	if n > arenaChunk/8 {
		return make([]byte, n)
	}
	if cap(a.buf)-len(a.buf) < n {
		// Blocks grow with use, so that a short list stays small.
		size := max(min(max(2*cap(a.buf), 1024), arenaChunk), n)
		a.buf = make([]byte, 0, size)
	}
	l := len(a.buf)
	a.buf = a.buf[:l+n]
	return a.buf[l : l+n : l+n]
}

// str returns a string holding a copy of b.
func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	p := a.alloc(len(b))
	copy(p, b)
	return unsafe.String(unsafe.SliceData(p), len(p))
}

// bytes returns a copy of b with its capacity capped to its length.
func (a *arena) bytes(b []byte) []byte {
	p := a.alloc(len(b))
	copy(p, b)
	return p
}
