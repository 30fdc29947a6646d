package sender

import (
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/rsyncd-go/rsyncd-go/protocol/filter"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Incremental recursion (CF_INC_RECURSE) on the sending side, as rsync's
// send_file_list and send_extra_file_list do it: the first list holds the
// arguments (and the contents of a "." argument), then every directory's
// contents follow as a list of their own, depth first in sorted order,
// while the client works. A list is dropped when the client says it is
// done with it (NDX_DONE), so memory follows the lists in flight.

// Lookahead bounds (rsync.h MIN_ and MAX_FILECNT_LOOKAHEAD): before
// reading the next request the sender makes sure minLookahead entries are
// queued beyond the list the client is working on, and while the client
// has no request for it, it sends more, up to maxLookahead. A client
// whose generator waits for lists would otherwise wait once per directory,
// and each wait costs both sides a sleep and a wake-up.
const (
	minLookahead = 1000
	maxLookahead = 10000
)

// lookahead is the sender's work while it waits for a request (the
// extra_flist_sending of rsync's perform_io): one more list at a time.
type lookahead struct{ s *session }

func (l lookahead) Pending() bool {
	in := l.s.inc
	return !in.eof && in.total-in.old < maxLookahead
}

func (l lookahead) Work() error { return l.s.sendExtra(-1) }

// Negative indexes of incremental recursion (rsync.h NDX_*).
const (
	ndxFlistEOF    = -2
	ndxFlistOffset = -101
)

// sentList is one list the client holds: sorted entries whose wire index
// is NdxStart+i, their module-relative paths. Index NdxStart-1 names the
// directory the list describes.
type sentList struct {
	list  *flist.List
	paths []string
	// The directory the list fills, which the client names by the index
	// before the list's first (itemizing it), and its module path.
	dir     *flist.File
	dirPath string
}

// dirNode is a directory sent in some list whose contents are still to be
// sent: rsync's dir_flist entry, kept only while it is on the frontier.
type dirNode struct {
	ndx     int32  // its index among all directories sent (dir_flist)
	name    string // list name
	disk    string // module-relative path
	base    string // the argument's directory (rsync's F_PATHNAME)
	filt    *argFilter
	file    flist.File // its entry, for the transfer log
	level   int        // rsync's send_dir_depth for its contents
	content bool       // FLAG_CONTENT_DIR: its contents are sent
	dup     bool       // FLAG_DUPLICATE: same name as the directory before it

	// --relative: names below this (implied) directory that its list
	// must carry, the rest of each argument's path (rsync's relnames).
	relnames []relName
}

// relName is the rest of a --relative argument below an implied
// directory and how the argument was named.
type relName struct {
	rest   string
	follow bool // a "dir/" or "." argument: symlinks are followed
}

// argFilter is the client's rules of one argument with the levels of
// per-directory merge files stacked on them (change_local_filter_dir).
type argFilter struct {
	l      *filter.List
	levels []int
}

// setLevel makes the rules follow directory rel at depth level: deeper or
// equal levels are left first.
func (a *argFilter) setLevel(b *builder, level int, rel string) {
	if !a.l.HasDirMerge() {
		return
	}
	for len(a.levels) > 0 && a.levels[len(a.levels)-1] >= level {
		a.l.LeaveDir()
		a.levels = a.levels[:len(a.levels)-1]
	}
	a.levels = append(a.levels, level)
	if err := a.l.EnterDir(rel, b.cfg.MergeRead); err != nil {
		b.ioError |= ioErrGeneral
		b.say(wire.MsgErrorXfer, "rsync: [sender] %v\n", err)
	}
}

// incSender holds the lists in flight and the directories to come.
type incSender struct {
	enc      *flist.Encoder
	lists    []*sentList // oldest first
	cur      int         // the list the client's last request named
	next     int32       // NdxStart of the next list
	dirs     int32       // directories numbered so far
	stack    [][]dirNode // the frontier: remaining siblings per depth
	eof      bool        // NDX_FLIST_EOF went out
	total    int         // entries in the lists in flight (file_total)
	old      int         // entries up to the current list (file_old_total)
	nLists   int
	entries  int
	maxHeld  int
	maxAhead int   // most entries beyond the client's current list
	size     int64 // non-directories' sizes, for the stats

	// The storage of lists the client is done with, for the next lists:
	// a list goes into flight whole. As many entries as are in flight
	// anyway (the lookahead) are kept.
	spareFiles flist.Spares[flist.File]
	sparePaths flist.Spares[string]
}

func newIncSender(enc *flist.Encoder) *incSender {
	return &incSender{
		enc:        enc,
		spareFiles: flist.Spares[flist.File]{Max: maxLookahead},
		sparePaths: flist.Spares[string]{Max: maxLookahead},
	}
}

// add takes a sorted list into flight and pushes its directories onto
// the frontier (add_dirs_to_tree); infos holds, per sorted entry, the
// directory's context (nil for non-directories).
func (in *incSender) add(sl *sentList, infos []*dirNode, protocol int) {
	in.lists = append(in.lists, sl)
	n := len(sl.list.Files)
	in.total += n
	in.entries += n
	in.nLists++
	in.maxHeld = max(in.maxHeld, in.total)
	in.maxAhead = max(in.maxAhead, in.total-in.old)
	in.next = sl.list.NdxStart + int32(n) + 1
	var kids []dirNode
	var prev *flist.File
	for i := range sl.list.Files {
		f := &sl.list.Files[i]
		if !f.IsDir() {
			in.size += f.Size
			continue
		}
		ndx := in.dirs
		in.dirs++
		dup := prev != nil && flist.Compare(f, prev, protocol) == 0
		if !dup {
			prev = f
		}
		if f.Name == "." || hasDotBase(f.Name) || infos[i] == nil {
			continue
		}
		d := *infos[i]
		d.ndx, d.dup, d.file = ndx, dup, *f
		d.content = f.Flags&flist.FlagContentDir != 0
		kids = append(kids, d)
	}
	if len(kids) > 0 {
		in.stack = append(in.stack, kids)
	}
}

func hasDotBase(name string) bool {
	return len(name) >= 2 && name[len(name)-2:] == "/."
}

// nextDirs pops the next directory of the frontier with the duplicates
// that follow it; none when the frontier is empty.
func (in *incSender) nextDirs() []dirNode {
	for len(in.stack) > 0 {
		top := in.stack[len(in.stack)-1]
		if len(top) == 0 {
			in.stack = in.stack[:len(in.stack)-1]
			continue
		}
		n := 1
		for n < len(top) && top[n].dup {
			n++
		}
		in.stack[len(in.stack)-1] = top[n:]
		return top[:n]
	}
	return nil
}

// find returns the position of the list in flight that holds ndx (its
// directory's index, NdxStart-1, included), as rsync's flist_for_ndx.
func (in *incSender) find(ndx int32) int {
	holds := func(i int) bool {
		l := in.lists[i].list
		return ndx >= l.NdxStart-1 && int64(ndx) < int64(l.NdxStart)+int64(len(l.Files))
	}
	if in.cur < len(in.lists) && holds(in.cur) {
		return in.cur // the common case: the client works through a list
	}
	// The lists are in index order: the first whose end is past ndx.
	i := sort.Search(len(in.lists), func(i int) bool {
		l := in.lists[i].list
		return int64(ndx) < int64(l.NdxStart)+int64(len(l.Files))
	})
	if i < len(in.lists) && holds(i) {
		return i
	}
	return -1
}

// setCurrent makes list i the one the client works on and recounts the
// entries before the lookahead.
func (in *incSender) setCurrent(i int) {
	in.cur = i
	in.old = 0
	for _, sl := range in.lists[:i+1] {
		in.old += len(sl.list.Files)
	}
}

// done drops the oldest list (the client's NDX_DONE); it reports whether
// lists remain.
func (in *incSender) done() bool {
	if len(in.lists) == 0 {
		return false
	}
	n := len(in.lists[0].list.Files)
	in.old -= n
	in.total -= n
	in.spareFiles.Put(in.lists[0].list.Files)
	in.sparePaths.Put(in.lists[0].paths)
	in.lists[0] = nil
	in.lists = in.lists[1:]
	if in.cur > 0 {
		in.cur--
	} else if len(in.lists) > 0 {
		in.old = len(in.lists[0].list.Files)
	}
	return len(in.lists) > 0
}

// indexRange is what rsync's "not in" message shows for the lists in
// flight.
func (in *incSender) indexRange() (int32, int32) {
	if len(in.lists) == 0 {
		return 0, -1
	}
	first, last := in.lists[0].list, in.lists[len(in.lists)-1].list
	return first.NdxStart - 1, last.NdxStart + int32(len(last.Files)) - 1
}

// sendExtra is send_extra_file_list: lists are sent until atLeast entries
// wait beyond the current list (one more list for a negative atLeast) or
// every directory has been sent.
func (s *session) sendExtra(atLeast int) error {
	in, b := s.inc, s.b
	if in.eof {
		return nil
	}
	if atLeast < 0 {
		atLeast = in.total - in.old + 1
	}
	saved := b.ioError
	for in.total-in.old < atLeast {
		group := in.nextDirs()
		if len(group) == 0 {
			// Only reached when the first list had no directory to
			// descend into; the loop below ends the lists otherwise.
			return s.flistEOF()
		}
		if err := s.w.WriteNdx(&s.out, ndxFlistOffset-group[0].ndx); err != nil {
			return rerr.Wrap(rerr.SocketIO, err)
		}
		listSaved := b.ioError
		b.files = in.spareFiles.Get(0) // its size is known after the walk
		for i := range group {
			d := &group[i]
			if i > 0 && d.base == group[i-1].base && group[i-1].content {
				d.content = false // the same directory again: scan it once
			}
			if err := b.sendDirList(d); err != nil {
				return err
			}
		}
		endErr := int32(0)
		if b.ioError != listSaved && !s.cfg.IgnoreErrors {
			endErr = b.ioError
		}
		sl, infos, err := b.emit(in.enc, in.next, endErr, in.sparePaths.Get(len(b.files)))
		if err != nil {
			return err
		}
		sl.dir, sl.dirPath = &group[0].file, group[0].disk
		in.add(sl, infos, s.cfg.Protocol)
		if len(in.stack) == 0 {
			if err := s.flistEOF(); err != nil {
				return err
			}
			break
		}
	}
	s.ioError |= b.ioError
	if b.ioError != saved && s.cfg.Protocol == 30 && !s.cfg.IgnoreErrors {
		if err := s.w.WriteMsgInt32(wire.MsgIOError, b.ioError); err != nil {
			return rerr.Wrap(rerr.SocketIO, err)
		}
	}
	return nil
}

// flistEOF tells the client that no list follows.
func (s *session) flistEOF() error {
	s.inc.eof = true
	s.cfg.Log.Debug("incremental file lists sent", "lists", s.inc.nLists, "entries", s.inc.entries, "max_held", s.inc.maxHeld, "max_ahead", s.inc.maxAhead)
	if err := s.w.WriteNdx(&s.out, ndxFlistEOF); err != nil {
		return rerr.Wrap(rerr.SocketIO, err)
	}
	return nil
}

// sendDirList adds one directory's contents (send1extra), and with
// --relative the names of arguments below it.
func (b *builder) sendDirList(d *dirNode) error {
	b.filt, b.argFilt, b.walkBase = d.filt.l, d.filt, d.base
	d.filt.setLevel(b, d.level, d.name)
	b.walkLevel = d.level + 1
	if d.content {
		if err := b.walk(d.name, d.disk, flist.FlagContentDir); err != nil {
			return err
		}
	}
	for _, rn := range d.relnames {
		if i := strings.IndexByte(rn.rest, '/'); i >= 0 {
			b.impliedInc(d.base, d.name+"/"+rn.rest[:i], rn.rest[i+1:], rn.follow, b.walkLevel)
			continue
		}
		name := d.name + "/" + rn.rest
		disk := path.Join(d.base, name)
		var st fs.FileInfo
		var err error
		if rn.follow || b.cfg.CopyDirlinks || b.cfg.CopyLinks {
			st, err = b.cfg.Root.Stat(disk)
		} else {
			st, err = b.cfg.Root.Lstat(disk)
		}
		if err != nil {
			errno := errnoOf(err)
			if errno != syscall.ENOENT {
				b.ioError |= ioErrGeneral
			}
			b.say(wire.MsgErrorXfer, "rsync: [sender] link_stat %s failed: %s (%d)\n", b.fullName(d.base, name), errnoText(errno), int(errno))
			continue
		}
		if b.excluded(name, disk, st.IsDir()) || b.unreadable(nil, disk, st) {
			continue
		}
		if b.addEntry(name, disk, st, flist.FlagTopDir|flist.FlagContentDir) && b.files[len(b.files)-1].IsDir() {
			b.noteDir(name, disk, d.base, b.walkLevel, d.filt)
		}
	}
	d.relnames = nil
	return nil
}

// impliedInc is send_implied_dirs with incremental recursion: the
// directory prefix (relative to the argument's directory base) goes into
// the current list as an implied directory, unless the last call sent it
// already, and rest is left for that directory's own list.
func (b *builder) impliedInc(base, prefix, rest string, follow bool, level int) {
	if b.lastInc == nil || b.lastIncBase != base || b.lastIncPath != prefix {
		b.lastInc, b.lastIncBase, b.lastIncPath = nil, base, prefix
		disk := path.Join(base, prefix)
		st, err := b.cfg.Root.Stat(disk)
		switch {
		case err != nil:
			e := errnoOf(err)
			b.ioError |= ioErrGeneral
			b.say(wire.MsgErrorXfer, "rsync: [sender] link_stat %s failed: %s (%d)\n", b.fullName("", disk), errnoText(e), int(e))
		case b.cfg.DaemonFilter != nil && b.cfg.DaemonFilter.ExcludedPath(disk, st.IsDir(), filter.Sender):
		case b.unreadable(nil, disk, st):
		case !st.IsDir():
			b.addEntry(prefix, disk, st, 0)
		case b.addEntry(prefix, disk, st, flist.FlagImpliedDir):
			b.lastInc = b.noteDir(prefix, disk, base, level, b.argFilt)
		}
	}
	if b.lastInc != nil {
		b.lastInc.relnames = append(b.lastInc.relnames, relName{rest: rest, follow: follow})
	}
}

// emit sends the entries gathered in b.files as one list starting at
// ndxStart, ended with endErr, and returns it sorted as the client indexes
// it, its paths in paths' storage, with each directory's context (the
// builder's until the next list).
func (b *builder) emit(enc *flist.Encoder, ndxStart int32, endErr int32, paths []string) (*sentList, []*dirNode, error) {
	enc.StartList(ndxStart)
	for i := range b.files {
		if err := enc.Encode(&b.files[i]); err != nil {
			return nil, nil, rerr.Wrap(rerr.Protocol, err)
		}
	}
	if err := enc.End(endErr); err != nil {
		return nil, nil, rerr.Wrap(rerr.SocketIO, err)
	}
	files := b.files
	b.sorter.Sort(files, b.cfg.Protocol)
	paths = slices.Grow(paths[:0], len(files))[:len(files)]
	infos := slices.Grow(b.infos[:0], len(files))[:len(files)]
	for i := range files {
		j := files[i].HLinkGroup
		paths[i] = b.paths[j]
		infos[i] = nil
		if int(j) < len(b.dirInfo) {
			infos[i] = b.dirInfo[j]
		}
	}
	// The list keeps files; paths and dirInfo were copied and are the
	// builder's to reuse.
	clear(b.paths)
	clear(b.dirInfo)
	b.files, b.paths, b.dirInfo, b.infos = nil, b.paths[:0], b.dirInfo[:0], infos
	return &sentList{list: &flist.List{Files: files, NdxStart: ndxStart}, paths: paths}, infos, nil
}

// noteDir records the context of the directory entry just added, for the
// list of its contents later.
func (b *builder) noteDir(name, disk, base string, level int, af *argFilter) *dirNode {
	for len(b.dirInfo) < len(b.files)-1 {
		b.dirInfo = append(b.dirInfo, nil)
	}
	d := &dirNode{name: name, disk: disk, base: base, filt: af, level: level}
	b.dirInfo = append(b.dirInfo, d)
	return d
}

// entry returns the file a client index names and its module-relative
// path; nil for an index outside the lists held (or a list's directory).
func (s *session) entry(ndx int32) (*flist.File, string) {
	l, paths := s.list, s.paths
	if s.inc != nil {
		i := s.inc.find(ndx)
		if i < 0 {
			return nil, ""
		}
		l, paths = s.inc.lists[i].list, s.inc.lists[i].paths
	}
	k := int64(ndx) - int64(l.NdxStart)
	if k < 0 || k >= int64(len(l.Files)) {
		return nil, ""
	}
	return &l.Files[k], paths[k]
}

// itemEntry is entry, and for the index before a list's first the
// directory the list fills (the first list's: its "." entry), which the
// client itemizes under that index with incremental recursion.
func (s *session) itemEntry(ndx int32) (*flist.File, string) {
	if f, p := s.entry(ndx); f != nil || s.inc == nil {
		return f, p
	}
	i := s.inc.find(ndx)
	if i < 0 {
		return nil, ""
	}
	sl := s.inc.lists[i]
	if ndx != sl.list.NdxStart-1 {
		return nil, ""
	}
	if sl.dir == nil && len(sl.list.Files) > 0 && sl.list.Files[0].Name == "." && sl.list.Files[0].IsDir() {
		return &sl.list.Files[0], sl.paths[0]
	}
	return sl.dir, sl.dirPath
}

// readIncRequest is the rest of read_ndx_and_attrs with incremental
// recursion, for an index that is not a control code.
func (s *session) readIncRequest(ndx int32) (request, error) {
	q := request{ndx: ndx, basisType: fnamecmpFname}
	in := s.inc
	if ndx < 0 {
		_, last := in.indexRange()
		return q, rerr.New(rerr.Protocol, "Invalid file index: %d (%d - %d) [sender]", ndx, ndxDone, last)
	}
	i := in.find(ndx)
	if i < 0 {
		first, last := in.indexRange()
		return q, rerr.New(rerr.Protocol, "File-list index %d not in %d - %d (read_ndx_and_attrs) [sender]", ndx, first, last)
	}
	if i != in.cur {
		in.setCurrent(i)
	}
	v, err := s.r.ReadUint16()
	if err != nil {
		return q, streamErr(err)
	}
	q.iflags = int(v)
	if err := s.readItemExtras(&q); err != nil {
		return q, err
	}
	if q.iflags&itemTransfer != 0 {
		if f, _ := s.entry(ndx); f == nil || !f.IsRegular() {
			return q, rerr.New(rerr.Protocol, "received request to transfer non-regular file: %d [sender]", ndx)
		}
	}
	return q, nil
}
