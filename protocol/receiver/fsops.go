package receiver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
)

const (
	sIFMT     = 0o170000
	sIFDIR    = 0o040000
	sIFREG    = 0o100000
	sIFLNK    = 0o120000
	chmodBits = 0o7777
)

// TempMarker is part of every temp file name this daemon creates, so stale
// ones can be recognised and removed safely.
const TempMarker = ".rsyncd-go-tmp."

var amRoot = os.Geteuid() == 0

var errNotDir = syscall.ENOTDIR

// stat is the part of a file's status the generator compares.
type stat struct {
	mode     uint32
	size     int64
	mtime    int64
	nsec     int32
	uid, gid uint32
	rdev     uint64
	dev, ino uint64
	realMode uint32 // with fake super: the entry's own mode when mode came from its xattr, else 0
}

// rdevOf returns the device number of a device entry.
func rdevOf(f *flist.File) uint64 { return unix.Mkdev(f.RdevMajor, f.RdevMinor) }

func (s *stat) isDir() bool     { return s.mode&sIFMT == sIFDIR }
func (s *stat) isRegular() bool { return s.mode&sIFMT == sIFREG }
func (s *stat) isSymlink() bool { return s.mode&sIFMT == sIFLNK }

func lstat(root *os.Root, name string) (*stat, error) {
	fi, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	return statOf(fi), nil
}

func statOf(fi fs.FileInfo) *stat {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return &stat{size: fi.Size(), mtime: fi.ModTime().Unix()}
	}
	return &stat{
		mode:  sys.Mode,
		size:  sys.Size,
		mtime: sys.Mtim.Sec,
		nsec:  int32(sys.Mtim.Nsec),
		uid:   sys.Uid,
		gid:   sys.Gid,
		rdev:  sys.Rdev,
		dev:   sys.Dev,
		ino:   sys.Ino,
	}
}

// tempName returns a fresh temp name beside name, carrying TempMarker.
func tempName(name string) string {
	dir, base := path.Split(name)
	if len(base) > 200 {
		base = base[:200]
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return dir + "." + base + TempMarker + hex.EncodeToString(r[:])
}

// IsTempName reports whether a directory entry is one of this daemon's
// temp files.
func IsTempName(base string) bool {
	i := strings.LastIndex(base, TempMarker)
	if i < 1 || base[0] != '.' {
		return false
	}
	suffix := base[i+len(TempMarker):]
	if len(suffix) != 8 {
		return false
	}
	_, err := hex.DecodeString(suffix)
	return err == nil
}

// setAttrs brings permissions, ownership and times of name in line with f.
// st is the current status when known (exists), nil for a fresh entry.
func (t *transfer) setAttrs(name string, f *flist.File, st *stat, exists, symlink bool) {
	cfg := t.cfg
	root := cfg.Root
	if st == nil || !exists {
		var err error
		if st, err = lstat(root, name); err != nil {
			t.noteIOError("rsync: stat %q failed: %v", name, err)
			return
		}
	}
	if cfg.FakeSuper {
		t.setFakeStat(name, nil, f, t.fakeMode(f, st, exists))
	} else if (cfg.PreserveUID && t.mayChown()) || cfg.PreserveGID {
		uid, gid := -1, -1
		if cfg.PreserveUID && t.mayChown() && t.wantUID(f) != st.uid {
			uid = int(t.wantUID(f))
		}
		if cfg.PreserveGID && t.wantGID(f) != st.gid {
			gid = int(t.wantGID(f))
		}
		if uid >= 0 || gid >= 0 {
			if err := root.Lchown(name, uid, gid); err != nil && (uid >= 0 || !errors.Is(err, fs.ErrPermission)) {
				t.noteIOError("rsync: chown %q failed: %v", name, err)
			}
		}
	}
	if !symlink && !cfg.FakeSuper {
		want := t.wantMode(f, st, exists)
		if want != st.mode&chmodBits {
			if err := root.Chmod(name, unixToFileMode(want)); err != nil {
				t.noteIOError("rsync: chmod %q failed: %v", name, err)
			}
		}
	}
	if !cfg.PreserveTimes || f.IsDir() {
		// Directory times are set once their contents are in place.
		return
	}
	if symlink {
		if cfg.OmitLinkTimes {
			return
		}
		if err := rootfs.Lutimes(root, name, f.ModTime, f.ModNsec); err != nil && !errors.Is(err, unix.ENOSYS) {
			t.noteIOError("rsync: failed to set times on %q: %v", name, err)
		}
		return
	}
	if st.mtime == f.ModTime && st.nsec == f.ModNsec {
		return
	}
	mt := time.Unix(f.ModTime, int64(f.ModNsec))
	if err := root.Chtimes(name, time.Time{}, mt); err != nil {
		t.noteIOError("rsync: failed to set times on %q: %v", name, err)
	}
}

// futimens sets the times of an open file with nanoseconds
// (utimensat(fd, NULL, ...), as glibc's futimens does).
func futimens(f *os.File, sec int64, nsec int32) error {
	ts := [2]unix.Timespec{{Sec: sec, Nsec: int64(nsec)}, {Sec: sec, Nsec: int64(nsec)}}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, f.Fd(), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return &fs.PathError{Op: "futimens", Path: f.Name(), Err: e}
	}
	return nil
}

// setFileAttrs brings a freshly written temp file's ownership, permissions
// and times in line with f through its descriptor, before it is renamed
// into place: no path is resolved again.
func (t *transfer) setFileAttrs(out *os.File, name string, f *flist.File) {
	cfg := t.cfg
	if cfg.FakeSuper {
		// Owners go into the xattr (set with the mode below).
	} else if (cfg.PreserveUID && t.mayChown()) || cfg.PreserveGID {
		uid, gid := -1, -1
		if cfg.PreserveUID && t.mayChown() {
			uid = int(t.wantUID(f))
		}
		if cfg.PreserveGID {
			gid = int(t.wantGID(f))
		}
		// As rsync's set_file_attrs, only an owner that differs is
		// changed: a chown dirties the inode even when it changes nothing.
		var st unix.Stat_t
		if err := unix.Fstat(int(out.Fd()), &st); err != nil || (uid >= 0 && uint32(uid) != st.Uid) || (gid >= 0 && uint32(gid) != st.Gid) {
			if err := out.Chown(uid, gid); err != nil && (uid >= 0 || !errors.Is(err, fs.ErrPermission)) {
				t.noteIOError("rsync: chown %q failed: %v", name, err)
			}
		}
	}
	// Without --perms an updated file keeps the mode of the one it
	// replaces (rsync's dest_mode), with the module's chmod on top.
	var cur *stat
	if !cfg.PreservePerms {
		if st, err := lstat(cfg.Root, name); err == nil && st.isRegular() {
			cur = st
		}
	}
	// After chown, which clears setuid and setgid bits.
	if cfg.FakeSuper {
		t.setFakeStat(name, out, f, sIFREG|t.wantMode(f, cur, cur != nil))
	} else if err := out.Chmod(unixToFileMode(t.wantMode(f, cur, cur != nil))); err != nil {
		t.noteIOError("rsync: chmod %q failed: %v", name, err)
	}
	if cfg.PreserveTimes {
		if err := futimens(out, f.ModTime, f.ModNsec); err != nil {
			t.noteIOError("rsync: failed to set times on %q: %v", name, err)
		}
	}
}

// listMode is the permission bits an entry should end with before the
// module's incoming chmod (wantMode in policy.go applies it).
func (t *transfer) listMode(f *flist.File, st *stat, exists bool) uint32 {
	if t.cfg.PreservePerms {
		return f.Mode & chmodBits
	}
	if exists && st != nil && !f.IsDir() {
		return st.mode & chmodBits
	}
	return f.Mode & chmodBits &^ t.cfg.Umask
}

// unixToFileMode converts Unix permission bits, including setuid, setgid and
// sticky, to an fs.FileMode.
func unixToFileMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

func (t *transfer) wantUID(f *flist.File) uint32 {
	if !t.cfg.NumericIDs && f.User != "" {
		if id, ok := t.users.id(f.User); ok {
			return id
		}
	}
	return f.UID
}

func (t *transfer) wantGID(f *flist.File) uint32 {
	if !t.cfg.NumericIDs && f.Group != "" {
		if id, ok := t.groups.id(f.Group); ok {
			return id
		}
	}
	return f.GID
}

// touchUpDirs sets directory times (and modes tightened during the run)
// once their contents are complete.
func (t *transfer) touchUpDirs() {
	cfg := t.cfg
	if t.inc != nil {
		// Each directory was done as its list finished, unless
		// --delete-delay held them all back.
		if t.inc.touchAll {
			t.touchAllDirs()
		}
		return
	}
	if !cfg.PreserveTimes || cfg.OmitDirTimes || cfg.DryRun {
		return
	}
	for _, ndx := range t.dirs {
		f := &t.files[ndx]
		name := t.localPath(f)
		mt := time.Unix(f.ModTime, int64(f.ModNsec))
		if err := cfg.Root.Chtimes(name, time.Time{}, mt); err != nil {
			t.noteIOError("rsync: failed to set times on %q: %v", name, err)
		}
	}
}
