package receiver

import (
	"bufio"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
	"github.com/rsyncd-go/rsyncd-go/protocol/token"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
	"github.com/rsyncd-go/rsyncd-go/protocol/xferlog"
)

// Bounds on a sum head from the wire. Protocol 30 caps blocks at rsync's
// MAX_BLOCK_SIZE; older ones allow 1<<29 (OLD_MAX_BLOCK_SIZE), which would
// let one hostile session claim 512 MiB here, so they get 16 MiB: more than
// rsync's generator picks for any file below 2^48 bytes.
const (
	maxBlockSize    = 1 << 17
	oldMaxBlockSize = 16 << 20
	maxXname        = 4096
)

// ClientMessage handles an out-of-band message from a pushing client:
// NOOPs and log lines are fine, MSG_IO_ERROR goes to ioError, an error exit
// of the client ends the session, anything else is a protocol error.
func ClientMessage(log *slog.Logger, tag wire.MsgTag, p []byte, ioError func(int32)) error {
	switch tag {
	case wire.MsgNoop:
		return nil
	case wire.MsgIOError:
		if len(p) != 4 {
			return rerr.New(rerr.Protocol, "invalid MSG_IO_ERROR of %d bytes", len(p))
		}
		ioError(int32(binary.LittleEndian.Uint32(p)))
		return nil
	case wire.MsgInfo, wire.MsgError, wire.MsgErrorXfer, wire.MsgWarning, wire.MsgLog:
		log.Info("client message", "text", strings.TrimRight(string(p), "\n"))
		return nil
	case wire.MsgErrorExit:
		code := rerr.Partial
		if len(p) == 4 {
			code = int(int32(binary.LittleEndian.Uint32(p)))
		}
		return rerr.New(code, "client exited with an error (code %d)", code)
	}
	return rerr.New(rerr.Protocol, "unexpected message %d from the client", tag)
}

// onMessage is ClientMessage while the transfer runs.
func (t *transfer) onMessage(tag wire.MsgTag, p []byte) error {
	return ClientMessage(t.cfg.Log, tag, p, func(v int32) {
		t.mu.Lock()
		t.list.IOError |= v
		t.mu.Unlock()
	})
}

// receive reads the sender's data for each requested file and installs it.
func (t *transfer) receive() error {
	cfg := t.cfg
	proto := cfg.Protocol
	maxPhase := 1
	if proto >= 29 {
		maxPhase = 2
	}
	dec := token.NewDecoder(t.in, cfg.Compression, proto)
	r := &fileReceiver{t: t, dec: dec, dirs: newDirCache(cfg.Root)}
	defer r.dirs.drop()
	for {
		ndx, err := t.in.ReadNdx(&t.recvNdx)
		if err != nil {
			return streamErr(err)
		}
		if t.inc != nil && ndx < 0 && ndx != wire.NdxDone {
			if err := t.recvFlistNdx(ndx); err != nil {
				return err
			}
			continue
		}
		if ndx == wire.NdxDone {
			if t.inc != nil && t.phase == 0 {
				more, err := t.recvListDone()
				if err != nil {
					return err
				}
				if more {
					continue // the sender closed one of several lists
				}
			}
			t.phase++
			if t.phase > maxPhase {
				break
			}
			if err := t.signal(event{done: true}); err != nil {
				return err
			}
			continue
		}
		iflags := itemTransfer
		if proto >= 29 {
			v, err := t.in.ReadUint16()
			if err != nil {
				return streamErr(err)
			}
			iflags = int(v)
			// The protocol-29 keep-alive: an index one past the list, "new".
			if proto < 30 && int(ndx) == len(t.files) && iflags == itemIsNew {
				continue
			}
		}
		if t.inc == nil && (ndx < 0 || int(ndx) >= len(t.files)) {
			return rerr.New(rerr.Protocol, "Invalid file index: %d (%d - %d)", ndx, wire.NdxDone, len(t.files)-1)
		}
		if iflags&itemBasisTypeFollow != 0 {
			b, err := t.in.ReadByte()
			if err != nil {
				return streamErr(err)
			}
			// Only the basis types this daemon offers are accepted.
			if b != fnamecmpFname && (b != fnamecmpPartialDir || t.cfg.PartialDir == "") {
				return rerr.New(rerr.Protocol, "unrequested basis type %#x for index %d", b, ndx)
			}
		}
		if iflags&itemXnameFollows != 0 {
			if _, err := t.in.ReadVString(maxXname); err != nil {
				return streamErr(err)
			}
		}
		if iflags&itemTransfer == 0 {
			continue
		}
		if t.phase == 2 {
			return rerr.New(rerr.Protocol, "got transfer request in phase 2")
		}
		var f *flist.File
		var il *incList // the list of f with incremental recursion
		if t.inc != nil {
			if f, il = t.incFile(ndx); f == nil {
				return rerr.New(rerr.Protocol, "Invalid file index: %d (not in an open file list)", ndx)
			}
		} else {
			f = &t.files[ndx]
		}
		if f.Flags&flist.FlagRemoved != 0 {
			return rerr.New(rerr.Protocol, "rsync: refusing transfer of cleared file index %d", ndx)
		}
		if !f.IsRegular() {
			return rerr.New(rerr.Protocol, "transfer request for non-regular file %q", f.Name)
		}
		if cfg.DryRun {
			continue
		}
		read0 := t.in.Count()
		ok, err := r.receiveFile(ndx, f)
		if err != nil {
			return err
		}
		if cfg.OnFile != nil {
			// Logged whether or not it verified, as rsyncd's log_item.
			cfg.OnFile(xferlog.Event{Op: xferlog.Recv, File: f, Path: t.localPath(f), Iflags: iflags, Read: t.in.Count() - read0})
		}
		t.stats.Transferred++
		// A file fails for good once it was sent again (with incremental
		// recursion that happens within phase 0).
		redoing := t.phase != 0 || il != nil && t.inc.redoing(il, ndx)
		if il != nil {
			t.inc.finished(il, ndx, !ok && !redoing)
		}
		if !ok {
			if !redoing {
				if cfg.Verbose > 0 {
					t.tellClient(wire.MsgWarning, "WARNING: %s failed verification -- update discarded (will try again).", f.Name)
				}
				if il == nil {
					if err := t.signal(event{redo: ndx}); err != nil {
						return err
					}
				}
			} else {
				t.noteIOError("ERROR: %s failed verification -- update discarded.", f.Name)
			}
		}
	}
	if err := t.signal(event{done: true}); err != nil {
		return err
	}
	if proto >= 31 {
		// The sender's answer to the delete-phase NDX_DONE.
		ndx, err := t.in.ReadNdx(&t.recvNdx)
		if err != nil {
			return streamErr(err)
		}
		if ndx != wire.NdxDone {
			return rerr.New(rerr.Protocol, "Invalid packet at end of run (%d)", ndx)
		}
		return t.signal(event{done: true})
	}
	return nil
}

func (t *transfer) signal(ev event) error {
	if t.inc != nil {
		t.inc.pokeWaiting() // the generator may wait for lists, not events
	}
	select {
	case t.events <- ev:
		return nil
	case <-t.quit:
		return errStopped
	}
}

func streamErr(err error) error {
	if err == nil {
		return nil
	}
	var re *rerr.Error
	if errors.As(err, &re) {
		return err
	}
	return rerr.Wrap(rerr.StreamIO, err)
}

// fileReceiver rebuilds files from token streams, reusing its buffers.
type fileReceiver struct {
	t     *transfer
	dec   *token.Decoder
	block []byte
	bw    *bufio.Writer
	sum   []byte

	dirs dirCache // the directory files are being created in
	// A read-ahead window on the basis file: matched blocks mostly come
	// in order, and one pread per block costs more than the copy.
	win    []byte
	winOff int64
}

// sumHead is the block layout the sender echoes before a file's data.
type sumHead struct {
	count, blength, s2length, remainder int32
}

func (r *fileReceiver) readSumHead() (sumHead, error) {
	t := r.t
	var h sumHead
	var err error
	read := func(p *int32) {
		if err == nil {
			*p, err = t.in.ReadInt32()
		}
	}
	read(&h.count)
	read(&h.blength)
	if t.cfg.Protocol >= 27 {
		read(&h.s2length)
	}
	read(&h.remainder)
	if err != nil {
		return h, streamErr(err)
	}
	maxB := int32(maxBlockSize)
	if t.cfg.Protocol < 30 {
		maxB = oldMaxBlockSize
	}
	switch {
	case h.count < 0:
		return h, rerr.New(rerr.Protocol, "invalid checksum count %d", h.count)
	case h.blength < 0 || h.blength > maxB:
		return h, rerr.New(rerr.Protocol, "invalid block length %d [max %d]", h.blength, maxB)
	case h.count > 0 && h.blength == 0:
		return h, rerr.New(rerr.Protocol, "zero block length with %d blocks", h.count)
	case h.s2length < 0 || int(h.s2length) > min(t.cfg.Checksum.Size(), sumLength):
		return h, rerr.New(rerr.Protocol, "invalid checksum length %d", h.s2length)
	case h.remainder < 0 || h.remainder > h.blength:
		return h, rerr.New(rerr.Protocol, "invalid remainder length %d", h.remainder)
	}
	return h, nil
}

// receiveFile reads one file's data into a temp file beside it and renames
// it over the target when the whole-file checksum matches. It reports false
// for a checksum mismatch. File-system errors are reported to the client and
// the stream is consumed so the transfer goes on; only stream errors return.
func (r *fileReceiver) receiveFile(ndx int32, f *flist.File) (bool, error) {
	t := r.t
	cfg := t.cfg
	name := t.localPath(f)
	basisName, fromPartial := t.takeBasis(ndx)
	if !fromPartial {
		basisName = name
	}
	head, err := r.readSumHead()
	if err != nil {
		return false, err
	}

	var basis *os.File
	if head.count > 0 {
		basis, err = rootfs.OpenNoFollow(cfg.Root, basisName)
		// A missing basis is no error (some senders describe blocks we
		// never offered): block references then fail the checksum and
		// the file is sent again whole.
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.noteIOError("rsync: failed to open basis %q: %v", name, err)
		}
	}
	if basis != nil {
		defer basis.Close()
	}

	tmp := tempName(name)
	var out *os.File
	if cfg.Inplace {
		tmp = name
		out, err = cfg.Root.OpenFile(name, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	} else {
		if cfg.TempDir != nil {
			tmp = path.Base(tmp) // the temp dir is flat
		}
		if cfg.TempDir == nil {
			out, err = r.dirs.createTemp(tmp)
		} else {
			out, err = t.tempRoot().OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	var writeErr error
	// outErr is a failed write of the output: rsync's receiver ends the
	// session on it (RERR_FILEIO) instead of draining the file's data.
	var outErr error
	if err != nil {
		e := errnoOf(err)
		t.noteIOError("rsync: [receiver] mkstemp %q (in %s) failed: %s (%d)", tmp, cfg.Module, errnoText(e), int(e))
		writeErr = err
		out = nil
	} else {
		if !cfg.Inplace {
			t.addTemp(tmp)
		}
		if r.bw == nil {
			r.bw = bufio.NewWriterSize(out, 256*1024)
		} else {
			r.bw.Reset(out)
		}
	}
	h := checksum.NewFile(cfg.Checksum, cfg.Protocol, cfg.Seed)
	var offset int64 // of the output
	write := func(p []byte) {
		h.Write(p)
		if writeErr == nil && out != nil {
			_, writeErr = r.bw.Write(p)
			outErr = writeErr
		}
		offset += int64(len(p))
	}
	// skip moves past a block that --inplace finds already in place.
	skip := func(p []byte) {
		h.Write(p)
		if writeErr == nil && out != nil {
			if writeErr = r.bw.Flush(); writeErr == nil {
				_, writeErr = out.Seek(int64(len(p)), io.SeekCurrent)
			}
			outErr = writeErr
		}
		offset += int64(len(p))
	}
	gotLiteral := false
	r.win = r.win[:0] // the window is of the previous file's basis
	if int(head.blength) > cap(r.block) {
		r.block = make([]byte, head.blength)
	}
	for {
		data, blk, err := r.dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			r.interrupted(out, tmp, name, gotLiteral)
			return false, streamErr(err)
		}
		if blk < 0 {
			write(data)
			gotLiteral = true
			t.stats.Literal += int64(len(data))
			if outErr != nil {
				return false, r.writeFailed(out, tmp, name, gotLiteral, outErr)
			}
			continue
		}
		if blk >= head.count {
			r.abandon(out, tmp)
			return false, rerr.New(rerr.Protocol, "invalid block index %d of %d in %q", blk, head.count, f.Name)
		}
		n := head.blength
		if blk == head.count-1 && head.remainder != 0 {
			n = head.remainder
		}
		b := r.block[:n]
		if basis != nil && !cfg.Inplace {
			// --inplace writes into its basis, so it reads every block
			// afresh; otherwise blocks come through a read-ahead window.
			var rerr error
			if b, rerr = r.basisBlock(basis, int64(blk)*int64(head.blength), int(n)); rerr != nil && writeErr == nil {
				writeErr = rerr
			}
		} else if basis != nil {
			if k, err := basis.ReadAt(b, int64(blk)*int64(head.blength)); k < len(b) {
				clear(b[k:])
				if err != nil && err != io.EOF && writeErr == nil {
					writeErr = fmt.Errorf("read basis: %w", err)
				}
			}
		} else {
			clear(b)
		}
		if cfg.Inplace && basis != nil && int64(blk)*int64(head.blength) == offset {
			skip(b)
		} else {
			write(b)
		}
		t.stats.Matched += int64(n)
		if outErr != nil {
			return false, r.writeFailed(out, tmp, name, gotLiteral, outErr)
		}
		if err := r.dec.SeeBlock(b); err != nil {
			r.abandon(out, tmp)
			return false, streamErr(err)
		}
	}
	want := cfg.Checksum.Size()
	if cap(r.sum) < want {
		r.sum = make([]byte, want)
	}
	remote := r.sum[:want]
	if err := t.in.ReadFull(remote); err != nil {
		r.interrupted(out, tmp, name, gotLiteral)
		return false, streamErr(err)
	}
	if out == nil {
		return true, nil // reported already; nothing to install
	}
	if writeErr == nil {
		if writeErr = r.bw.Flush(); writeErr != nil {
			return false, r.writeFailed(out, tmp, name, gotLiteral, writeErr)
		}
	}
	if cfg.Inplace && writeErr == nil {
		writeErr = out.Truncate(offset)
	}
	local := h.Sum(nil)
	verified := subtle.ConstantTimeCompare(local[:want], remote) == 1
	if writeErr == nil && verified && !cfg.Inplace {
		t.setFileAttrs(out, name, f)
	}
	if cerr := out.Close(); writeErr == nil {
		writeErr = cerr
	}
	if cfg.Inplace {
		// The file is updated where it is: nothing to rename.
		if writeErr != nil {
			t.noteIOError("rsync: write failed on %q: %v", name, writeErr)
			return true, nil
		}
		if verified {
			t.setAttrs(name, f, nil, false, false)
			t.success(ndx)
		}
		return verified, nil
	}
	if writeErr != nil {
		r.removeTemp(tmp)
		t.noteIOError("rsync: write failed on %q: %v", name, writeErr)
		return true, nil
	}
	if !verified {
		r.removeTemp(tmp)
		return false, nil
	}
	if cfg.Backup {
		if err := t.makeBackup(name, true); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.removeTemp(tmp)
			t.noteIOError("rsync: backup of %q failed: %v", name, err)
			return true, nil
		}
	}
	if err := r.install(tmp, name, f); err != nil {
		r.removeTemp(tmp)
		t.noteIOError("rsync: rename %q -> %q failed: %v", tmp, name, err)
		return true, nil
	}
	t.dropTemp(tmp)
	if fromPartial {
		t.dropPartial(basisName)
	}
	t.success(ndx)
	return true, nil
}

// basisWindow is the read-ahead of the basis: rsync's map_ptr reads up
// to 256 KiB at a time too.
const basisWindow = 256 << 10

// basisBlock returns the n bytes of the basis at off, zero-filled past its
// end, from the window when they lie in it. A block that continues the
// window (the usual in-order match) refills it with basisWindow bytes; a
// jump elsewhere reads just the block, so out-of-order references cost no
// more than before. The result is valid until the next call.
func (r *fileReceiver) basisBlock(basis *os.File, off int64, n int) ([]byte, error) {
	end := r.winOff + int64(len(r.win))
	if off >= r.winOff && off+int64(n) <= end {
		return r.win[off-r.winOff:][:n], nil
	}
	size := n
	if len(r.win) == 0 || off >= r.winOff && off <= end {
		size = max(n, basisWindow)
	}
	if cap(r.win) < size {
		r.win = make([]byte, size)
	}
	k, err := basis.ReadAt(r.win[:size], off)
	r.win, r.winOff = r.win[:k], off
	if k >= n {
		return r.win[:n], nil
	}
	// The basis ends inside the block.
	b := r.block[:n]
	copy(b, r.win[:k])
	clear(b[k:])
	if err != nil && err != io.EOF {
		return b, fmt.Errorf("read basis: %w", err)
	}
	return b, nil
}

// interrupted ends a file whose stream broke: with --partial what arrived
// is kept (in the partial dir, or as the file itself), else the temp file
// goes and the old file stays.
func (r *fileReceiver) interrupted(out *os.File, tmp, name string, gotLiteral bool) {
	t := r.t
	if out == nil || t.cfg.Inplace {
		if out != nil {
			_ = r.bw.Flush()
			out.Close()
		}
		return
	}
	if !t.cfg.Partial || !gotLiteral {
		r.abandon(out, tmp)
		return
	}
	err := r.bw.Flush()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	partial := t.partialName(name)
	if err == nil && partial != name {
		err = t.cfg.Root.MkdirAll(path.Dir(partial), 0o700)
	}
	if err == nil {
		err = t.installTemp(tmp, partial, nil)
	}
	if err != nil {
		r.removeTemp(tmp)
		return
	}
	t.dropTemp(tmp)
}

// writeFailed ends a file whose output could not be written (a full disk)
// as rsync's receiver does: "write failed on NAME (in MODULE)" and the
// session ends with RERR_FILEIO. The temp file goes (or becomes the partial
// file with --partial) and the old file stays.
func (r *fileReceiver) writeFailed(out *os.File, tmp, name string, gotLiteral bool, err error) error {
	r.interrupted(out, tmp, name, gotLiteral)
	e := errnoOf(err)
	msg := fmt.Sprintf("rsync: [receiver] write failed on %q (in %s): %s (%d)", name, r.t.cfg.Module, errnoText(e), int(e))
	r.t.cfg.Log.Warn(msg, "err", err)
	return rerr.New(rerr.FileIO, "%s", msg)
}

// errnoOf returns the system error number behind err, EIO when none.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}

// errnoText is strerror: Go's texts are lower-case, glibc's capitalised.
func errnoText(e syscall.Errno) string {
	s := e.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// abandon closes and removes a temp file after a stream error.
func (r *fileReceiver) abandon(out *os.File, tmp string) {
	if out != nil {
		out.Close()
		r.removeTemp(tmp)
	}
}

// install renames temp file tmp over name: beside it in the module through
// the cached directory, from a temp dir through installTemp.
func (r *fileReceiver) install(tmp, name string, f *flist.File) error {
	if r.t.cfg.TempDir == nil {
		return r.dirs.rename(tmp, name)
	}
	return r.t.installTemp(tmp, name, f)
}

func (r *fileReceiver) removeTemp(tmp string) {
	_ = r.t.tempRoot().Remove(tmp)
	r.t.dropTemp(tmp)
}
