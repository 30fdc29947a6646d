package receiver

import (
	"errors"
	"io/fs"

	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
)

// Hard links (-H): the sender marks the files of a link group; the first
// one in list order (the leader) is transferred, the others are linked to
// it once it is in place.

// indexHardLinks finds each group's leader.
func (t *transfer) indexHardLinks() {
	if !t.cfg.HardLinks {
		return
	}
	leaders := map[int32]int32{}
	t.leader = make([]int32, len(t.files))
	for i := range t.files {
		f := &t.files[i]
		t.leader[i] = -1
		if f.Flags&flist.FlagHLinked == 0 || f.Flags&flist.FlagRemoved != 0 || f.IsDir() {
			continue
		}
		l, ok := leaders[f.HLinkGroup]
		if !ok {
			leaders[f.HLinkGroup] = int32(i)
			continue
		}
		t.leader[i] = l
	}
}

// isLinkFollower reports whether entry ndx is linked to an earlier leader.
func (t *transfer) isLinkFollower(ndx int32) bool {
	return t.leader != nil && t.leader[ndx] >= 0
}

// finishHardLinks links every follower to its leader.
func (t *transfer) finishHardLinks() error {
	if t.inc != nil {
		t.finishIncHardLinks()
		return nil
	}
	if t.leader == nil || t.cfg.DryRun {
		return nil
	}
	for i, l := range t.leader {
		if l < 0 {
			continue
		}
		from, to := t.localPath(&t.files[l]), t.localPath(&t.files[i])
		lst, err := lstat(t.cfg.Root, from)
		if err != nil {
			t.noteIOError("rsync: hard link target %q missing: %v", from, err)
			continue
		}
		if st, err := lstat(t.cfg.Root, to); err == nil {
			if st.dev == lst.dev && st.ino == lst.ino {
				if t.cfg.RemoveSource == 1 {
					t.success(int32(i))
				}
				continue
			}
			if err := t.makeRoom(to, st); err != nil {
				t.noteIOError("rsync: delete %q failed: %v", to, err)
				continue
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.noteIOError("rsync: stat %q failed: %v", to, err)
			continue
		}
		if err := t.cfg.Root.Link(from, to); err != nil {
			t.noteIOError("rsync: link %q => %q failed: %v", to, from, err)
		} else if t.cfg.RemoveSource == 1 {
			t.success(int32(i))
		}
	}
	return nil
}
