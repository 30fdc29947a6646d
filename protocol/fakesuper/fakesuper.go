// Package fakesuper reads and writes rsync's --fake-super metadata: the
// user.rsync.%stat extended attribute that stands in for what only root can set.
package fakesuper

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
)

// Attr is the attribute's name on Linux (rsync's XSTAT_ATTR).
const Attr = "user.rsync.%stat"

// maxLen bounds a value: rsync reads it into a 256-byte buffer.
const maxLen = 255

// Stat is what the attribute holds: the entry's full mode (type, permission
// and setuid/setgid/sticky bits), its device number, and its owners.
type Stat struct {
	Mode         uint32
	Major, Minor uint32
	UID, GID     uint32
}

// ErrCorrupt is a value that is not rsync's "MODE MAJOR,MINOR UID:GID".
var ErrCorrupt = errors.New("corrupt " + Attr + " xattr")

// Append appends the attribute's value as rsync writes it: "%o %u,%u %u:%u".
func (s Stat) Append(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(s.Mode), 8)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(s.Major), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(s.Minor), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(s.UID), 10)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(s.GID), 10)
}

// Parse reads a value as rsync's sscanf("%o %d,%d %d:%d") does: fields
// separated by single spaces, ',' and ':'; leading spaces before a number
// are skipped and trailing bytes ignored, as sscanf does. Numbers must fit
// 32 bits.
func Parse(b []byte) (Stat, error) {
	var s Stat
	if len(b) > maxLen {
		return s, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	p := parser{b: b}
	s.Mode = p.num(8, 0)
	s.Major = p.num(10, ' ')
	s.Minor = p.num(10, ',')
	s.UID = p.num(10, ' ')
	s.GID = p.num(10, ':')
	if p.bad {
		return Stat{}, fmt.Errorf("%w: %q", ErrCorrupt, b)
	}
	return s, nil
}

type parser struct {
	b   []byte
	i   int
	bad bool
}

// num expects sep (0 for none; ' ' matches any run of white space, as a
// space in a scanf format does), then white space, a sign and digits.
func (p *parser) num(base int, sep byte) uint32 {
	if p.bad {
		return 0
	}
	switch sep {
	case 0:
	case ' ':
		p.space()
	default:
		if p.i >= len(p.b) || p.b[p.i] != sep {
			p.bad = true
			return 0
		}
		p.i++
	}
	p.space()
	start := p.i
	if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
		p.i++
	}
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] < '0'+byte(base) {
		p.i++
	}
	v, err := strconv.ParseInt(string(p.b[start:p.i]), base, 64)
	if err != nil || v < -1<<31 || v > 1<<32-1 {
		p.bad = true
		return 0
	}
	return uint32(v)
}

func (p *parser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i]-'\t' <= '\r'-'\t') {
		p.i++
	}
}

// procPath names entry base of the open directory dfd without following
// base itself: the l-variants of the xattr calls then act on that one
// entry of the module, as the *at calls would.
func procPath(dfd int, base string) string {
	return "/proc/self/fd/" + strconv.Itoa(dfd) + "/" + base
}

// Get reads the attribute of name in root without following a final
// symlink. ok is false when the entry has none (or cannot have one: user
// attributes of symlinks and special files, file systems without them).
func Get(root *os.Root, name string) (s Stat, ok bool, err error) {
	var buf [maxLen + 1]byte
	n := 0
	err = at(root, name, func(dfd int, base string) error {
		var err error
		n, err = unix.Lgetxattr(procPath(dfd, base), Attr, buf[:])
		return err
	})
	return decode(buf[:], n, err)
}

// FGet is Get for an open file.
func FGet(f *os.File) (s Stat, ok bool, err error) {
	var buf [maxLen + 1]byte
	n, err := unix.Fgetxattr(int(f.Fd()), Attr, buf[:])
	return decode(buf[:], n, err)
}

func decode(buf []byte, n int, err error) (Stat, bool, error) {
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EPERM):
		return Stat{}, false, nil
	case errors.Is(err, unix.ERANGE):
		return Stat{}, false, fmt.Errorf("%w: longer than %d bytes", ErrCorrupt, maxLen)
	case err != nil:
		return Stat{}, false, fmt.Errorf("failed to read xattr %s: %w", Attr, err)
	}
	s, err := Parse(buf[:n])
	return s, err == nil, err
}

// Set writes the attribute of name in root (not following a final symlink).
func Set(root *os.Root, name string, s Stat) error {
	var buf [64]byte
	v := s.Append(buf[:0])
	return at(root, name, func(dfd int, base string) error {
		return unix.Lsetxattr(procPath(dfd, base), Attr, v, 0)
	})
}

// FSet is Set for an open file.
func FSet(f *os.File, s Stat) error {
	var buf [64]byte
	if err := unix.Fsetxattr(int(f.Fd()), Attr, s.Append(buf[:0]), 0); err != nil {
		return fmt.Errorf("failed to write xattr %s: %w", Attr, err)
	}
	return nil
}

// Remove deletes the attribute of name in root; a missing one is no error.
func Remove(root *os.Root, name string) error {
	err := at(root, name, func(dfd int, base string) error {
		return unix.Lremovexattr(procPath(dfd, base), Attr)
	})
	if errors.Is(err, unix.ENODATA) {
		return nil
	}
	return err
}

// FRemove is Remove for an open file.
func FRemove(f *os.File) error {
	err := unix.Fremovexattr(int(f.Fd()), Attr)
	if err == nil || errors.Is(err, unix.ENODATA) {
		return nil
	}
	return fmt.Errorf("failed to remove xattr %s: %w", Attr, err)
}

// at runs op on the descriptor of name's parent, opened through root.
func at(root *os.Root, name string, op func(dfd int, base string) error) error {
	d, base, err := rootfs.OpenParent(root, name)
	if err != nil {
		return err
	}
	defer d.Close()
	if base == "" {
		base = "."
	}
	sc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := sc.Control(func(dfd uintptr) { opErr = op(int(dfd), base) }); err != nil {
		return err
	}
	if opErr != nil {
		return fmt.Errorf("%s %q: %w", Attr, name, opErr)
	}
	return nil
}
