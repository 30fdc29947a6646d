package receiver

import (
	"errors"
	"io/fs"
	"path"
	"strings"
)

// Backups (--backup, --backup-dir, --suffix): what a transfer replaces or
// deletes is kept under a backup name instead.

// backupName is where the backup of name goes. A relative --backup-dir is
// relative to the destination; an absolute one to the module root, as
// rsyncd's path sanitizing makes it.
func (t *transfer) backupName(name string) string {
	cfg := t.cfg
	if cfg.BackupDir == "" {
		return name + cfg.Suffix
	}
	rel := name
	if cfg.Dest != "." {
		rel = strings.TrimPrefix(strings.TrimPrefix(name, cfg.Dest), "/")
	}
	dir := cfg.BackupDir
	if !strings.HasPrefix(dir, "/") {
		dir = path.Join(cfg.Dest, dir)
	}
	return path.Clean("/" + path.Join(dir, rel))[1:] + cfg.Suffix
}

// isBackupFile reports whether name looks like a backup of ours (only when
// backups live beside their files).
func (t *transfer) isBackupFile(name string) bool {
	return t.cfg.BackupDir == "" && t.cfg.Suffix != "" && strings.HasSuffix(name, t.cfg.Suffix) && len(name) > len(t.cfg.Suffix)
}

// makeBackup keeps the current name under its backup name. With link it
// hard-links, so name stays in place until a rename replaces it
// atomically; otherwise it moves name away.
func (t *transfer) makeBackup(name string, link bool) error {
	root := t.cfg.Root
	// Nothing to keep (rsync's make_backup returns early too): above all,
	// the backup of what stood here before, made when a symlink or device
	// made room for this file, must stay.
	if _, err := lstat(root, name); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if t.skipUnsafeBackup(name) {
		if link {
			return nil // replaced by the caller's rename
		}
		return root.Remove(name)
	}
	b := t.backupName(name)
	if t.cfg.BackupDir != "" {
		if err := root.MkdirAll(path.Dir(b), 0o755); err != nil {
			return err
		}
	}
	if st, err := lstat(root, b); err == nil {
		if st.isDir() {
			return &fs.PathError{Op: "backup", Path: b, Err: errors.New("a directory is in the way")}
		}
		if err := root.Remove(b); err != nil {
			return err
		}
	}
	if link {
		if err := root.Link(name, b); err == nil {
			return nil
		}
	}
	return root.Rename(name, b)
}
