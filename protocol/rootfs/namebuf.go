package rootfs

import (
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// NameBuf makes the NUL-terminated names the *at system calls take in
// memory it reuses. The x/sys/unix wrappers allocate a copy of the name per
// call, which shows when a transfer stats or opens every file of a tree.
// A NameBuf serves one goroutine.
type NameBuf struct{ b []byte }

func (n *NameBuf) ptr(name string) (*byte, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return nil, unix.EINVAL
	}
	n.b = append(append(n.b[:0], name...), 0)
	return &n.b[0], nil
}

// Lstat is fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW).
func (n *NameBuf) Lstat(dirfd int, name string, st *unix.Stat_t) error {
	p, err := n.ptr(name)
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall6(sysFstatat, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// Open is openat(dirfd, name, flags, mode).
func (n *NameBuf) Open(dirfd int, name string, flags int, mode uint32) (int, error) {
	p, err := n.ptr(name)
	if err != nil {
		return -1, err
	}
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags), uintptr(mode), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}
