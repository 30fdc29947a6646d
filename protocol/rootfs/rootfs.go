// Package rootfs holds the file operations of a module that os.Root lacks:
// each opens the parent directory through the root and calls the *at
// system call with a single-component name, so nothing leaves the module.
package rootfs

import (
	"io/fs"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// OpenParent opens the directory holding name through root and returns it
// with name's last component.
func OpenParent(root *os.Root, name string) (*os.File, string, error) {
	dir, base := path.Split(name)
	dir = path.Clean("./" + dir)
	d, err := root.Open(dir)
	if err != nil {
		return nil, "", err
	}
	return d, base, nil
}

// atParent runs op with the parent directory's descriptor and name's base.
func atParent(root *os.Root, name string, op func(dfd int, base string) error) error {
	d, base, err := OpenParent(root, name)
	if err != nil {
		return err
	}
	defer d.Close()
	sc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := sc.Control(func(dfd uintptr) { opErr = op(int(dfd), base) }); err != nil {
		return err
	}
	return opErr
}

// OpenNoFollow opens a file of the module for reading without following a
// symlink in its last component, which os.Root.OpenFile does even with
// O_NOFOLLOW. O_NONBLOCK keeps a FIFO swapped in from blocking the open.
func OpenNoFollow(root *os.Root, name string) (*os.File, error) {
	fd := -1
	err := atParent(root, name, func(dfd int, base string) error {
		var err error
		fd, err = unix.Openat(dfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: unwrap(err)}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Mknod creates a device or special file.
func Mknod(root *os.Root, name string, mode uint32, rdev uint64) error {
	err := atParent(root, name, func(dfd int, base string) error {
		return unix.Mknodat(dfd, base, mode, int(rdev))
	})
	if err != nil {
		return &fs.PathError{Op: "mknod", Path: name, Err: unwrap(err)}
	}
	return nil
}

// Lutimes sets the times of a symlink itself.
func Lutimes(root *os.Root, name string, sec int64, nsec int32) error {
	ts := []unix.Timespec{{Sec: sec, Nsec: int64(nsec)}, {Sec: sec, Nsec: int64(nsec)}}
	err := atParent(root, name, func(dfd int, base string) error {
		return unix.UtimesNanoAt(dfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return &fs.PathError{Op: "lutimes", Path: name, Err: unwrap(err)}
	}
	return nil
}

func unwrap(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// Access checks, as access(2) with the process's real ids does, whether
// name may be used as mode asks (unix.R_OK, ...), without following a final
// symlink out of the module.
func Access(root *os.Root, name string, mode uint32) error {
	return atParent(root, name, func(dfd int, base string) error {
		return unix.Faccessat(dfd, base, mode, 0)
	})
}

// AccessAt is Access for base, a name in the open directory d.
func AccessAt(d *os.File, base string, mode uint32) error {
	sc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var accErr error
	if err := sc.Control(func(fd uintptr) { accErr = unix.Faccessat(int(fd), base, mode, 0) }); err != nil {
		return err
	}
	return accErr
}
