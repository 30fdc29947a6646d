// Package chmod compiles rsync's --chmod directives ("incoming chmod" and
// "outgoing chmod" of a module) and applies them to file modes.
package chmod

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Bits of a mode that chmod changes (rsync's CHMOD_BITS) and the type bits.
const (
	permBits = 0o7777
	typeMask = 0o170000
	typeDir  = 0o040000
	typeLink = 0o120000
)

// Item operators and flags, as rsync's parse_chmod records them.
const (
	opAdd = iota + 1
	opSub
	opEq
	opSet

	flagXKeep = 1 << iota // X: execute only where some execute bit was set, or a directory
	flagDirsOnly
	flagFilesOnly
)

// item is one comma-separated clause, compiled to masks.
type item struct {
	and, or                   uint32
	copySrc, copyDst, copyAnd uint32 // permission-copy forms such as g=u
	op, flags                 uint8
}

// Modes is a compiled directive list; the zero value and nil change
// nothing.
type Modes struct {
	items []item
}

// maxLen bounds a directive: config input, but no real one is this long.
const maxLen = 4096

// Parse compiles s with rsync's --chmod grammar: comma-separated items,
// each an optional D (directories only) or F (files only) prefix, then an
// octal mode, or [ugoa]* followed by one of + - = and either letters of
// rwxXst or one class (u, g, o) to copy. umask is the daemon's process
// umask, which masks the bits of an item naming no class ("+x"), as rsync's
// orig_umask does. An empty s compiles to nil (rsyncd ignores an empty
// value).
func Parse(s string, umask uint32) (*Modes, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxLen {
		return nil, fmt.Errorf("chmod %q...: longer than %d bytes", s[:32], maxLen)
	}
	m := &Modes{}
	umask &= 0o777
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ',' {
			continue
		}
		it, err := parseItem(s[start:i], umask)
		if err != nil {
			return nil, fmt.Errorf("chmod %q: %w", s, err)
		}
		m.items = append(m.items, it)
		start = i + 1
	}
	return m, nil
}

// MustParse is Parse for directives known to be valid (tests, constants).
func MustParse(s string, umask uint32) *Modes {
	m, err := Parse(s, umask)
	if err != nil {
		panic(err)
	}
	return m
}

// parseItem compiles one clause (the state machine of rsync's parse_chmod).
func parseItem(c string, umask uint32) (item, error) {
	var (
		it                           item
		where, what, topbits, topoct uint32
		copybits                     uint32
		op                           uint8
		octal                        bool
	)
	bad := func(format string, args ...any) (item, error) {
		return item{}, fmt.Errorf("item %q: "+format, append([]any{c}, args...)...)
	}
	i := 0
	// First half: D/F, the classes, then the operator or an octal mode.
first:
	for ; i < len(c); i++ {
		switch ch := c[i]; ch {
		case 'D':
			if it.flags&flagFilesOnly != 0 {
				return bad("both D and F")
			}
			it.flags |= flagDirsOnly
		case 'F':
			if it.flags&flagDirsOnly != 0 {
				return bad("both D and F")
			}
			it.flags |= flagFilesOnly
		case 'u':
			where |= 0o100
			topbits |= 0o4000
		case 'g':
			where |= 0o010
			topbits |= 0o2000
		case 'o':
			where |= 0o001
		case 'a':
			where |= 0o111
			topbits |= 0o6000
		case '+', '-', '=':
			op = map[byte]uint8{'+': opAdd, '-': opSub, '=': opEq}[ch]
			i++
			break first
		default:
			if ch < '0' || ch > '7' || where != 0 {
				return bad("unexpected %q", ch)
			}
			op, octal, where = opSet, true, 1
			break first
		}
	}
	if op == 0 {
		return bad("no operator (+, - or =) and no octal mode")
	}
	if octal {
		for ; i < len(c); i++ {
			if c[i] < '0' || c[i] > '7' {
				return bad("%q is not an octal digit", c[i])
			}
			if what = what*8 + uint32(c[i]-'0'); what > permBits {
				return bad("mode above 07777")
			}
		}
	} else {
		for ; i < len(c); i++ {
			ch := c[i]
			if copybits != 0 {
				return bad("a class to copy cannot be combined with other letters")
			}
			switch ch {
			case 'r':
				what |= 4
			case 'w':
				what |= 2
			case 'X':
				it.flags |= flagXKeep
				what |= 1
			case 'x':
				what |= 1
			case 's':
				if topbits != 0 {
					topoct |= topbits
				} else {
					topoct = 0o4000
				}
			case 't':
				topoct |= 0o1000
			case 'u', 'g', 'o':
				if what != 0 || topoct != 0 {
					return bad("a class to copy cannot be combined with other letters")
				}
				copybits = map[byte]uint32{'u': 0o100, 'g': 0o010, 'o': 0o001}[ch]
			default:
				return bad("unexpected %q", ch)
			}
		}
	}

	whereGiven := where != 0
	var bits uint32
	if whereGiven {
		bits = where * what
	} else {
		where = 0o111
		bits = (where * what) &^ umask
	}
	it.op = op
	it.copySrc, it.copyDst, it.copyAnd = copybits, where, permBits
	if !whereGiven {
		it.copyAnd = permBits &^ umask
	}
	switch op {
	case opAdd:
		it.and, it.or = permBits, bits|topoct
	case opSub:
		it.and = permBits &^ (bits | topoct)
	case opEq:
		clear := where * 7
		if topoct != 0 {
			clear |= topbits
		}
		if copybits != 0 {
			clear |= specialBits(where)
		}
		it.and, it.or = permBits&^clear, bits|topoct
	case opSet:
		it.and, it.or = 0, bits
		it.copySrc, it.copyDst, it.copyAnd = 0, 0, permBits
	}
	return it, nil
}

// specialBits is the special bit of each class in where: setuid for u,
// setgid for g, sticky for o.
func specialBits(where uint32) uint32 {
	var b uint32
	if where&0o100 != 0 {
		b |= 0o4000
	}
	if where&0o010 != 0 {
		b |= 0o2000
	}
	if where&0o001 != 0 {
		b |= 0o1000
	}
	return b
}

// copyBits is the permission-copy part of an item for mode.
func (it *item) copyBits(mode uint32) uint32 {
	var b uint32
	if it.copySrc&0o100 != 0 {
		b |= mode >> 6 & 7
	}
	if it.copySrc&0o010 != 0 {
		b |= mode >> 3 & 7
	}
	if it.copySrc&0o001 != 0 {
		b |= mode & 7
	}
	return it.copyDst * b & it.copyAnd
}

// Apply returns mode (type and permission bits, as in a file list) with
// the directives applied in order (rsync's tweak_mode). Symlinks and a
// zero mode are returned unchanged, as every rsync caller does.
func (m *Modes) Apply(mode uint32) uint32 {
	if m == nil || mode == 0 || mode&typeMask == typeLink {
		return mode
	}
	isX := mode&0o111 != 0
	typ := mode &^ permBits
	isDir := typ&typeMask == typeDir
	for i := range m.items {
		it := &m.items[i]
		if it.flags&flagDirsOnly != 0 && !isDir || it.flags&flagFilesOnly != 0 && isDir {
			continue
		}
		cp := it.copyBits(mode)
		mode &= it.and
		if it.flags&flagXKeep != 0 && !isX && !isDir {
			mode |= it.or &^ 0o111
		} else {
			mode |= it.or
		}
		if it.op == opSub {
			mode &= permBits &^ cp
		} else {
			mode |= cp
		}
	}
	return mode | typ
}

// processUmask is the umask the daemon started with, read before any
// goroutine creates files: umask(2) can only be read by setting it.
var processUmask = func() uint32 {
	old := unix.Umask(0o022)
	unix.Umask(old)
	return uint32(old)
}()

// Umask returns the process umask at start (rsync's orig_umask).
func Umask() uint32 { return processUmask }
