package sender

import (
	"io"
	"io/fs"
	"path"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
)

// The sender works directory by directory: it lists a directory and then
// asks for the status of each entry, and later opens the files of a list,
// which sit together. Doing both through the open directory costs one
// system call per entry, where os.Root resolves every component of the
// path again (an open, a stat and a close per component), and a directory
// opened through os.Root makes ReadDir stat every entry as well.

// lstatAt returns the status of base, a name in the open directory dfd,
// without following a final symlink. The result lives in b and is valid
// until the next call: the walk stats every entry of the tree, and uses
// each status only until it stats the next.
func (b *builder) lstatAt(dfd int, base string) (*fileInfo, error) {
	b.st = fileInfo{name: base}
	// syscall.Stat_t and unix.Stat_t are the same kernel struct.
	if err := b.names.Lstat(dfd, base, (*unix.Stat_t)(unsafe.Pointer(&b.st.sys))); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: base, Err: err}
	}
	return &b.st, nil
}

// Both Stat_t types must have one layout for the conversion above.
var _ = [1]struct{}{}[unsafe.Sizeof(syscall.Stat_t{})-unsafe.Sizeof(unix.Stat_t{})]

// fileInfo is an fs.FileInfo from a stat, as os builds it.
type fileInfo struct {
	name string
	sys  syscall.Stat_t
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.sys.Size }
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.sys.Mtim.Unix()) }
func (fi *fileInfo) IsDir() bool        { return fi.Mode().IsDir() }
func (fi *fileInfo) Sys() any           { return &fi.sys }

func (fi *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(fi.sys.Mode & 0o777)
	switch fi.sys.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if fi.sys.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if fi.sys.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if fi.sys.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// srcFile is a file being sent: an *os.File, or the dirCache's fdFile.
type srcFile interface {
	io.ReaderAt
	Stat() (fs.FileInfo, error)
	Close() error
}

// fdFile is a file opened for sending, held by its bare descriptor. An
// *os.File costs two more system calls per file (fcntl, and an epoll_ctl
// that fails for a regular file opened O_NONBLOCK) and three allocations,
// which shows when a pull sends many small files. It is read with pread
// only.
type fdFile struct {
	fd   int
	name string
	fi   fileInfo // Stat's result
}

// ReadAt reads len(p) bytes at off, or fewer with an error (io.EOF at the
// end of the file), as io.ReaderAt asks.
func (f *fdFile) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		k, err := unix.Pread(f.fd, p[n:], off+int64(n))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return n, &fs.PathError{Op: "read", Path: f.name, Err: err}
		case k == 0:
			return n, io.EOF
		}
		n += k
	}
	return n, nil
}

func (f *fdFile) Stat() (fs.FileInfo, error) {
	f.fi = fileInfo{name: path.Base(f.name)}
	if err := unix.Fstat(f.fd, (*unix.Stat_t)(unsafe.Pointer(&f.fi.sys))); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: f.name, Err: err}
	}
	return &f.fi, nil
}

func (f *fdFile) Close() error {
	if err := unix.Close(f.fd); err != nil {
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// dirCache keeps the directory of the last file the sender opened (and
// those on the way to it: rootfs.Dirs).
type dirCache struct {
	dirs  rootfs.Dirs
	names rootfs.NameBuf
	file  fdFile // the one file open at a time
}

// open opens name for reading without following a final symlink (as
// openNoFollow), through the cached directory. The sender has one file
// open at a time: the result is valid until the next call.
func (c *dirCache) open(name string, noatime bool) (srcFile, error) {
	dir, base := path.Split(name)
	if base == "" || base == "." || base == ".." {
		f, err := openNoFollow(c.dirs.Root, name, noatime)
		if err != nil {
			return nil, err // not a nil *os.File in a non-nil srcFile
		}
		return f, nil
	}
	_, dfd, err := c.dirs.Dir(dir)
	if err != nil {
		return nil, err
	}
	fd, err := openAt(&c.names, dfd, base, noatime)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	c.file = fdFile{fd: fd, name: name}
	return &c.file, nil
}

func (c *dirCache) close() {
	c.dirs.Close()
}
