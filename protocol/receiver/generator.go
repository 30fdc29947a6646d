package receiver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/filter"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
	"github.com/rsyncd-go/rsyncd-go/protocol/xferlog"
)

// Item flags the generator reports per file (rsync.h ITEM_*).
const (
	itemReportAtime     = 1 << 0
	itemReportChange    = 1 << 1
	itemReportSize      = 1 << 2
	itemReportTime      = 1 << 3
	itemReportPerms     = 1 << 4
	itemReportOwner     = 1 << 5
	itemReportGroup     = 1 << 6
	itemBasisTypeFollow = 1 << 11
	itemXnameFollows    = 1 << 12
	itemIsNew           = 1 << 13
	itemLocalChange     = 1 << 14
	itemTransfer        = 1 << 15

	significantItems = ^(itemBasisTypeFollow | itemXnameFollows | itemLocalChange) & 0xffff
)

// sumLength is rsync's SUM_LENGTH: the longest strong sum of a block.
const sumLength = 16

// generate walks the file list, creates what needs no data, asks the sender
// for what differs, and runs the phase protocol to its final goodbye.
func (t *transfer) generate(ctx context.Context) error {
	cfg := t.cfg
	if cfg.Delete == DeleteBefore {
		if err := t.deletePass(); err != nil {
			return err
		}
	}
	for i := range t.files {
		if err := t.stopped(ctx); err != nil {
			return err
		}
		f := &t.files[i]
		if f.Flags&flist.FlagRemoved != 0 {
			continue
		}
		if err := t.genFile(int32(i), f, false); err != nil {
			return err
		}
	}
	if err := t.writeNdx(wire.NdxDone); err != nil {
		return err
	}
	return t.finishPhases(ctx)
}

// finishPhases runs the phases after the file list to the final goodbye.
func (t *transfer) finishPhases(ctx context.Context) error {
	cfg := t.cfg
	// Phase 1: resend what failed verification, until the receiver is done.
	if err := t.waitDone(ctx, true); err != nil {
		return err
	}
	proto := cfg.Protocol
	earlyDelete := cfg.Delete != DeleteAfter && cfg.Delete != DeleteDelay
	if err := t.writeNdx(wire.NdxDone); err != nil {
		return err
	}
	if proto >= 29 {
		if err := t.writeNdx(wire.NdxDone); err != nil {
			return err
		}
	}
	if proto >= 31 && earlyDelete {
		if err := t.finishDeletes(); err != nil {
			return err
		}
	}
	if err := t.waitDone(ctx, false); err != nil {
		return err
	}
	if proto >= 29 {
		if err := t.waitDone(ctx, false); err != nil {
			return err
		}
	}
	if !earlyDelete {
		if err := t.deletePass(); err != nil {
			return err
		}
	}
	t.warnMaxDelete()
	if proto >= 31 {
		if !earlyDelete {
			if err := t.finishDeletes(); err != nil {
				return err
			}
		}
		if err := t.waitDone(ctx, false); err != nil {
			return err
		}
	}
	if err := t.finishHardLinks(); err != nil {
		return err
	}
	t.touchUpDirs()
	if err := t.writeNdx(wire.NdxDone); err != nil { // the final goodbye
		return err
	}
	return t.out.Flush()
}

// finishDeletes sends the deletion statistics (when deleting) and the
// NDX_DONE that closes the delete phase of protocol 31.
func (t *transfer) finishDeletes() error {
	if t.cfg.Delete != DeleteNone || t.cfg.Force {
		if err := t.writeDelStats(); err != nil {
			return err
		}
	}
	return t.writeNdx(wire.NdxDone)
}

func (t *transfer) writeDelStats() error {
	if err := t.writeNdx(wire.NdxDelStats); err != nil {
		return err
	}
	d := &t.del
	for _, n := range []int{d.files, d.dirs, d.symlinks, d.devices, d.specials} {
		if err := t.out.WriteVarint(int32(n)); err != nil {
			return err
		}
	}
	return nil
}

func (t *transfer) stopped(ctx context.Context) error {
	select {
	case <-t.quit:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}

var errStopped = errors.New("transfer stopped")

// waitDone waits for the receiver's next phase change; with redo it also
// serves the receiver's requests to send files again.
func (t *transfer) waitDone(ctx context.Context, redo bool) error {
	// The sender cannot act on what sits in our buffer.
	if err := t.out.Flush(); err != nil {
		return err
	}
	for {
		select {
		case ev, ok := <-t.events:
			if !ok {
				return errStopped
			}
			if ev.done {
				return nil
			}
			if !redo || ev.redo < 0 || int(ev.redo) >= len(t.files) {
				return rerr.New(rerr.Protocol, "unexpected redo request for index %d", ev.redo)
			}
			if err := t.genFile(ev.redo, &t.files[ev.redo], true); err != nil {
				return err
			}
			if err := t.out.Flush(); err != nil {
				return err
			}
		case <-t.quit:
			return errStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (t *transfer) writeNdx(ndx int32) error {
	return t.out.WriteNdx(&t.genNdx, ndx)
}

// localPath maps a file-list name to its path inside the module.
func (t *transfer) localPath(f *flist.File) string {
	if t.soloFile != "" {
		return t.soloFile
	}
	if f.Name == "." {
		return t.cfg.Dest
	}
	if t.destConcat && f.Name[0] != '/' {
		return t.destPrefix + f.Name
	}
	return path.Join(t.cfg.Dest, f.Name)
}

// destJoin tells how localPath joins names to dest: a received name is
// clean (flist's cleanName), so with a clean destination joining is
// concatenating prefix, which runs for every entry without path.Join's
// scan and copies.
func destJoin(dest string) (prefix string, concat bool) {
	switch {
	case dest == ".":
		return "", true
	case dest == "/" || path.Clean(dest) != dest:
		return "", false
	}
	return dest + "/", true
}

// prepareDest makes sure the destination directory exists, or decides that a
// single file is being written under the destination's own name.
func (t *transfer) prepareDest() error {
	dest := t.cfg.Dest
	fi, err := t.cfg.Root.Lstat(dest)
	if err == nil && fi.IsDir() {
		return nil
	}
	if len(t.files) == 1 && !t.files[0].IsDir() && (err == nil || errors.Is(err, fs.ErrNotExist)) && dest != "." {
		t.soloFile = dest
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rerr.New(rerr.FileSelect, "change_dir#3 %q failed: %v", dest, err)
	}
	if !t.cfg.DryRun {
		if err := t.cfg.Root.MkdirAll(dest, 0o755); err != nil {
			return rerr.New(rerr.FileSelect, "mkdir %q failed: %v", dest, err)
		}
	}
	if err != nil {
		// rsync's get_local_name: the "." entry is new to the client
		// (FLAG_DIR_CREATED), and -v or -i hear of it, as does the log.
		t.destCreated = true
		if t.cfg.Verbose > 0 || t.cfg.Itemize {
			msg := "created directory " + dest
			t.cfg.Log.Info(msg)
			t.tellClient(wire.MsgInfo, "%s", msg)
		}
	}
	return nil
}

// genFile decides what one entry needs and acts on it.
func (t *transfer) genFile(ndx int32, f *flist.File, redo bool) error {
	cfg := t.cfg
	name := t.localPath(f)
	if cfg.DaemonFilter != nil && f.Name != "." && cfg.DaemonFilter.Match(f.Name, f.IsDir(), filter.Receiver) {
		kind := "file"
		if f.IsDir() {
			kind = "directory"
		}
		t.noteIOError("ERROR: daemon refused to receive %s %q", kind, f.Name)
		return nil
	}
	sv, statErr := t.dirc.lstat(name)
	st := &sv
	exists := statErr == nil
	if exists && cfg.FakeSuper {
		t.fakeOverlay(name, st)
	}
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		if errors.Is(statErr, errNotDir) {
			// A parent is not a directory; its own entry failed already.
			t.noteIOError("rsync: recv_generator: failed to stat %q: %v", name, statErr)
			return nil
		}
		t.noteIOError("rsync: recv_generator: failed to stat %q: %v", name, statErr)
		return nil
	}

	switch {
	case f.IsDir():
		return t.genDir(ndx, f, name, st, exists)
	case f.IsSymlink():
		if !cfg.PreserveLinks {
			return nil
		}
		return t.genSymlink(ndx, f, name, st, exists)
	case f.IsDevice() || f.IsSpecial():
		if (f.IsDevice() && !cfg.PreserveDevices) || (f.IsSpecial() && !cfg.PreserveSpecials) {
			return nil
		}
		return t.genSpecial(ndx, f, name, st, exists)
	case f.IsRegular():
		return t.genRegular(ndx, f, name, st, exists, redo)
	}
	return nil
}

func fileKind(f *flist.File) string {
	switch {
	case f.IsDir():
		return "directory"
	case f.IsSymlink():
		return "symlink"
	case f.IsDevice():
		return "device"
	case f.IsSpecial():
		return "special file"
	}
	return "file"
}

// itemize tells the sender about an entry that needs no data (protocol 29+),
// so its client can log it, and returns the flags it computed.
func (t *transfer) itemize(ndx int32, f *flist.File, st *stat, exists bool, iflags int) error {
	iflags |= t.changes(f, st, exists, iflags)
	if iflags&significantItems == 0 {
		return nil
	}
	t.logItem(f, iflags)
	if t.cfg.Protocol < 29 {
		return nil
	}
	if err := t.writeNdx(ndx); err != nil {
		return err
	}
	return t.out.WriteUint16(uint16(iflags))
}

// logItem tells the transfer log of an itemized entry that needs no data
// (rsync's receiver logs it as the sender echoes it back).
func (t *transfer) logItem(f *flist.File, iflags int) {
	if t.cfg.OnFile != nil && !t.cfg.DryRun {
		t.cfg.OnFile(xferlog.Event{Op: xferlog.Recv, File: f, Path: t.localPath(f), Iflags: iflags})
	}
}

// changes computes the report bits of itemize() for an existing entry.
func (t *transfer) changes(f *flist.File, st *stat, exists bool, iflags int) int {
	cfg := t.cfg
	if !exists {
		return itemIsNew
	}
	var out int
	if f.IsRegular() && f.Size != st.size {
		out |= itemReportSize
	}
	keepTime := cfg.PreserveTimes && !(f.IsDir() && cfg.OmitDirTimes) && !(f.IsSymlink() && cfg.OmitLinkTimes)
	if keepTime {
		if t.mtimeDiffers(f, st) {
			out |= itemReportTime
		}
	} else if iflags&(itemTransfer|itemLocalChange) != 0 {
		out |= itemReportTime
	}
	if cfg.PreservePerms && !f.IsSymlink() && (st.mode&chmodBits) != (f.Mode&chmodBits) {
		out |= itemReportPerms
	}
	if cfg.PreserveUID && (t.mayChown() || cfg.FakeSuper) && t.wantUID(f) != st.uid {
		out |= itemReportOwner
	}
	if cfg.PreserveGID && t.wantGID(f) != st.gid {
		out |= itemReportGroup
	}
	return out
}

// mtimeDiffers is rsync's !same_time, what itemize reports as 't': whole
// seconds by default (nanoseconds count only with a negative
// --modify-window, even when protocol 31 sent them), else a difference of
// more than the window.
func (t *transfer) mtimeDiffers(f *flist.File, st *stat) bool {
	d := st.mtime - f.ModTime
	switch w := t.cfg.ModifyWindow; {
	case w == 0:
		return d != 0
	case w < 0:
		return d != 0 || st.nsec != f.ModNsec
	}
	if d < 0 {
		d = -d
	}
	return d > t.cfg.ModifyWindow
}

// mtimeToSet is mtimeDiffers where a difference leads to action (the quick
// check of a regular file, setting a directory's time): from protocol 31,
// with no modify window, a nanosecond difference counts too. So a file
// rewritten within the second it was last pushed, at the same size, is not
// missed (stock rsync, comparing whole seconds, skips it for good), and what
// this daemon touches gets the sender's exact time.
func (t *transfer) mtimeToSet(f *flist.File, st *stat) bool {
	if t.cfg.ModifyWindow == 0 && t.cfg.Protocol >= 31 && f.ModNsec != 0 && st.nsec != f.ModNsec {
		return true
	}
	return t.mtimeDiffers(f, st)
}

// clearWay removes what stands where f goes (makeRoom), telling the client
// when it cannot, as rsync's delete_item does for DEL_MAKE_ROOM; then f is
// skipped.
func (t *transfer) clearWay(name string, st *stat, f *flist.File) bool {
	err := t.makeRoom(name, st)
	if err == nil {
		return true
	}
	if !errors.Is(err, errNotEmpty) {
		t.cfg.Log.Warn("making way failed", "name", name, "err", err)
		what := "unlink"
		switch {
		case st.isDir():
			what = "rmdir"
		case t.cfg.Backup:
			what = "make_backup"
		}
		t.noteIOError("rsync: delete_file: %s(%s) failed: %v", what, t.relName(name), err)
	}
	t.noteIOError("could not make way for new %s: %s", makeWayKind(f), t.relName(name))
	return false
}

// makeWayKind names an entry's type as rsync's "could not make way" does.
func makeWayKind(f *flist.File) string {
	switch {
	case f.IsDir():
		return "directory"
	case f.IsSymlink():
		return "symlink"
	case f.IsDevice():
		return "device file"
	case f.IsSpecial():
		return "special file"
	}
	return "regular file"
}

func (t *transfer) genDir(ndx int32, f *flist.File, name string, st *stat, exists bool) error {
	cfg := t.cfg
	if exists && f.Name == "." && t.destCreated {
		exists, st = false, nil // made by prepareDest: itemized as new
	}
	if exists && !st.isDir() {
		if !t.clearWay(name, st, f) {
			return nil
		}
		exists = false
	}
	iflags := 0
	if !exists {
		iflags = itemLocalChange
		if !cfg.DryRun {
			if err := cfg.Root.Mkdir(name, fs.FileMode(f.Mode&0o777|0o700)); err != nil && !errors.Is(err, fs.ErrExist) {
				t.noteIOError("rsync: recv_generator: mkdir %q failed: %v", name, err)
				return nil
			}
		}
		t.stats.Created++
	}
	if !cfg.DryRun {
		t.setAttrs(name, f, st, exists, false)
		if t.inc == nil {
			t.dirs = append(t.dirs, ndx)
		}
	}
	if cfg.Delete == DeleteDuring && cfg.Recursive && f.Flags&flist.FlagContentDir != 0 {
		if err := t.deleteInDir(name, f.Name); err != nil {
			return err
		}
	}
	// Itemized after the deletions in it: stock's client shows its
	// "*deleting" lines (MSG_DELETED) before the directory's own line.
	return t.itemize(ndx, f, st, exists, iflags)
}

func (t *transfer) genSymlink(ndx int32, f *flist.File, name string, st *stat, exists bool) error {
	if t.skipUnsafeLink(f) {
		return nil
	}
	same := false
	if exists && st.isSymlink() {
		cur, err := t.readLink(name, st)
		same = err == nil && cur == f.LinkTarget
	}
	return t.genNonRegular(ndx, f, name, st, exists, same, func(tmp string) error {
		if t.cfg.FakeSuper {
			return t.fakeCreate(tmp, f.LinkTarget)
		}
		return t.cfg.Root.Symlink(f.LinkTarget, tmp)
	})
}

func (t *transfer) genSpecial(ndx int32, f *flist.File, name string, st *stat, exists bool) error {
	same := exists && (st.mode&sIFMT) == (f.Mode&sIFMT) && (!f.IsDevice() || st.rdev == rdevOf(f))
	return t.genNonRegular(ndx, f, name, st, exists, same, func(tmp string) error {
		if t.cfg.FakeSuper {
			return t.fakeCreate(tmp, "")
		}
		return rootfs.Mknod(t.cfg.Root, tmp, f.Mode, rdevOf(f))
	})
}

// genNonRegular brings a symlink, device or special file in place: when the
// existing entry is the same only its attributes are updated, else create
// makes the new one under a temp name that is renamed over the old, so the
// name never goes missing.
func (t *transfer) genNonRegular(ndx int32, f *flist.File, name string, st *stat, exists, same bool, create func(tmp string) error) error {
	cfg := t.cfg
	symlink := f.IsSymlink()
	if same {
		if err := t.itemize(ndx, f, st, true, 0); err != nil {
			return err
		}
		if !cfg.DryRun {
			t.setAttrs(name, f, st, true, symlink)
		}
		if cfg.RemoveSource == 1 {
			t.success(ndx)
		}
		return nil
	}
	if cfg.DryRun {
		return t.itemizeReplaced(ndx, f, st, exists)
	}
	if exists && st.isDir() {
		if !t.clearWay(name, st, f) {
			return nil
		}
	} else if exists && cfg.Backup {
		if err := t.makeBackup(name, true); err != nil {
			t.noteIOError("rsync: backup of %q failed: %v", name, err)
			return nil
		}
	}
	tmp := tempName(name)
	if err := create(tmp); err != nil {
		t.noteIOError("rsync: creating %s %q failed: %v", fileKind(f), name, err)
		return nil
	}
	t.setAttrs(tmp, f, nil, false, symlink)
	if err := cfg.Root.Rename(tmp, name); err != nil {
		_ = cfg.Root.Remove(tmp)
		t.noteIOError("rsync: rename %q failed: %v", name, err)
		return nil
	}
	// Reported once in place, as rsync's generator does: nothing when the
	// way could not be made.
	if err := t.itemizeReplaced(ndx, f, st, exists); err != nil {
		return err
	}
	t.stats.Created++
	// --remove-sent-files removed symlinks too, so any removal mode does.
	if cfg.RemoveSource == 1 || symlink {
		t.success(ndx)
	}
	return nil
}

func (t *transfer) genRegular(ndx int32, f *flist.File, name string, st *stat, exists, redo bool) error {
	cfg := t.cfg
	if cfg.HardLinks && t.isLinkFollower(ndx) && !redo {
		return nil // linked to its leader once the leader is in place
	}
	if exists && !st.isRegular() {
		if cfg.Existing {
			return nil
		}
	}
	if !exists && cfg.Existing {
		return nil
	}
	if exists && cfg.IgnoreExisting {
		return nil
	}
	if exists && st.isRegular() && !redo {
		if cfg.Update && st.mtime > f.ModTime {
			return nil
		}
		if t.quickCheckOK(f, name, st) {
			if err := t.itemize(ndx, f, st, true, 0); err != nil {
				return err
			}
			if !cfg.DryRun {
				t.setAttrs(name, f, st, true, false)
			}
			if cfg.RemoveSource == 1 {
				t.success(ndx)
			}
			return nil
		}
	}
	if exists && !st.isRegular() && !cfg.DryRun {
		if !t.clearWay(name, st, f) {
			return nil
		}
		exists = false
	}

	// A partial file left by an interrupted transfer is the better basis.
	basis, basisSize := name, int64(-1)
	if exists {
		basisSize = st.size
	}
	if cfg.PartialDir != "" && !cfg.DryRun {
		if pst, err := lstat(cfg.Root, t.partialName(name)); err == nil && pst.isRegular() {
			basis, basisSize = t.partialName(name), pst.size
			t.setBasis(ndx, basis)
		}
	}

	t.requested++
	if err := t.writeNdx(ndx); err != nil {
		return err
	}
	if cfg.Protocol >= 29 {
		iflags := itemTransfer
		if cfg.AlwaysChecksum {
			iflags |= itemReportChange
		}
		iflags |= t.changes(f, st, exists, iflags)
		if basis != name {
			iflags |= itemBasisTypeFollow
		}
		if err := t.out.WriteUint16(uint16(iflags)); err != nil {
			return err
		}
		if basis != name {
			if err := t.out.WriteByte(fnamecmpPartialDir); err != nil {
				return err
			}
		}
	}
	if cfg.DryRun {
		return nil
	}
	if basisSize <= 0 || cfg.WholeFile {
		return t.writeSumHead(0, 0, 0, 0)
	}
	return t.sendSums(basis, basisSize, redo)
}

func (t *transfer) quickCheckOK(f *flist.File, name string, st *stat) bool {
	cfg := t.cfg
	if st.size != f.Size {
		return false
	}
	if cfg.AlwaysChecksum {
		sum, err := t.fileChecksum(name)
		return err == nil && len(f.Checksum) > 0 && len(sum) >= len(f.Checksum) && string(sum[:len(f.Checksum)]) == string(f.Checksum)
	}
	if cfg.SizeOnly {
		return true
	}
	if cfg.IgnoreTimes {
		return false
	}
	return !t.mtimeToSet(f, st)
}

func (t *transfer) writeSumHead(count, blength, s2length, remainder int32) error {
	var b [16]byte
	p := binary.LittleEndian.AppendUint32(b[:0], uint32(count))
	p = binary.LittleEndian.AppendUint32(p, uint32(blength))
	if t.cfg.Protocol >= 27 {
		p = binary.LittleEndian.AppendUint32(p, uint32(s2length))
	}
	p = binary.LittleEndian.AppendUint32(p, uint32(remainder))
	_, err := t.out.Write(p)
	return err
}

// sendSums sends the block checksums of the basis file.
func (t *transfer) sendSums(name string, size int64, redo bool) error {
	cfg := t.cfg
	f, err := cfg.Root.Open(name)
	if err != nil {
		t.noteIOError("rsync: failed to open %q, continuing: %v", name, err)
		return t.writeSumHead(0, 0, 0, 0)
	}
	defer f.Close()
	sizes := checksum.SumSizes
	if redo {
		sizes = checksum.SumSizesRedo
	}
	blength, s2length, count, remainder := sizes(cfg.Protocol, size, cfg.BlockSize, cfg.Checksum)
	if count < 0 {
		t.tellClient(wire.MsgWarning, "WARNING: file is too large for checksum sending: %s", name)
		return t.writeSumHead(0, 0, 0, 0)
	}
	if err := t.writeSumHead(count, blength, s2length, remainder); err != nil {
		return err
	}
	if t.blockSum == nil {
		var opts []checksum.Option
		if cfg.LegacySeedOrder {
			opts = append(opts, checksum.LegacySeedOrder())
		}
		t.blockSum = checksum.NewBlock(cfg.Checksum, cfg.Protocol, cfg.Seed, opts...)
	}
	return t.writeSums(f, count, blength, s2length, remainder)
}

// fileChecksum computes the --checksum sum of a local file.
func (t *transfer) fileChecksum(name string) ([]byte, error) {
	f, err := t.cfg.Root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := checksum.NewFileSum(t.cfg.FileChecksum, t.cfg.Protocol)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("checksum %q: %w", name, err)
	}
	return h.Sum(nil), nil
}
