package receiver

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/filter"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Incremental recursion (CF_INC_RECURSE): the sender sends the top level
// first and then one list per directory, between the file data, as it
// walks. The receiver goroutine reads each list when its
// NDX_FLIST_OFFSET-dir index arrives and queues it; the generator handles
// the lists in order: the directory itself first (with its deletions), then
// its entries. Once every transfer of a list has finished it tells the
// sender NDX_DONE, sets the directory's time and drops the list, so memory
// follows the directories in flight rather than the tree (rsync's
// generate_files and check_for_finished_files).

// maxDirs bounds the directories one session may announce.
const maxDirs = flist.DefaultMaxFiles

// incList is one received list.
type incList struct {
	files  []flist.File
	start  int32 // wire index of files[0]; start-1 stands for the parent
	parent int32 // index in incState.dirs of the directory it fills, -1 for none
	dirs   int32 // index in incState.dirs of its first directory entry
	skip   bool  // its directory is missing: the contents are skipped
	// The list came from incState.lr, where its storage goes back when
	// the sender closes it (the first list was read before).
	fromReader bool

	// Under incState.mu.
	inProgress int                // transfers asked for and not finished
	toRedo     int                // failed transfers waiting to be asked again
	sent       map[int32]struct{} // sent again already (rsync's FLAG_FILE_SENT)
}

// incDir is a directory of the transfer, as rsync's dir_flist keeps it.
type incDir struct {
	file    flist.File // the entry, its strings copied out of the list
	removed bool       // a duplicate dropped from its list
	gotList bool       // its list has arrived (receiver goroutine)
	created bool       // made early so its parent's time can be set (generator)
	missing bool       // not there: its contents are skipped (generator)
}

// testHookListDone, when set by a test, runs after each list's NDX_DONE.
var testHookListDone func()

// incLink is a hard-link follower and its group's leader (local paths).
type incLink struct {
	from, to string
	ndx      int32
	dir      *incDir // the follower's directory, whose time is set again
}

// incState is the shared state of an incremental recursion.
type incState struct {
	lr   *flist.ListReader
	wake chan struct{} // something new for the generator

	mu        sync.Mutex
	lists     []*incList // received and not yet closed by the sender's NDX_DONE
	genDone   int        // lists[:genDone] are finished by the generator (NDX_DONE sent)
	genPos    int        // lists[:genPos] have been generated
	eof       bool       // NDX_FLIST_EOF has arrived
	redo      []int32
	dirs      []*incDir
	nextStart int32
	held      int // entries of the lists held now
	maxHeld   int
	total     int // entries received
	count     int // lists received

	// Receiver goroutine only.
	recvClosed bool // every list was closed: no more may come
	unpoked    int  // lists added since the generator was last woken

	// Generator only.
	cur      *incList
	leaders  map[int32]string // -H: group -> local path of its leader
	links    []incLink        // -H: followers to link at the end
	delayed  []string         // --delete-delay: local paths to delete at the end
	touchAll bool             // directory times wait for the end (--delete-delay)
}

// incStats reports the lists and entries received and the most entries
// held at once (logged for tests and benchmarks).
func (t *transfer) incStats() (lists, total, maxHeld int) {
	t.inc.mu.Lock()
	defer t.inc.mu.Unlock()
	return t.inc.count, t.inc.total, t.inc.maxHeld
}

// startInc sets up incremental recursion around the first list, which the
// caller read with cfg.Lists, before either goroutine runs.
func (t *transfer) startInc() error {
	inc := &incState{lr: t.cfg.Lists, wake: make(chan struct{}, 1), nextStart: t.list.NdxStart}
	t.inc = inc
	if err := inc.add(t, t.list, -1); err != nil {
		return err
	}
	// A lone entry may be a single-file transfer: rsync's sender follows
	// it with the next list or the end at once (recv_additional_file_list).
	if len(t.files) == 1 {
		ndx, err := t.in.ReadNdx(&t.recvNdx)
		if err != nil {
			return streamErr(err)
		}
		if ndx == wire.NdxDone || ndx >= 0 {
			return rerr.New(rerr.Protocol, "Invalid file index: %d after a one-entry file list", ndx)
		}
		if err := t.recvFlistNdx(ndx); err != nil {
			return err
		}
	}
	inc.touchAll = t.cfg.Delete == DeleteDelay
	return nil
}

// add records a new list: its directories join dirs, the list joins the
// queue. parent is the directory it fills (-1 for the first list).
func (inc *incState) add(t *transfer, l *flist.List, parent int32) error {
	t.stats.TotalSize += listSize(l.Files) // receiver goroutine, or before it starts
	t.applyListPolicy(l.Files)
	il := &incList{files: l.Files, start: l.NdxStart, parent: parent, fromReader: parent >= 0}
	inc.mu.Lock()
	defer inc.mu.Unlock()
	il.dirs = int32(len(inc.dirs))
	for i := range l.Files {
		f := &l.Files[i]
		if !f.IsDir() {
			continue
		}
		if len(inc.dirs) >= maxDirs {
			return rerr.New(rerr.Protocol, "more than %d directories", maxDirs)
		}
		d := &incDir{file: *f, removed: f.Flags&flist.FlagRemoved != 0}
		// The list goes away when it is done; the directory stays.
		d.file.Name = strings.Clone(f.Name)
		inc.dirs = append(inc.dirs, d)
	}
	if parent < 0 && len(l.Files) > 0 && l.Files[0].Name == "." && l.Files[0].Flags&flist.FlagRemoved == 0 && len(inc.dirs) > 0 {
		il.parent = 0 // the transfer root is its own parent
	}
	// The next list starts after this one and a slot for its parent.
	inc.nextStart = l.NdxStart + int32(len(l.Files)) + 1
	inc.lists = append(inc.lists, il)
	inc.held += len(l.Files)
	inc.total += len(l.Files)
	inc.count++
	inc.maxHeld = max(inc.maxHeld, inc.held)
	if l.IOError != 0 {
		t.mu.Lock()
		t.list.IOError |= l.IOError
		t.mu.Unlock()
	}
	if inc.unpoked++; inc.unpoked >= pokeBatch {
		inc.poke()
	}
	return nil
}

// pokeBatch is how many new lists wake the generator while the sender's
// lists keep arriving; the rest wake it when the receiver has read all
// there is (pokeWaiting). Waking a goroutine per list costs the runtime a
// thread wake-up and sleep each time, far more than the generator's work
// on a list of unchanged files.
const pokeBatch = 16

// pokeWaiting wakes the generator for the lists added since it was last
// woken; the receiver calls it before it waits for input.
func (inc *incState) pokeWaiting() {
	if inc.unpoked > 0 {
		inc.poke()
	}
}

func (inc *incState) poke() {
	inc.unpoked = 0
	select {
	case inc.wake <- struct{}{}:
	default:
	}
}

// recvFlistNdx handles NDX_FLIST_EOF or an NDX_FLIST_OFFSET-dir index
// from the sender (rsync's read_ndx_and_attrs): the end of the lists, or
// the list of a directory, read here.
func (t *transfer) recvFlistNdx(ndx int32) error {
	inc := t.inc
	inc.mu.Lock()
	eof, ndirs := inc.eof, len(inc.dirs)
	inc.mu.Unlock()
	if eof || inc.recvClosed {
		return rerr.New(rerr.Protocol, "file list index %d after the last file list", ndx)
	}
	if ndx == wire.NdxFlistEOF {
		inc.mu.Lock()
		inc.eof = true
		inc.mu.Unlock()
		inc.poke()
		return nil
	}
	dn := int64(wire.NdxFlistOfset) - int64(ndx)
	if ndx > wire.NdxFlistOfset || dn >= int64(ndirs) {
		return rerr.New(rerr.Protocol, "Invalid dir index: %d (%d - %d)", ndx, wire.NdxFlistOfset, int64(wire.NdxFlistOfset)-int64(ndirs)+1)
	}
	inc.mu.Lock()
	d := inc.dirs[dn]
	start := inc.nextStart
	inc.mu.Unlock()
	switch {
	case d.removed:
		return rerr.New(rerr.Protocol, "rsync: refusing flist for cleared dir_ndx %d", dn)
	case d.gotList:
		return rerr.New(rerr.Protocol, "rsync: refusing malicious duplicate flist for dir %d", dn)
	case d.file.Name == ".":
		return rerr.New(rerr.Protocol, "rsync: refusing a second flist for the transfer root")
	}
	d.gotList = true
	l, err := inc.lr.Read(start, strings.TrimPrefix(d.file.Name, "/"))
	if err != nil {
		return listErr(err)
	}
	return inc.add(t, l, int32(dn))
}

// listErr keeps the code of a broken stream and makes anything else the
// list decoder refuses a protocol error.
func listErr(err error) error {
	var re *rerr.Error
	if errors.As(err, &re) {
		return err
	}
	return rerr.Wrap(rerr.Protocol, err)
}

// recvListDone handles an NDX_DONE in phase 0: the sender closing the
// oldest list, which is dropped here. It reports whether lists remain
// open, in which case the phase goes on (rsync's receiver frees
// first_flist and continues).
func (t *transfer) recvListDone() (bool, error) {
	inc := t.inc
	inc.mu.Lock()
	defer inc.mu.Unlock()
	if len(inc.lists) == 0 {
		return false, nil
	}
	if inc.genDone == 0 {
		return false, rerr.New(rerr.Protocol, "NDX_DONE for a file list that is not finished")
	}
	l := inc.lists[0]
	inc.lists[0] = nil
	inc.lists = inc.lists[1:]
	inc.genDone--
	inc.genPos--
	inc.held -= len(l.files)
	if l.fromReader {
		inc.lr.Recycle(l.files) // generated and closed: nothing refers to it
	}
	if len(inc.lists) > 0 {
		return true, nil
	}
	inc.recvClosed = true
	return false, nil
}

// incFile finds the entry for a transfer request, or nil when ndx names
// no live entry of a list still open.
func (t *transfer) incFile(ndx int32) (*flist.File, *incList) {
	inc := t.inc
	inc.mu.Lock()
	defer inc.mu.Unlock()
	ls := inc.lists
	i := sort.Search(len(ls), func(i int) bool { return ls[i].start+int32(len(ls[i].files)) > ndx })
	if i == len(ls) || ndx < ls[i].start {
		return nil, nil
	}
	f := &ls[i].files[ndx-ls[i].start]
	if f.Flags&flist.FlagRemoved != 0 {
		return nil, nil
	}
	return f, ls[i]
}

// redoing reports whether ndx of l was sent again already.
func (inc *incState) redoing(l *incList, ndx int32) bool {
	inc.mu.Lock()
	defer inc.mu.Unlock()
	_, ok := l.sent[ndx]
	return ok
}

// finished records the end of a transfer; a failed first attempt is
// queued to be asked again with full checksums. The generator is woken
// only when it has something to do: a redo, or a list whose transfers are
// all over. Waking it per file cost the runtime a thread wake-up and
// sleep per file (about 1.5 context switches per file of a push).
func (inc *incState) finished(l *incList, ndx int32, again bool) {
	inc.mu.Lock()
	l.inProgress--
	if again {
		l.toRedo++
		if l.sent == nil {
			l.sent = make(map[int32]struct{})
		}
		l.sent[ndx] = struct{}{}
		inc.redo = append(inc.redo, ndx)
	}
	wake := again || l.inProgress == 0
	inc.mu.Unlock()
	if wake {
		inc.poke()
	}
}

// generateInc is generate for incremental recursion: every list as it
// comes, then the phases that follow.
func (t *transfer) generateInc(ctx context.Context) error {
	inc := t.inc
	for {
		l, err := t.nextList(ctx)
		if err != nil {
			return err
		}
		if l == nil {
			break
		}
		if err := t.genList(ctx, l); err != nil {
			return err
		}
	}
	inc.cur = nil
	// Every list must be finished; the last NDX_DONE ends phase 0.
	for {
		if err := t.checkFinished(true); err != nil {
			return err
		}
		inc.mu.Lock()
		n := len(inc.lists) - inc.genDone
		inc.mu.Unlock()
		if n == 0 {
			break
		}
		if err := t.waitInc(ctx); err != nil {
			return err
		}
	}
	lists, total, held := t.incStats()
	t.cfg.Log.Debug("incremental file lists done", "lists", lists, "entries", total, "max_held", held)
	return t.finishPhases(ctx)
}

// nextList returns the next list to generate, waiting for the sender when
// none is queued, or nil after the last one.
func (t *transfer) nextList(ctx context.Context) (*incList, error) {
	inc := t.inc
	for {
		inc.mu.Lock()
		if inc.genPos < len(inc.lists) {
			l := inc.lists[inc.genPos]
			inc.genPos++
			inc.mu.Unlock()
			return l, nil
		}
		eof := inc.eof
		inc.mu.Unlock()
		if eof {
			return nil, nil
		}
		if err := t.checkFinished(true); err != nil {
			return nil, err
		}
		inc.mu.Lock()
		more := inc.genPos < len(inc.lists) || inc.eof
		inc.mu.Unlock()
		if more {
			continue
		}
		if err := t.waitInc(ctx); err != nil {
			return nil, err
		}
	}
}

// waitInc flushes what the sender needs to see and waits for the receiver.
func (t *transfer) waitInc(ctx context.Context) error {
	if err := t.out.Flush(); err != nil {
		return err
	}
	select {
	case <-t.inc.wake:
		return nil
	case <-t.quit:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// genList generates one list: its directory, then its entries.
func (t *transfer) genList(ctx context.Context, l *incList) error {
	inc := t.inc
	inc.cur = l
	if l.parent >= 0 {
		if err := t.genParentDir(l); err != nil {
			return err
		}
	}
	k := l.dirs // dirs index of the next directory entry
	for i := range l.files {
		f := &l.files[i]
		var d *incDir
		if f.IsDir() {
			inc.mu.Lock()
			d = inc.dirs[k]
			inc.mu.Unlock()
			k++
		}
		if f.Flags&flist.FlagRemoved != 0 {
			continue
		}
		if l.skip {
			if d != nil {
				d.missing = true
			}
			continue
		}
		if i&255 == 0 {
			if err := t.stopped(ctx); err != nil {
				return err
			}
			if err := t.checkFinished(false); err != nil {
				return err
			}
		}
		ndx := l.start + int32(i)
		if d != nil {
			t.genDirEarly(f, d)
			continue
		}
		if t.cfg.HardLinks && f.Flags&flist.FlagHLinked != 0 && t.linkFollower(ndx, f) && f.IsRegular() {
			continue
		}
		if err := t.genCounted(l, ndx, f, false); err != nil {
			return err
		}
	}
	return nil
}

// genCounted is genFile that counts a transfer it asks for against l.
func (t *transfer) genCounted(l *incList, ndx int32, f *flist.File, redo bool) error {
	before := t.requested
	err := t.genFile(ndx, f, redo)
	if t.requested != before && !t.cfg.DryRun {
		t.inc.mu.Lock()
		l.inProgress++
		t.inc.mu.Unlock()
	}
	return err
}

// linkFollower records a hard-linked entry: the first of its group leads,
// the others are linked to it at the end. It reports a follower.
func (t *transfer) linkFollower(ndx int32, f *flist.File) bool {
	inc := t.inc
	name := t.localPath(f)
	if lead, ok := inc.leaders[f.HLinkGroup]; ok {
		var d *incDir
		if p := inc.cur.parent; p >= 0 {
			inc.mu.Lock()
			d = inc.dirs[p]
			inc.mu.Unlock()
		}
		inc.links = append(inc.links, incLink{lead, strings.Clone(name), ndx, d})
		return true
	}
	if inc.leaders == nil {
		inc.leaders = make(map[int32]string)
	}
	inc.leaders[f.HLinkGroup] = strings.Clone(name)
	return false
}

// genParentDir handles the directory a list fills, in full, under the
// index before the list's first entry (rsync's cur_flist->ndx_start - 1),
// and deletes what it holds beyond the list.
func (t *transfer) genParentDir(l *incList) error {
	cfg := t.cfg
	inc := t.inc
	inc.mu.Lock()
	d := inc.dirs[l.parent]
	inc.mu.Unlock()
	if d.missing {
		l.skip = true
		return nil
	}
	f := &d.file
	name := t.localPath(f)
	if cfg.DaemonFilter != nil && f.Name != "." && cfg.DaemonFilter.Match(f.Name, true, filter.Receiver) {
		t.noteIOError("ERROR: daemon refused to receive directory %q", f.Name)
		t.skipContents(l, d)
		return nil
	}
	sv, err := t.dirc.lstat(name)
	st := &sv
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.noteIOError("rsync: recv_generator: failed to stat %q: %v", name, err)
		t.skipContents(l, d)
		return nil
	}
	if d.created {
		// Made early with private permissions: it is new to the client.
		exists, st = false, nil
	}
	var keep map[string]struct{}
	if cfg.Delete != DeleteNone {
		keep = make(map[string]struct{}, len(l.files))
		for i := range l.files {
			if l.files[i].Flags&flist.FlagRemoved == 0 {
				keep[path.Base(l.files[i].Name)] = struct{}{}
			}
		}
		t.children = map[string]map[string]struct{}{path.Clean(f.Name): keep}
	}
	created := t.stats.Created
	if err := t.genDir(l.start-1, f, name, st, exists); err != nil {
		return err
	}
	if d.created && t.stats.Created > created {
		t.stats.Created-- // counted when it was made
	}
	t.children = nil
	if cfg.Delete == DeleteDelay && cfg.Recursive && f.Flags&flist.FlagContentDir != 0 {
		t.collectDeletes(name, keep, f.Name)
	}
	if !exists && !cfg.DryRun {
		if _, err := t.dirc.lstat(name); err != nil {
			t.skipContents(l, d)
		}
	}
	return nil
}

// skipContents gives up on a directory that is not there.
func (t *transfer) skipContents(l *incList, d *incDir) {
	d.missing = true
	l.skip = true
	const msg = "*** Skipping any contents from this failed directory ***"
	t.cfg.Log.Warn(msg) // stock's daemon logs it too
	t.tellClient(wire.MsgError, "%s", msg)
}

// genDirEarly handles a directory met in its parent's list: when directory
// times are kept, a missing one is made now (private until its own list
// comes) so that the parent's time can be set once the parent is done.
func (t *transfer) genDirEarly(f *flist.File, d *incDir) {
	cfg := t.cfg
	if !cfg.PreserveTimes || cfg.OmitDirTimes || cfg.DryRun || f.Name == "." {
		return
	}
	if cfg.DaemonFilter != nil && cfg.DaemonFilter.Match(f.Name, true, filter.Receiver) {
		return
	}
	name := t.localPath(f)
	sv, err := t.dirc.lstat(name)
	st := &sv
	if err == nil {
		if st.isDir() {
			return
		}
		if t.makeRoom(name, st) != nil {
			return // reported when the directory's own list comes
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return
	}
	if cfg.Root.Mkdir(name, fs.FileMode(f.Mode&0o700|0o700)) == nil {
		d.created = true
		t.stats.Created++
	}
}

// checkFinished serves redo requests (with redo) and closes every list at
// the front that is complete: NDX_DONE to the sender, the directory's
// time set, the list dropped (rsync's check_for_finished_files).
func (t *transfer) checkFinished(redo bool) error {
	inc := t.inc
	for {
		inc.mu.Lock()
		if redo && len(inc.redo) > 0 {
			ndx := inc.redo[0]
			inc.redo = inc.redo[1:]
			inc.mu.Unlock()
			f, l := t.incFile(ndx)
			if f == nil {
				return rerr.New(rerr.Protocol, "redo of unknown index %d", ndx)
			}
			inc.mu.Lock()
			l.toRedo--
			inc.mu.Unlock()
			if err := t.genCounted(l, ndx, f, true); err != nil {
				return err
			}
			continue
		}
		if inc.genDone == len(inc.lists) || inc.genDone == inc.genPos {
			inc.mu.Unlock()
			return nil
		}
		l := inc.lists[inc.genDone]
		if l == inc.cur || l.inProgress > 0 || l.toRedo > 0 {
			inc.mu.Unlock()
			return nil
		}
		inc.genDone++
		var d *incDir
		if l.parent >= 0 {
			d = inc.dirs[l.parent]
		}
		inc.mu.Unlock()
		if err := t.writeNdx(wire.NdxDone); err != nil {
			return err
		}
		if testHookListDone != nil {
			testHookListDone()
		}
		if d != nil && !inc.touchAll {
			t.touchDir(d)
		}
	}
}

// touchDir sets a finished directory's modification time.
func (t *transfer) touchDir(d *incDir) {
	cfg := t.cfg
	if !cfg.PreserveTimes || cfg.OmitDirTimes || cfg.DryRun || d.missing || d.removed || t.soloFile != "" {
		return
	}
	f := &d.file
	name := t.localPath(f)
	sv, err := t.dirc.lstat(name)
	st := &sv
	if err != nil || !st.isDir() || !t.mtimeToSet(f, st) {
		return
	}
	if err := cfg.Root.Chtimes(name, time.Time{}, time.Unix(f.ModTime, int64(f.ModNsec))); err != nil {
		t.noteIOError("rsync: failed to set times on %q: %v", name, err)
	}
}

// touchAllDirs sets every directory's time at the end (--delete-delay).
func (t *transfer) touchAllDirs() {
	inc := t.inc
	inc.mu.Lock()
	dirs := inc.dirs
	inc.mu.Unlock()
	for _, d := range dirs {
		t.touchDir(d)
	}
}

// collectDeletes notes what dir holds beyond the list, for --delete-delay.
func (t *transfer) collectDeletes(dir string, keep map[string]struct{}, listDir string) {
	if !t.deletionsAllowed() {
		return
	}
	names, err := t.dirc.names(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errNotDir) {
			t.noteIOError("rsync: opendir %q failed: %v", dir, err)
		}
		return
	}
	for _, base := range names {
		if _, ok := keep[base]; ok {
			continue
		}
		st, err := t.dirc.lstat(path.Join(dir, base))
		if err != nil || t.protected(path.Join(listDir, base), st.isDir()) {
			continue
		}
		t.inc.delayed = append(t.inc.delayed, path.Join(dir, base))
	}
}

// delayedDeletes performs the deletions --delete-delay put off.
func (t *transfer) delayedDeletes() {
	for _, name := range t.inc.delayed {
		st, err := lstat(t.cfg.Root, name)
		if err != nil {
			continue
		}
		if err := t.deleteItem(name, st, true); err != nil && !errors.Is(err, errMaxDelete) {
			t.noteIOError("rsync: delete %q failed: %v", name, err)
		}
	}
	t.inc.delayed = nil
}

// finishIncHardLinks links every follower to its group's leader.
func (t *transfer) finishIncHardLinks() {
	if t.cfg.DryRun {
		return
	}
	for _, l := range t.inc.links {
		t.linkInc(l)
	}
	// The links changed their directories after those were done.
	var last *incDir
	for _, l := range t.inc.links {
		if l.dir != nil && l.dir != last && !t.inc.touchAll {
			t.touchDir(l.dir)
			last = l.dir
		}
	}
	t.inc.links = nil
}

// linkInc makes a follower a hard link of its leader, replacing what is
// there (finishHardLinks for one pair).
func (t *transfer) linkInc(l incLink) {
	root := t.cfg.Root
	lst, err := lstat(root, l.from)
	if err != nil {
		t.noteIOError("rsync: hard link target %q missing: %v", l.from, err)
		return
	}
	if st, err := lstat(root, l.to); err == nil {
		if st.dev == lst.dev && st.ino == lst.ino {
			t.success(l.ndx)
			return
		}
		if err := t.makeRoom(l.to, st); err != nil {
			t.noteIOError("rsync: delete %q failed: %v", l.to, err)
			return
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.noteIOError("rsync: stat %q failed: %v", l.to, err)
		return
	}
	if err := root.Link(l.from, l.to); err != nil {
		t.noteIOError("rsync: link %q => %q failed: %v", l.to, l.from, err)
		return
	}
	t.success(l.ndx)
}
