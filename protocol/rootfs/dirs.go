package rootfs

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dirs keeps the directories on the way to the last one opened inside a
// root open, so the next directory costs one openat beside an ancestor it
// shares with the last: transfers walk a tree directory by directory, and
// os.Root.Open resolves every component again and adds four fcntl and a
// failing epoll_ctl per directory. A Dirs serves one goroutine.
type Dirs struct {
	Root *os.Root

	// stack[0] is the top of the root; stack[i] is the directory named by
	// the first i components of the last name opened.
	stack []openDir
	names NameBuf

	// The last Dir's argument and result: a transfer asks for the same
	// directory once per entry.
	last   string
	lastF  *os.File
	lastFd int
}

type openDir struct {
	name string // its component, "" for the top
	f    *os.File
}

// maxDirsDepth bounds the descriptors a Dirs holds: deeper directories
// are opened through the root and not kept.
const maxDirsDepth = 16

// Dir returns directory dir ("" or "." for the top; a trailing slash is
// allowed), opened inside the root, and its descriptor. It stays open
// until a Dir call that leaves it or Close. A component is opened beside
// its parent without following a symlink; a symlink, or any failure, is
// resolved through os.Root, which follows symlinks that stay inside the
// root and gives the error a caller sees.
func (d *Dirs) Dir(dir string) (*os.File, int, error) {
	if d.lastF != nil && dir == d.last {
		return d.lastF, d.lastFd, nil
	}
	f, fd, err := d.open(dir)
	if err != nil {
		d.lastF = nil
		return nil, -1, err
	}
	d.last, d.lastF, d.lastFd = dir, f, fd
	return f, fd, nil
}

func (d *Dirs) open(dir string) (*os.File, int, error) {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "." {
		dir = ""
	}
	if len(d.stack) == 0 {
		f, err := d.Root.Open(".")
		if err != nil {
			return nil, -1, err
		}
		d.stack = append(d.stack, openDir{f: f})
	}
	parts := splitDir(dir)
	keep := 1 // the top
	for keep < len(d.stack) && keep <= len(parts) && d.stack[keep].name == parts[keep-1] {
		keep++
	}
	d.truncate(keep)
	for i := keep - 1; i < len(parts); i++ {
		p := parts[i]
		if p == "." || p == ".." || len(d.stack) > maxDirsDepth {
			return d.viaRoot(dir)
		}
		top := d.stack[len(d.stack)-1].f
		fd, err := d.names.Open(int(top.Fd()), p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return d.viaRoot(dir)
		}
		d.stack = append(d.stack, openDir{name: p, f: os.NewFile(uintptr(fd), strings.Join(parts[:i+1], "/"))})
	}
	f := d.stack[len(d.stack)-1].f
	return f, int(f.Fd()), nil
}

// viaRoot opens dir through the root and keeps it as the only directory
// below the top, so the next Dir starts over from the top.
func (d *Dirs) viaRoot(dir string) (*os.File, int, error) {
	d.truncate(1)
	name := path.Clean("./" + dir)
	f, err := d.Root.Open(name)
	if err != nil {
		return nil, -1, err
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		if err == nil {
			err = &fs.PathError{Op: "open", Path: name, Err: syscall.ENOTDIR}
		}
		return nil, -1, err
	}
	// A name no component can have: no later Dir builds on it.
	d.stack = append(d.stack, openDir{name: "\x00", f: f})
	return f, int(f.Fd()), nil
}

func (d *Dirs) truncate(n int) {
	d.lastF = nil
	for len(d.stack) > n {
		d.stack[len(d.stack)-1].f.Close()
		d.stack = d.stack[:len(d.stack)-1]
	}
}

// Close closes every directory held. Callers close before they remove or
// replace a directory, so no stale descriptor is used.
func (d *Dirs) Close() {
	d.truncate(0)
}

func splitDir(dir string) []string {
	if dir == "" {
		return nil
	}
	return strings.Split(dir, "/")
}
