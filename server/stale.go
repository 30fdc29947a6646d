package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/auth"
	"github.com/rsyncd-go/rsyncd-go/modules"
	"github.com/rsyncd-go/rsyncd-go/protocol/receiver"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
)

const (
	// maxStaleDepth bounds how deep the stale temp walk descends; deeper
	// directories are skipped with a log line.
	maxStaleDepth = 256
	// staleBatch is how many directory entries are read at a time, so a
	// huge directory does not need them all in memory.
	staleBatch = 512
	// ctimeSlack covers the kernel's coarse file timestamps, which may lag
	// the real time by a clock tick: a temp file this process creates just
	// after it started must never look older than its start. It is well
	// below systemd's restart delay, so a temp file of a killed predecessor
	// is still older.
	ctimeSlack = 50 * time.Millisecond
)

// CleanStaleTemps removes, one module after the other, the stale temp files
// of every module a client may write to (RemoveStaleTemps), counting files
// as stale when their status changed before start, the time this process
// started. Each module path is walked once, however many modules share it.
// Problems are logged; the walk goes on with the next module. Run it only
// in a daemon that owns its modules: an --inetd process must not, since
// other processes may be writing temp files at the same time.
func CleanStaleTemps(ctx context.Context, mods []modules.Module, start time.Time, log *slog.Logger) {
	before := start.Add(-ctimeSlack)
	seen := map[string]bool{}
	for _, m := range mods {
		p := filepath.Clean(m.Path)
		if !writable(&m) || seen[p] || modules.HasConnVars(m.Path) {
			continue // a per-connection path (%RSYNC_USER_NAME%) has no one directory
		}
		seen[p] = true
		if _, err := RemoveStaleTemps(ctx, m, before, log); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("stale temp cleanup failed", "module", m.Name, "err", err)
		}
	}
}

// writable reports whether any client may write to m: it is not read only,
// or an "auth users" rule grants ":rw".
func writable(m *modules.Module) bool {
	if !m.ReadOnly {
		return true
	}
	// Rules rsyncd would take silently still grant what they grant.
	rules, _ := auth.ParseUsers(m.AuthUsers)
	for _, r := range rules {
		if r.Access == auth.ReadWrite {
			return true
		}
	}
	return false
}

// RemoveStaleTemps walks module m through an os.Root, never following a
// symlink and at most maxStaleDepth levels deep, and removes the regular
// files whose name is one of the receiver's temp names
// (receiver.IsTempName) and whose status last changed before before: a
// temp file a live transfer writes to has a fresh ctime and is kept. Each
// removal and a summary are logged; a directory that cannot be read is
// logged and skipped. It returns how many files it removed; the error is
// for a module that cannot be opened or a cancelled ctx.
func RemoveStaleTemps(ctx context.Context, m modules.Module, before time.Time, log *slog.Logger) (int, error) {
	began := time.Now()
	root, err := os.OpenRoot(m.Path)
	if err != nil {
		return 0, fmt.Errorf("module %s: %w", m.Name, err)
	}
	defer root.Close()
	w := staleWalk{root: root, module: m.Name, before: before, log: log}
	type dir struct {
		rel   string
		depth int
	}
	stack := []dir{{".", 0}}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return w.removed, fmt.Errorf("module %s: stale temp cleanup: %w", m.Name, err)
		}
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		subdirs, err := w.cleanDir(d.rel)
		if err != nil {
			log.Warn("stale temp cleanup: directory skipped", "module", m.Name, "path", d.rel, "err", err)
		}
		for _, s := range subdirs {
			if d.depth+1 > maxStaleDepth {
				log.Warn("stale temp cleanup: directory too deep; skipped", "module", m.Name, "path", s, "max_depth", maxStaleDepth)
				continue
			}
			stack = append(stack, dir{s, d.depth + 1})
		}
	}
	log.Info("stale temp cleanup done", "module", m.Name, "removed", w.removed, "duration", time.Since(began).Round(time.Millisecond))
	return w.removed, nil
}

// staleWalk is the state of one module's walk.
type staleWalk struct {
	root    *os.Root
	module  string
	before  time.Time
	log     *slog.Logger
	removed int
	names   []string // temp-named entries of the current batch, reused
}

// cleanDir removes the stale temp files of directory rel and returns the
// paths of its subdirectories (never symlinks).
func (w *staleWalk) cleanDir(rel string) ([]string, error) {
	// rootfs.OpenNoFollow: a directory swapped for a symlink after it was
	// listed is not entered, so no part of the tree is walked twice.
	d, err := rootfs.OpenNoFollow(w.root, rel)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if fi, err := d.Stat(); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", rel)
	}
	var subdirs []string
	for {
		ents, err := d.ReadDir(staleBatch)
		w.names = w.names[:0]
		for _, e := range ents {
			switch {
			case e.IsDir():
				subdirs = append(subdirs, path.Join(rel, e.Name()))
			case e.Type().IsRegular() && receiver.IsTempName(e.Name()):
				w.names = append(w.names, e.Name())
			}
		}
		if len(w.names) > 0 {
			if cerr := w.removeStale(d, rel); cerr != nil {
				return subdirs, cerr
			}
		}
		if errors.Is(err, io.EOF) {
			return subdirs, nil
		}
		if err != nil {
			return subdirs, err
		}
	}
}

// removeStale removes the names of w.names in directory d (rel) that are
// still regular files and older than w.before, through d's descriptor so
// that each name is a single component that cannot lead elsewhere.
func (w *staleWalk) removeStale(d *os.File, rel string) error {
	sc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	return sc.Control(func(fd uintptr) {
		dfd := int(fd)
		for _, name := range w.names {
			p := path.Join(rel, name)
			var st unix.Stat_t
			if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if !errors.Is(err, unix.ENOENT) {
					w.log.Warn("stale temp cleanup: stat failed", "module", w.module, "path", p, "err", err)
				}
				continue
			}
			ctime := time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
			if st.Mode&unix.S_IFMT != unix.S_IFREG || !ctime.Before(w.before) {
				continue
			}
			// Flag 0: unlinkat never removes a directory.
			if err := unix.Unlinkat(dfd, name, 0); err != nil {
				if !errors.Is(err, unix.ENOENT) {
					w.log.Warn("stale temp cleanup: remove failed", "module", w.module, "path", p, "err", err)
				}
				continue
			}
			w.removed++
			w.log.Info("removed stale temp file", "module", w.module, "path", p, "changed", ctime.UTC().Format(time.RFC3339))
		}
	})
}
