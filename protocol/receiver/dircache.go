package receiver

import (
	"io"
	"io/fs"
	"os"
	"path"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
)

// dirCache keeps the generator's current directory open (and those on the
// way to it: rootfs.Dirs), so the status of each entry costs one fstatat
// on the directory instead of os.Root walking every component of its path
// again (three or more system calls). Entries of one directory arrive
// together. Only one goroutine uses a dirCache.
type dirCache struct {
	dirs rootfs.Dirs

	cname rootfs.NameBuf // reused memory for the names of *at calls
}

func newDirCache(root *os.Root) dirCache {
	return dirCache{dirs: rootfs.Dirs{Root: root}}
}

// drop forgets the open directories. The generator calls it before it
// removes or replaces a directory, so no stale descriptor is used.
func (c *dirCache) drop() {
	c.dirs.Close()
}

// lstat returns the status of name without following a final symlink, as
// root.Lstat does. It runs once per entry of every transfer, so it does not
// allocate: the name goes through a reused buffer and the result is a
// value (the generator's callees keep no pointer to it).
func (c *dirCache) lstat(name string) (stat, error) {
	dir, base := path.Split(name)
	_, dfd, err := c.dirs.Dir(dir)
	if err != nil {
		return stat{}, err
	}
	var st unix.Stat_t
	if err := c.cname.Lstat(dfd, base, &st); err != nil {
		return stat{}, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return stat{
		mode:  st.Mode,
		size:  st.Size,
		mtime: st.Mtim.Sec,
		nsec:  int32(st.Mtim.Nsec),
		uid:   st.Uid,
		gid:   st.Gid,
		rdev:  st.Rdev,
		dev:   st.Dev,
		ino:   st.Ino,
	}, nil
}

// names lists directory dir. Only names: reading a directory opened in a
// root with ReadDir costs an lstat per entry.
func (c *dirCache) names(dir string) ([]string, error) {
	d, _, err := c.dirs.Dir(dir)
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
	_, dfd, err := c.dirs.Dir(dir)
	if err != nil {
		return nil, err
	}
	fd, err := c.cname.Open(dfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
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
		return c.dirs.Root.Rename(from, to)
	}
	_, dfd, err := c.dirs.Dir(fdir)
	if err != nil {
		return err
	}
	if err := unix.Renameat(dfd, fbase, dfd, tbase); err != nil {
		return &os.LinkError{Op: "renameat", Old: from, New: to, Err: err}
	}
	return nil
}
