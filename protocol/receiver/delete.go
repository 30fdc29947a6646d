package receiver

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"syscall"

	"github.com/rsyncd-go/rsyncd-go/protocol/filter"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
	"github.com/rsyncd-go/rsyncd-go/protocol/xferlog"
)

// delStats counts deletions by kind, as NDX_DEL_STATS reports them.
type delStats struct {
	files, dirs, symlinks, devices, specials int
	skipped                                  int // stopped by --max-delete
	warned                                   bool
}

func (d *delStats) total() int { return d.files + d.dirs + d.symlinks + d.devices + d.specials }

// indexChildren records, per directory of the list, the names the sender
// has in it: whatever else the destination holds there is extraneous.
func (t *transfer) indexChildren() {
	if t.cfg.Delete == DeleteNone {
		return
	}
	t.children = make(map[string]map[string]struct{})
	for i := range t.files {
		f := &t.files[i]
		if f.Name == "." || f.Flags&flist.FlagRemoved != 0 {
			continue
		}
		dir, base := path.Split(f.Name)
		dir = path.Clean("./" + dir)
		m := t.children[dir]
		if m == nil {
			m = make(map[string]struct{})
			t.children[dir] = m
		}
		m[base] = struct{}{}
	}
}

// deletePass deletes extraneous entries in every directory the sender sent
// with its contents (--delete-before, --delete-after).
func (t *transfer) deletePass() error {
	if t.inc != nil {
		t.delayedDeletes() // noted per directory as its list came
		return nil
	}
	if !t.cfg.Recursive {
		return nil
	}
	for i := range t.files {
		f := &t.files[i]
		if f.IsDir() && f.Flags&flist.FlagContentDir != 0 {
			if err := t.deleteInDir(t.localPath(f), f.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// deletionsAllowed says whether deletion may run; an I/O error on the
// sending side disables it (unless ignore errors), as rsync does.
func (t *transfer) deletionsAllowed() bool {
	if t.list.IOError == 0 || t.cfg.IgnoreErrors {
		return true
	}
	if !t.del.warned {
		t.del.warned = true
		t.tellClient(wire.MsgError, "IO error encountered -- skipping file deletion")
	}
	return false
}

// protected reports whether filter rules keep name from deletion.
func (t *transfer) protected(name string, isDir bool) bool {
	cfg := t.cfg
	if cfg.DaemonFilter != nil && cfg.DaemonFilter.Match(name, isDir, filter.Receiver) {
		return true
	}
	return !cfg.DeleteExcluded && cfg.Filter != nil && cfg.Filter.Match(name, isDir, filter.Receiver)
}

// deleteInDir removes what local directory dir holds beyond the entries the
// sender listed for listDir.
func (t *transfer) deleteInDir(dir, listDir string) error {
	if !t.deletionsAllowed() {
		return nil
	}
	names, err := t.dirc.names(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
			return nil // nothing there yet to delete
		}
		t.noteIOError("rsync: opendir %q failed: %v", dir, err)
		return nil
	}
	keep := t.children[path.Clean(listDir)]
	for _, base := range names {
		if _, ok := keep[base]; ok {
			continue
		}
		name := path.Join(dir, base)
		sv, err := t.dirc.lstat(name)
		st := &sv
		if err != nil {
			continue // vanished meanwhile
		}
		if t.protected(path.Join(listDir, base), st.isDir()) || t.hiddenUnreadable(name, st) {
			continue
		}
		if err := t.deleteItem(name, st, true); err != nil && !errors.Is(err, errMaxDelete) {
			t.noteIOError("rsync: delete %q failed: %v", name, err)
		}
	}
	return nil
}

var errMaxDelete = errors.New("--max-delete limit reached")

// deleteItem removes one entry, a directory with everything in it, telling
// the client about each deletion as rsync does (MSG_DELETED).
func (t *transfer) deleteItem(name string, st *stat, recurse bool) error {
	cfg := t.cfg
	if cfg.MaxDelete >= 0 && t.del.total() >= cfg.MaxDelete {
		t.del.skipped++
		return errMaxDelete
	}
	if st.isDir() {
		t.dirc.drop()
	}
	if st.isDir() && recurse {
		d, err := cfg.Root.Open(name)
		if err != nil {
			return err
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return err
		}
		for _, base := range names {
			child := path.Join(name, base)
			cst, err := lstat(cfg.Root, child)
			if err != nil || t.hiddenUnreadable(child, cst) {
				continue
			}
			if err := t.deleteItem(child, cst, true); err != nil {
				return err
			}
		}
	}
	if !cfg.DryRun {
		if cfg.Backup && !st.isDir() && !t.isBackupFile(name) {
			if err := t.makeBackup(name, false); err != nil {
				return err
			}
		} else if err := cfg.Root.Remove(name); err != nil {
			if st.isDir() && errors.Is(err, syscall.ENOTEMPTY) {
				// What stays inside (hidden or protected) keeps it, as
				// rsync's delete_item says, without an error.
				t.tellClient(wire.MsgInfo, "cannot delete non-empty directory: %s", t.relName(name))
				return nil
			}
			return err
		}
	}
	switch {
	case st.isDir():
		t.del.dirs++
	case st.isSymlink():
		t.del.symlinks++
	case st.mode&sIFMT == 0o020000 || st.mode&sIFMT == 0o060000:
		t.del.devices++
	case st.isRegular():
		t.del.files++
	default:
		t.del.specials++
	}
	t.stats.Deleted++
	t.logDelete(name, st.isDir())
	if cfg.OnFile != nil && !cfg.DryRun {
		cfg.OnFile(xferlog.Event{Op: xferlog.Delete, File: &flist.File{Name: t.relName(name), Mode: st.mode},
			Path: name, Iflags: xferlog.ItemDeleted})
	}
	return nil
}

// makeRoom removes what stands where a new entry goes, as rsync's
// delete_item with a DEL_FOR_* flag: no deletion is logged or counted for
// it and --max-delete does not hold it back (what a directory in the way
// holds is deleted as usual, as rsync's delete_dir_contents does). With
// --backup a non-directory is moved to its backup name. A directory goes
// when empty, or with its contents under --delete or --force; otherwise
// the client is told and errNotEmpty returned.
func (t *transfer) makeRoom(name string, st *stat) error {
	cfg := t.cfg
	if !st.isDir() {
		if cfg.DryRun {
			return nil
		}
		if cfg.Backup && !t.isBackupFile(name) {
			return t.makeBackup(name, false)
		}
		return cfg.Root.Remove(name)
	}
	t.dirc.drop()
	d, err := cfg.Root.Open(name)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	full := false
	if len(names) > 0 {
		if cfg.Delete == DeleteNone && !cfg.Force {
			t.tellClient(wire.MsgInfo, "cannot delete non-empty directory: %s", t.relName(name))
			return errNotEmpty
		}
		for _, base := range names {
			child := path.Join(name, base)
			cst, err := lstat(cfg.Root, child)
			if err != nil || t.hiddenUnreadable(child, cst) {
				full = full || err == nil
				continue
			}
			if err := t.deleteItem(child, cst, true); err != nil {
				if !errors.Is(err, errMaxDelete) {
					t.noteIOError("rsync: delete %q failed: %v", child, err)
				}
				full = true
			}
		}
	}
	if cfg.DryRun {
		if full {
			return errNotEmpty
		}
		return nil
	}
	if err := cfg.Root.Remove(name); err != nil {
		if errors.Is(err, syscall.ENOTEMPTY) {
			t.tellClient(wire.MsgInfo, "cannot delete non-empty directory: %s", t.relName(name))
			return errNotEmpty
		}
		return err
	}
	return nil
}

// errNotEmpty is a directory in the way that keeps entries.
var errNotEmpty = errors.New("directory not empty")

// relName is name relative to the transfer root, as the client knows it.
func (t *transfer) relName(name string) string {
	if d := t.cfg.Dest; d != "." && t.soloFile == "" {
		return strings.TrimPrefix(strings.TrimPrefix(name, d), "/")
	}
	return name
}

// logDelete tells the client about a deletion (protocol 29+), by the name
// relative to the transfer root; directories carry a trailing NUL.
func (t *transfer) logDelete(name string, isDir bool) {
	if t.cfg.Protocol < 29 {
		return
	}
	msg := []byte(t.relName(name))
	if isDir {
		msg = append(msg, 0)
	}
	_ = t.out.WriteMsg(wire.MsgDeleted, msg)
}

// warnMaxDelete tells the client about deletions --max-delete skipped.
func (t *transfer) warnMaxDelete() {
	if t.del.skipped > 0 {
		t.tellClient(wire.MsgWarning, "Deletions stopped due to --max-delete limit (%d skipped)", t.del.skipped)
	}
}

// maxDeleteError is the session's outcome when deletions were skipped.
func (t *transfer) maxDeleteError() error {
	if t.del.skipped == 0 {
		return nil
	}
	return rerr.New(rerr.DelLimit, "the --max-delete limit stopped deletions")
}
