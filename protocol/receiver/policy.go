package receiver

import (
	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
	"github.com/rsyncd-go/rsyncd-go/protocol/safelink"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// MungePrefix is what "munge symlinks" puts before every received symlink
// target (rsync's SYMLINK_PREFIX): a directory that does not exist, so the
// stored link cannot be followed.
const MungePrefix = "/rsyncd-munged/"

// applyListPolicy applies the module's policies to entries as they arrive
// from the sender, before anything is created from them (rsync's
// recv_file_entry): the incoming chmod to every mode but a symlink's, and
// the munge prefix to every symlink target. It must run on every file
// list the receiver reads, once, before the generator sees it.
func (t *transfer) applyListPolicy(files []flist.File) {
	cfg := t.cfg
	munge := cfg.MungeSymlinks && cfg.PreserveLinks
	if cfg.Chmod == nil && !munge {
		return
	}
	for i := range files {
		f := &files[i]
		f.Mode = cfg.Chmod.Apply(f.Mode)
		if munge && f.IsSymlink() {
			f.LinkTarget = MungePrefix + f.LinkTarget
		}
	}
}

// wantMode is the permission bits an entry should end with: listMode, with
// the module's incoming chmod applied once more as rsync's set_file_attrs
// does, so that without --perms existing entries get it too.
func (t *transfer) wantMode(f *flist.File, st *stat, exists bool) uint32 {
	m := t.listMode(f, st, exists)
	if t.cfg.Chmod == nil {
		return m
	}
	return t.cfg.Chmod.Apply(f.Mode&^chmodBits|m) & chmodBits
}

// skipUnsafeLink reports whether --safe-links ignores symlink f, and tells
// a verbose client so, as rsync's generator does.
func (t *transfer) skipUnsafeLink(f *flist.File) bool {
	if !t.cfg.SafeLinks || !safelink.Unsafe(f.LinkTarget, f.Name) {
		return false
	}
	if t.cfg.Verbose > 0 {
		t.tellClient(wire.MsgInfo, "ignoring unsafe symlink %q -> %q", f.Name, f.LinkTarget)
	}
	return true
}

// skipUnsafeBackup reports whether --safe-links keeps the symlink at name
// out of the backups, as rsync's make_backup does: one whose target is
// unsafe or cannot be read.
func (t *transfer) skipUnsafeBackup(name string) bool {
	cfg := t.cfg
	if !cfg.SafeLinks || !cfg.PreserveLinks {
		return false
	}
	st, err := lstat(cfg.Root, name)
	if err != nil || !st.isSymlink() {
		return false
	}
	target, err := cfg.Root.Readlink(name)
	return err != nil || target == "" || safelink.Unsafe(target, t.relName(name))
}

// itemizeReplaced reports a symlink, device or special file that is
// created anew, as rsync's generator does once the new entry is in place:
// a change of its value ('c'), and where an entry of the same type stood,
// what differed between it and the sender's entry (its time, owner,
// group), as rsync's itemize compares with the stat taken before.
func (t *transfer) itemizeReplaced(ndx int32, f *flist.File, st *stat, exists bool) error {
	same := exists && st.mode&sIFMT == f.Mode&sIFMT
	return t.itemize(ndx, f, st, same, itemLocalChange|itemReportChange)
}

// hiddenUnreadable reports whether "ignore nonreadable" hides the entry at
// name from deletion: rsync's generator lists a directory through the
// same make_file as its sender, which skips what the daemon may not read
// (access(2) with R_OK; symlinks are not checked).
func (t *transfer) hiddenUnreadable(name string, st *stat) bool {
	if !t.cfg.IgnoreNonreadable || st.isSymlink() {
		return false
	}
	return rootfs.Access(t.cfg.Root, name, unix.R_OK) != nil // an error: cannot be read either
}
