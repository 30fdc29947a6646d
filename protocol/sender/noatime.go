package sender

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
)

// openFlags are the flags a file to send is opened with (rsync's do_open
// adds O_NOATIME for "open noatime" and --open-noatime).
func openFlags(noatime bool) int {
	fl := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	if noatime {
		fl |= unix.O_NOATIME
	}
	return fl
}

// openNoFollow opens a file of the module for reading without following a
// final symlink, with O_NOATIME when noatime is set. O_NOATIME needs the
// file's owner (or CAP_FOWNER): where it is refused the file is opened
// without it, so a module's uid can still send files it may read.
func openNoFollow(root *os.Root, name string, noatime bool) (*os.File, error) {
	if !noatime {
		return rootfs.OpenNoFollow(root, name)
	}
	d, base, err := rootfs.OpenParent(root, name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if base == "" {
		base = "."
	}
	var names rootfs.NameBuf
	fd, err := openAt(&names, int(d.Fd()), base, true)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// openAt opens base in directory dfd for reading without following a
// final symlink; O_NOATIME, when asked for, needs the file's owner (or
// CAP_FOWNER): where it is refused the file is opened without it.
func openAt(names *rootfs.NameBuf, dfd int, base string, noatime bool) (int, error) {
	fd, err := names.Open(dfd, base, openFlags(noatime), 0)
	if noatime && errors.Is(err, unix.EPERM) {
		fd, err = names.Open(dfd, base, openFlags(false), 0)
	}
	return fd, err
}

// openFollow opens a file of the module for reading, following symlinks
// inside the module (--copy-links), with O_NOATIME when noatime is set.
func openFollow(root *os.Root, name string, noatime bool) (srcFile, error) {
	var f *os.File
	var err error
	if noatime {
		f, err = root.OpenFile(name, os.O_RDONLY|unix.O_NOATIME, 0)
	}
	if !noatime || errors.Is(err, unix.EPERM) {
		f, err = root.Open(name)
	}
	if err != nil {
		return nil, err // not a nil *os.File in a non-nil srcFile
	}
	return f, nil
}
