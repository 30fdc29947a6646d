package sender

import (
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sender works directory by directory: it lists a directory and then
// asks for the status of each entry, and later opens the files of a list,
// which sit together. Doing both through the open directory costs one
// system call per entry, where os.Root resolves every component of the
// path again (an open, a stat and a close per component), and a directory
// opened through os.Root makes ReadDir stat every entry as well.

// lstatAt returns the status of base, a name in the open directory d,
// without following a final symlink.
func lstatAt(d *os.File, base string) (fs.FileInfo, error) {
	fi := &fileInfo{name: base}
	sc, err := d.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		// syscall.Stat_t and unix.Stat_t are the same kernel struct.
		serr = unix.Fstatat(int(fd), base, (*unix.Stat_t)(unsafe.Pointer(&fi.sys)), unix.AT_SYMLINK_NOFOLLOW)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, &fs.PathError{Op: "lstat", Path: base, Err: serr}
	}
	return fi, nil
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

// dirCache keeps the directory of the last file the sender opened.
type dirCache struct {
	root *os.Root
	name string
	f    *os.File
}

// open opens name for reading without following a final symlink (as
// openNoFollow), through the cached directory.
func (c *dirCache) open(name string, noatime bool) (*os.File, error) {
	dir, base := path.Split(name)
	if base == "" || base == "." || base == ".." {
		return openNoFollow(c.root, name, noatime)
	}
	dir = path.Clean("./" + dir)
	if c.f == nil || c.name != dir {
		c.close()
		f, err := c.root.Open(dir)
		if err != nil {
			return nil, err
		}
		c.name, c.f = dir, f
	}
	sc, err := c.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var oerr error
	if err := sc.Control(func(dfd uintptr) { fd, oerr = openAt(int(dfd), base, noatime) }); err != nil {
		return nil, err
	}
	if oerr != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: oerr}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func (c *dirCache) close() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}
