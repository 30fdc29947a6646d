package receiver

import (
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
)

// dirCache keeps the generator's current directory open, so the status of
// each entry costs one fstatat on the directory instead of os.Root walking
// every component of its path again (three or more system calls).
// Entries of one directory arrive together; the directory before stays
// open too, because a list's entries alternate with its parent's (the
// directory's own entry) and a child is opened beside its parent.
// Only one goroutine uses a dirCache.
type dirCache struct {
	root      *os.Root
	cur, prev cachedDir

	// Reused memory: names for the *at calls, and a slab lstat's
	// results are carved from (one allocation per statSlab entries).
	cname rootfs.NameBuf
	slab  []stat
}

// cachedDir is one open directory: name is its path inside the root as
// path.Split gives it ("" for the top, else ending in "/").
type cachedDir struct {
	name string
	f    *os.File // nil when empty
	fd   int      // f's descriptor
}

func (d *cachedDir) close() {
	if d.f != nil {
		d.f.Close()
		*d = cachedDir{}
	}
}

const statSlab = 128

// dir returns the directory dir of the module, opened through the root.
func (c *dirCache) dir(dir string) (*os.File, error) {
	if c.cur.f != nil && c.cur.name == dir {
		return c.cur.f, nil
	}
	if c.prev.f != nil && c.prev.name == dir {
		c.cur, c.prev = c.prev, c.cur
		return c.cur.f, nil
	}
	f, fd, err := c.open(dir)
	if err != nil {
		return nil, err
	}
	c.prev.close()
	c.prev, c.cur = c.cur, cachedDir{name: dir, f: f, fd: fd}
	return f, nil
}

// open opens directory dir. A child of a cached directory is one openat
// beside it, of a single component and not following a symlink, wrapped
// by os.NewFile (os.Root.Open adds four fcntl and a failing epoll_ctl per
// directory). Anything else, and any failure, goes through the root,
// which also follows symlinks that stay inside the module and gives the
// error a caller sees.
func (c *dirCache) open(dir string) (*os.File, int, error) {
	parent, base := path.Split(strings.TrimSuffix(dir, "/"))
	if base != "" && base != "." && base != ".." {
		for _, p := range [...]*cachedDir{&c.cur, &c.prev} {
			if p.f == nil || p.name != parent {
				continue
			}
			fd, err := c.cname.Open(p.fd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err == nil {
				return os.NewFile(uintptr(fd), path.Clean("./"+dir)), fd, nil
			}
			break
		}
	}
	f, err := c.root.Open(path.Clean("./" + dir))
	if err != nil {
		return nil, -1, err
	}
	return f, int(f.Fd()), nil
}

// drop forgets the open directories. The generator calls it before it
// removes or replaces a directory, so no stale descriptor is used.
func (c *dirCache) drop() {
	c.cur.close()
	c.prev.close()
}

// lstat returns the status of name without following a final symlink, as
// root.Lstat does. It runs once per entry of every transfer, so it does not
// allocate: the name goes through a reused buffer and the result is carved
// from a slab.
func (c *dirCache) lstat(name string) (*stat, error) {
	dir, base := path.Split(name)
	if _, err := c.dir(dir); err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := c.cname.Lstat(c.cur.fd, base, &st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	if len(c.slab) == 0 {
		c.slab = make([]stat, statSlab)
	}
	p := &c.slab[0]
	c.slab = c.slab[1:]
	*p = stat{
		mode:  st.Mode,
		size:  st.Size,
		mtime: st.Mtim.Sec,
		nsec:  int32(st.Mtim.Nsec),
		uid:   st.Uid,
		gid:   st.Gid,
		rdev:  st.Rdev,
		dev:   st.Dev,
		ino:   st.Ino,
	}
	return p, nil
}

// names lists directory dir. Only names: reading a directory opened in a
// root with ReadDir costs an lstat per entry.
func (c *dirCache) names(dir string) ([]string, error) {
	d, err := c.dir(dir + "/")
	if err != nil {
		return nil, err
	}
	if _, err := d.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return d.Readdirnames(-1)
}

// createTemp creates name, a fresh temp file, exclusively and write-only
// with mode 0600 in its directory's cached descriptor (rsync's mkstemp).
// The receiver keeps a dirCache of its own: files of one directory arrive
// together, so creating and renaming them costs no path walk. A file made
// with os.NewFile skips the poller registration os.Root.OpenFile tries
// (and that fails) for every regular file.
func (c *dirCache) createTemp(name string) (*os.File, error) {
	dir, base := path.Split(name)
	if _, err := c.dir(dir); err != nil {
		return nil, err
	}
	fd, err := c.cname.Open(c.cur.fd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &fs.PathError{Op: "openat", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// rename renames the regular file from to to. Within one directory (a temp
// file beside its target) it is one renameat on the cached descriptor, else
// root.Rename. The kernel refuses to replace a directory with the file
// (EISDIR), so os.Root.Rename's extra lstat of the target is not needed.
func (c *dirCache) rename(from, to string) error {
	fdir, fbase := path.Split(from)
	tdir, tbase := path.Split(to)
	if fdir != tdir || fbase == "" || tbase == "" {
		return c.root.Rename(from, to)
	}
	if _, err := c.dir(fdir); err != nil {
		return err
	}
	dfd := c.cur.fd
	if err := unix.Renameat(dfd, fbase, dfd, tbase); err != nil {
		return &os.LinkError{Op: "renameat", Old: from, New: to, Err: err}
	}
	return nil
}
