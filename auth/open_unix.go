//go:build unix

package auth

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSymlinks caps how many symlinks one open follows, as rsync does.
const maxSymlinks = 40

// openNoAttackerSymlinks opens path for reading, walking it one component
// at a time from directory descriptors, and follows a symlink only when it
// is owned by root or by our effective uid: a symlink planted by another
// user (say to /etc/shadow) is refused with ELOOP, as rsyncd does.
func openNoAttackerSymlinks(path string) (*os.File, error) {
	if path == "" {
		return nil, &os.PathError{Op: "open", Path: path, Err: unix.EINVAL}
	}
	trusted := geteuid()
	dfd := unix.AT_FDCWD
	defer func() {
		if dfd != unix.AT_FDCWD {
			unix.Close(dfd)
		}
	}()
	restart := func() error {
		fd, err := unix.Open("/", traverseFlags, 0)
		if err != nil {
			return err
		}
		if dfd != unix.AT_FDCWD {
			unix.Close(dfd)
		}
		dfd = fd
		return nil
	}
	fail := func(err error) (*os.File, error) {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}

	rest := path
	if strings.HasPrefix(rest, "/") {
		if err := restart(); err != nil {
			return fail(err)
		}
		rest = strings.TrimLeft(rest, "/")
	}
	links := maxSymlinks
	for rest != "" {
		comp, tail, more := strings.Cut(rest, "/")
		if comp == "" {
			return fail(unix.EINVAL)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, comp, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail(err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if st.Uid != 0 && int(st.Uid) != trusted {
				return fail(fmt.Errorf("symlink %q is owned by uid %d: %w", comp, st.Uid, unix.ELOOP))
			}
			if links--; links < 0 {
				return fail(unix.ELOOP)
			}
			target, err := readlinkat(dfd, comp)
			if err != nil {
				return fail(err)
			}
			if more {
				target += "/" + tail
			}
			if strings.HasPrefix(target, "/") {
				if err := restart(); err != nil {
					return fail(err)
				}
				target = strings.TrimLeft(target, "/")
			}
			rest = target
			continue
		}
		if !more {
			// O_NONBLOCK so a FIFO cannot hang the open; the caller
			// refuses anything but a regular file.
			fd, err := unix.Openat(dfd, comp, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
			if err != nil {
				return fail(err)
			}
			return os.NewFile(uintptr(fd), path), nil
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fail(unix.ENOTDIR)
		}
		next, err := unix.Openat(dfd, comp, traverseFlags|unix.O_NOFOLLOW, 0)
		if err != nil {
			return fail(err)
		}
		if dfd != unix.AT_FDCWD {
			unix.Close(dfd)
		}
		dfd = next
		rest = strings.TrimLeft(tail, "/")
		if rest == "" {
			// The path names a directory ("dir/").
			return fail(unix.EISDIR)
		}
	}
	return fail(unix.EISDIR)
}

// readlinkat returns the target of the symlink name in directory dfd.
func readlinkat(dfd int, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(dfd, name, buf)
	if err != nil {
		return "", err
	}
	if n >= len(buf) {
		return "", unix.ENAMETOOLONG
	}
	return string(buf[:n]), nil
}

// fileStat is what strict modes look at.
type fileStat struct {
	mode    uint32
	uid     uint32
	regular bool
}

func statFile(f *os.File) (fileStat, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return fileStat{}, err
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		return fileStat{}, err
	}
	if serr != nil {
		return fileStat{}, serr
	}
	return fileStat{
		mode:    uint32(st.Mode),
		uid:     st.Uid,
		regular: st.Mode&unix.S_IFMT == unix.S_IFREG,
	}, nil
}
