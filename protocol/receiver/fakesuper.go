package receiver

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/fakesuper"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
)

// mayChown reports whether the transfer may give entries other owners:
// the daemon runs as root and the module's uid (if any) is root's.
func (t *transfer) mayChown() bool { return amRoot && !t.cfg.Unprivileged }

// fakeOverlay makes st what rsync's x_lstat sees with fake super: the mode,
// owners and device number of the entry's user.rsync.%stat xattr, when it
// has one. Only regular files and directories carry it (rsync's
// get_stat_xattr); devices, symlinks and specials appear as regular files.
func (t *transfer) fakeOverlay(name string, st *stat) {
	if typ := st.mode & sIFMT; typ != sIFREG && typ != sIFDIR {
		return
	}
	xs, ok, err := fakesuper.Get(t.cfg.Root, name)
	if err != nil {
		t.noteIOError("rsync: %v", err)
		return
	}
	if !ok {
		return
	}
	st.realMode = st.mode
	st.mode = xs.Mode
	st.uid, st.gid = xs.UID, xs.GID
	st.rdev = unix.Mkdev(xs.Major, xs.Minor)
}

// readLink reads a symlink's target; with fake super a symlink is a
// regular file holding its target (rsync's do_readlink on Linux).
func (t *transfer) readLink(name string, st *stat) (string, error) {
	if st.realMode == 0 || st.realMode&sIFMT != sIFREG {
		return t.cfg.Root.Readlink(name)
	}
	f, err := rootfs.OpenNoFollow(t.cfg.Root, name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, flist.MaxPathLen))
	return string(b), err
}

// fakeCreate makes the stand-in of a symlink (holding its target) or of a
// device or special file (empty) with fake super: a regular file of mode
// 0600, as rsync's do_symlink and do_mknod do.
func (t *transfer) fakeCreate(name, content string) error {
	f, err := t.cfg.Root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = t.cfg.Root.Remove(name)
	}
	return err
}

// fakeMode is the full mode an entry should have with fake super: its type
// and the permissions of wantMode, or the list's mode for a symlink.
func (t *transfer) fakeMode(f *flist.File, st *stat, exists bool) uint32 {
	if f.IsSymlink() {
		return f.Mode
	}
	return f.Mode&sIFMT | t.wantMode(f, st, exists)
}

// setFakeStat is rsync's set_stat_xattr: the entry itself gets the
// permission bits of mode plus owner access (and none of setuid, setgid,
// sticky); what it cannot show (type, special bits, owners, device
// number) goes into its xattr, which is removed when nothing is left to
// record. out, when set, is the entry open for writing.
func (t *transfer) setFakeStat(name string, out *os.File, f *flist.File, mode uint32) {
	root := t.cfg.Root
	var real *stat
	var cur fakesuper.Stat
	var has bool
	var err error
	if out != nil {
		var fi fs.FileInfo
		if fi, err = out.Stat(); err == nil {
			real = statOf(fi)
			cur, has, err = fakesuper.FGet(out)
		}
	} else if real, err = lstat(root, name); err == nil {
		cur, has, err = fakesuper.Get(root, name)
	}
	if err != nil && real == nil {
		t.noteIOError("rsync: failed to re-stat %q: %v", name, err)
		return
	}
	if err != nil {
		has = false // a corrupt value is replaced
	}
	own := uint32(0o600)
	if real.isDir() {
		own = 0o700
	}
	newMode := real.mode&sIFMT | mode&0o777 | own
	if real.mode&(sIFMT|chmodBits) != newMode {
		if out != nil {
			err = out.Chmod(unixToFileMode(newMode))
		} else {
			err = root.Chmod(name, unixToFileMode(newMode))
		}
		if err != nil {
			t.noteIOError("rsync: chmod %q failed: %v", name, err)
		}
	}
	want := fakesuper.Stat{Mode: mode, UID: real.uid, GID: real.gid}
	if has {
		want.UID, want.GID = cur.UID, cur.GID
	}
	if t.cfg.PreserveUID {
		want.UID = t.wantUID(f)
	}
	if t.cfg.PreserveGID {
		want.GID = t.wantGID(f)
	}
	if f.IsDevice() {
		want.Major, want.Minor = f.RdevMajor, f.RdevMinor
	}
	if newMode == mode && want.Major == 0 && want.Minor == 0 && want.UID == real.uid && want.GID == real.gid {
		if has {
			if out != nil {
				err = fakesuper.FRemove(out)
			} else {
				err = fakesuper.Remove(root, name)
			}
			if err != nil {
				t.noteIOError("rsync: delete of stat xattr failed for %q: %v", name, err)
			}
		}
		return
	}
	if has && cur == want {
		return
	}
	if out != nil {
		err = fakesuper.FSet(out, want)
	} else {
		err = fakesuper.Set(root, name, want)
	}
	if err != nil && !(errors.Is(err, unix.EPERM) && real.isSymlink()) {
		t.noteIOError("rsync: failed to write xattr %s for %q: %v", fakesuper.Attr, name, err)
	}
}
