package receiver

import (
	"io"
	"io/fs"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// dirCache keeps the generator's current directory open, so the status of
// each entry costs one fstatat on the directory instead of os.Root walking
// every component of its path again (three or more system calls).
// Entries of one directory arrive together, so one open directory is
// enough. Only the generator goroutine uses it.
type dirCache struct {
	root *os.Root
	name string   // path of f inside root, as path.Split gives it
	f    *os.File // nil when nothing is cached
}

// dir returns the directory dir of the module, opened through the root.
func (c *dirCache) dir(dir string) (*os.File, error) {
	if c.f != nil && c.name == dir {
		return c.f, nil
	}
	c.drop()
	f, err := c.root.Open(path.Clean("./" + dir))
	if err != nil {
		return nil, err
	}
	c.name, c.f = dir, f
	return f, nil
}

// drop forgets the open directory. The generator calls it before it
// removes or replaces a directory, so no stale descriptor is used.
func (c *dirCache) drop() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// lstat returns the status of name without following a final symlink, as
// root.Lstat does.
func (c *dirCache) lstat(name string) (*stat, error) {
	dir, base := path.Split(name)
	d, err := c.dir(dir)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(int(d.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return &stat{
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
	d, err := c.dir(dir + "/")
	if err != nil {
		return nil, err
	}
	if _, err := d.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return d.Readdirnames(-1)
}
