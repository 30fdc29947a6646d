// Package sender is the daemon's side of a client pull: it builds and sends
// the file list, then answers the client's block sums with deltas.
package sender

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/chmod"
	"github.com/rsyncd-go/rsyncd-go/protocol/filter"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
	"github.com/rsyncd-go/rsyncd-go/protocol/token"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
	"github.com/rsyncd-go/rsyncd-go/protocol/xferlog"
)

// Config is one pull as the session set it up.
type Config struct {
	Protocol        int
	Root            *os.Root // the module
	Module          string   // its name, for messages
	Checksum        checksum.Kind
	FileChecksum    checksum.Kind // --checksum sums in the list
	LegacySeedOrder bool
	Seed            int32
	Compression     token.Codec
	CompressLevel   int           // as token.ResolveLevel returns it
	Flist           flist.Options // the list's layout (NdxStart 0, no inc-recurse)

	Recursive       bool
	Relative        bool // --relative: names keep their path
	ImpliedDirs     bool // with Relative: send the parents of each name
	Dirs            bool // rsync's xfer_dirs
	Links           bool
	Atimes          bool
	CopyDirlinks    bool
	CopyLinks       bool // -L: send what symlinks point to (within the module)
	CopyUnsafeLinks bool // only for links that leave the transfer tree
	Inplace         bool // the client updates its basis in place
	Backup          bool // the client's --backup (before protocol 29: no in-place basis)
	DryRun          bool
	IgnoreErrors    bool
	Verbose         int

	Chmod             *chmod.Modes // the module's "outgoing chmod", nil for none
	MungeSymlinks     bool         // the module's "munge symlinks": strip the prefix from targets
	IgnoreNonreadable bool         // the module's "ignore nonreadable"
	FakeSuper         bool         // the module's "fake super": entries' user.rsync.%stat xattrs describe them
	OpenNoatime       bool         // open files with O_NOATIME (module's "open noatime" or the client's option)

	ClientRules  []filter.Rule   // the client's filter list
	MergeRead    filter.ReadFunc // reads per-directory merge files (module-relative names)
	DaemonFilter *filter.List    // the module's rules, on module-relative paths
	Log          *slog.Logger
	OnFile       func(xferlog.Event) // when set, hears of every file sent (the transfer log)

	// FilesFrom, when set, names what is sent instead of the arguments
	// (--files-from); the names are relative to the first argument.
	FilesFrom *FilesFrom
	// RemoveSource is --remove-source-files (1) or --remove-sent-files
	// (2): a file the client confirms (MSG_SUCCESS) is removed.
	RemoveSource int
}

// Stats is what a pull did.
type Stats struct {
	Files       int   // entries in the file list
	Transferred int   // files whose data was sent
	Literal     int64 // bytes sent as literal data
	Matched     int64 // bytes the client had (block references)
	TotalSize   int64
}

// Item flags (rsync.h ITEM_*) and file-list indexes (NDX_*).
const (
	itemBasisTypeFollows = 1 << 11
	itemXnameFollows     = 1 << 12
	itemIsNew            = 1 << 13
	itemTransfer         = 1 << 15
	itemMissingData      = 1 << 16

	fnamecmpFname = 0x80 // the basis is the file itself (FNAMECMP_FNAME)

	ndxDone     = -1
	ndxDelStats = -3
)

// Run sends the files named by args (the client's positional arguments
// after "."; none means the module root) and serves the transfer to its
// end. r must be multiplexed from protocol 30 and the client's filter list
// already read. The error carries rsync's exit code.
func Run(ctx context.Context, r *wire.Reader, w *wire.Writer, args []string, cfg *Config) (Stats, error) {
	var st Stats
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	proto := cfg.Protocol
	if len(args) == 0 {
		args = []string{"."}
	}
	// Output goes out when it fills a buffer or when the client must be
	// waited for, not once per request.
	r.BeforeWait(func() error {
		if err := w.Flush(); err != nil {
			return fmt.Errorf("flushing output before reading: %w", err)
		}
		return nil
	})

	start := time.Now()
	b := &builder{cfg: cfg, w: w, inc: cfg.Flist.IncRecurse, dirs: rootfs.Dirs{Root: cfg.Root}}
	defer b.dirs.Close()
	if b.inc && (proto < 30 || !cfg.Recursive) {
		return st, rerr.New(rerr.Protocol, "incremental recursion needs protocol 30 and --recursive")
	}
	if cfg.FilesFrom != nil {
		if err := b.addFilesFrom(ctx, args); err != nil {
			return st, err
		}
	} else {
		for _, a := range args {
			if err := b.addArg(a); err != nil {
				return st, err
			}
		}
	}
	buildTime := max(time.Since(start).Milliseconds(), 1)
	start = time.Now()
	ioError := b.ioError
	if cfg.IgnoreErrors {
		ioError = 0
	}
	s := &session{
		cfg: cfg, r: r, w: w, b: b,
		in:      wire.NdxCodec{Protocol: proto},
		out:     wire.NdxCodec{Protocol: proto},
		enc:     token.NewEncoder(w, cfg.Compression, cfg.CompressLevel, proto),
		ioError: b.ioError,
		dirs:    dirCache{dirs: rootfs.Dirs{Root: cfg.Root}},
	}
	defer s.dirs.close()
	fo := cfg.Flist
	var list *flist.List
	if b.inc {
		fo.NdxStart = 1
		enc := flist.NewEncoder(w, fo)
		sl, infos, err := b.emit(enc, 1, ioError, nil)
		if err != nil {
			return st, err
		}
		if err := enc.WriteTrailer(ioError); err != nil {
			return st, rerr.Wrap(rerr.SocketIO, err)
		}
		s.inc = newIncSender(enc)
		s.inc.add(sl, infos, proto)
		s.inc.old = s.inc.total
		list = sl.list // s.inc holds it: entry() finds lists there
		if len(s.inc.stack) == 0 {
			if err := s.flistEOF(); err != nil {
				return st, err
			}
		} else if s.inc.total == 1 {
			// One entry: one more list tells the client whether this
			// is a one-file transfer.
			if err := s.sendExtra(1); err != nil {
				return st, err
			}
		}
	} else {
		fo.NdxStart = 0
		var err error
		list, err = flist.WriteList(w, fo, b.files, ioError)
		if err != nil {
			return st, rerr.Wrap(rerr.Protocol, err)
		}
		s.list = list
		s.paths = make([]string, len(list.Files))
		for i := range list.Files {
			s.paths[i] = b.paths[list.Files[i].HLinkGroup]
		}
		b.files, b.paths = nil, nil
	}
	if err := w.Flush(); err != nil {
		return st, rerr.Wrap(rerr.SocketIO, err)
	}
	xferTime := time.Since(start).Milliseconds()
	st.Files = len(list.Files)
	for i := range list.Files {
		f := &list.Files[i]
		if !f.IsDir() {
			st.TotalSize += f.Size
		}
	}
	cfg.Log.Debug("file list sent", "files", st.Files)
	if len(list.Files) == 0 {
		// rsync's server sender ends here (do_server_sender).
		if b.xferErr {
			return st, rerr.New(rerr.Partial, "some files could not be sent")
		}
		return st, nil
	}
	var opts []checksum.Option
	if cfg.LegacySeedOrder {
		opts = append(opts, checksum.LegacySeedOrder())
	}
	if cfg.RemoveSource > 0 {
		s.watchSuccess()
	}
	s.m = newMatcher(checksum.NewBlock(cfg.Checksum, proto, cfg.Seed, opts...))
	s.fileSum = checksum.NewFile(cfg.Checksum, proto, cfg.Seed)
	if err := s.sendFiles(ctx); err != nil {
		return s.stats(st), err
	}
	st = s.stats(st)
	if s.inc != nil {
		st.Files, st.TotalSize = s.inc.entries, s.inc.size
	}

	// handle_stats: the server sender reports its totals.
	if err := w.Flush(); err != nil {
		return st, rerr.Wrap(rerr.SocketIO, err)
	}
	vals := []int64{r.Count(), w.Count(), st.TotalSize}
	if proto >= 29 {
		vals = append(vals, buildTime, xferTime)
	}
	for _, v := range vals {
		if err := w.WriteVarlong30(proto, v, 3); err != nil {
			return st, rerr.Wrap(rerr.SocketIO, err)
		}
	}
	if err := w.Flush(); err != nil {
		return st, rerr.Wrap(rerr.SocketIO, err)
	}
	if err := s.finalGoodbye(); err != nil {
		return st, err
	}
	if err := w.Flush(); err != nil {
		return st, rerr.Wrap(rerr.SocketIO, err)
	}
	if b.xferErr || s.xferErr {
		return st, rerr.New(rerr.Partial, "some files could not be sent")
	}
	return st, nil
}

// session is the send_files loop's state.
type session struct {
	cfg         *Config
	r           *wire.Reader
	w           *wire.Writer
	b           *builder
	list        *flist.List // the whole list; the first one with inc
	paths       []string
	inc         *incSender // incremental recursion, nil without
	dirs        dirCache   // the directory of the last file sent (dirfd.go)
	in, out     wire.NdxCodec
	enc         *token.Encoder
	m           *matcher
	fileSum     hash.Hash
	sums        Sums
	sumBuf      []byte
	ioError     int32
	xferErr     bool
	transferred int
}

func (s *session) stats(st Stats) Stats {
	st.Transferred = s.transferred
	st.Literal = s.m.literal
	st.Matched = s.m.matched
	return st
}

// request is one read_ndx_and_attrs.
type request struct {
	ndx       int32
	iflags    int
	basisType byte
	xname     string
}

// readRequest reads the next file index and its item attributes.
func (s *session) readRequest() (request, error) {
	var q request
	proto := s.cfg.Protocol
	for {
		ndx, err := s.r.ReadNdx(&s.in)
		if err != nil {
			return q, streamErr(err)
		}
		q.ndx = ndx
		if ndx == ndxDone {
			return q, nil
		}
		if ndx == ndxDelStats && proto >= 30 {
			// The client's deletion counts; a server sender echoes them.
			var v [5]int32
			for i := range v {
				if v[i], err = s.r.ReadVarint(); err != nil {
					return q, streamErr(err)
				}
				if v[i] < 0 {
					return q, rerr.New(rerr.Protocol, "invalid deletion count %d", v[i])
				}
			}
			if err := s.w.WriteNdx(&s.out, ndxDelStats); err != nil {
				return q, rerr.Wrap(rerr.SocketIO, err)
			}
			for _, x := range v {
				if err := s.w.WriteVarint(x); err != nil {
					return q, rerr.Wrap(rerr.SocketIO, err)
				}
			}
			continue
		}
		if s.inc != nil {
			return s.readIncRequest(ndx)
		}
		if ndx < 0 || int(ndx) > len(s.list.Files) {
			return q, rerr.New(rerr.Protocol, "Invalid file index: %d (%d - %d) [sender]", ndx, ndxDone, len(s.list.Files)-1)
		}
		q.iflags = itemTransfer | itemMissingData
		q.basisType = fnamecmpFname
		if proto >= 29 {
			v, err := s.r.ReadUint16()
			if err != nil {
				return q, streamErr(err)
			}
			q.iflags = int(v)
		}
		// The protocol-29 keep-alive.
		if proto < 30 && int(ndx) == len(s.list.Files) && q.iflags == itemIsNew {
			continue
		}
		if int(ndx) == len(s.list.Files) {
			return q, rerr.New(rerr.Protocol, "Invalid file index: %d (%d - %d) [sender]", ndx, ndxDone, len(s.list.Files)-1)
		}
		if err := s.readItemExtras(&q); err != nil {
			return q, err
		}
		if q.iflags&itemTransfer != 0 && !s.list.Files[ndx].IsRegular() {
			return q, rerr.New(rerr.Protocol, "received request to transfer non-regular file: %d [sender]", ndx)
		}
		return q, nil
	}
}

// readItemExtras reads what q.iflags say follows the item flags of a
// request: the basis type and the alternate basis name.
func (s *session) readItemExtras(q *request) error {
	var err error
	if q.iflags&itemBasisTypeFollows != 0 {
		if q.basisType, err = s.r.ReadByte(); err != nil {
			return streamErr(err)
		}
	}
	if q.iflags&itemXnameFollows != 0 {
		if q.xname, err = s.r.ReadVString(flist.MaxPathLen - 1); err != nil {
			return rerr.Wrap(rerr.Protocol, err)
		}
	}
	return nil
}

// writeAttrs echoes an index with its item attributes (write_ndx_and_attrs).
func (s *session) writeAttrs(q request) error {
	if err := s.w.WriteNdx(&s.out, q.ndx); err != nil {
		return err
	}
	if s.cfg.Protocol < 29 {
		return nil
	}
	if err := s.w.WriteUint16(uint16(q.iflags)); err != nil {
		return err
	}
	if q.iflags&itemBasisTypeFollows != 0 {
		if err := s.w.WriteByte(q.basisType); err != nil {
			return err
		}
	}
	if q.iflags&itemXnameFollows != 0 {
		b, err := wire.AppendVString(nil, q.xname)
		if err != nil {
			return err
		}
		if _, err := s.w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// sendFiles is rsync's send_files without incremental recursion.
func (s *session) sendFiles(ctx context.Context) error {
	proto := s.cfg.Protocol
	phase, maxPhase := 0, 1
	if proto >= 29 {
		maxPhase = 2
	}
	saved := s.ioError
	for {
		if err := ctx.Err(); err != nil {
			return rerr.Wrap(rerr.SocketIO, err)
		}
		if s.inc != nil {
			if err := s.sendExtra(minLookahead); err != nil {
				return err
			}
			s.r.WhileWaiting(lookahead{s})
		}
		q, err := s.readRequest()
		s.r.WhileWaiting(nil)
		if err != nil {
			return err
		}
		if q.ndx == ndxDone {
			if s.inc != nil && s.inc.done() {
				// The client is done with its oldest list; the
				// phase ends with the last one.
				if err := s.w.WriteNdx(&s.out, ndxDone); err != nil {
					return rerr.Wrap(rerr.SocketIO, err)
				}
				continue
			}
			phase++
			if phase > maxPhase {
				break
			}
			if err := s.w.WriteNdx(&s.out, ndxDone); err != nil {
				return rerr.Wrap(rerr.SocketIO, err)
			}
			continue
		}
		if s.inc != nil {
			if err := s.sendExtra(minLookahead); err != nil {
				return err
			}
		}
		if q.iflags&itemTransfer == 0 || s.cfg.DryRun {
			if s.cfg.OnFile != nil && !s.cfg.DryRun {
				// An itemized entry without data (rsync's maybe_log_item):
				// the transfer log decides whether it shows it.
				if entry, disk := s.itemEntry(q.ndx); entry != nil {
					s.cfg.OnFile(xferlog.Event{Op: xferlog.Send, File: entry, Path: disk, Iflags: int(q.iflags)})
				}
			}
			if err := s.writeAttrs(q); err != nil {
				return rerr.Wrap(rerr.SocketIO, err)
			}
			continue
		}
		if phase == 2 {
			return rerr.New(rerr.Protocol, "got transfer request in phase 2 [sender]")
		}
		if err := s.sendFile(q); err != nil {
			return err
		}
	}
	if s.ioError != saved && proto >= 30 {
		if err := s.w.WriteMsgInt32(wire.MsgIOError, s.ioError); err != nil {
			return rerr.Wrap(rerr.SocketIO, err)
		}
	}
	if err := s.w.WriteNdx(&s.out, ndxDone); err != nil {
		return rerr.Wrap(rerr.SocketIO, err)
	}
	return nil
}

// sendFile answers one transfer request: the sums in, the delta out.
func (s *session) sendFile(q request) error {
	cfg := s.cfg
	proto := cfg.Protocol
	var read0, written0 int64 // the transfer log's %b and %c count from here, as rsync's
	if cfg.OnFile != nil {
		read0, written0 = s.r.Count(), s.w.Count()
	}
	if err := s.sums.ReadSums(s.r, proto, cfg.Checksum.Size()); err != nil {
		return streamErr(err)
	}
	entry, disk := s.entry(q.ndx)
	if entry == nil {
		return rerr.New(rerr.Protocol, "received request to transfer non-regular file: %d [sender]", q.ndx)
	}
	var f srcFile
	var err error
	if cfg.CopyLinks || cfg.CopyUnsafeLinks {
		f, err = openFollow(cfg.Root, disk, cfg.OpenNoatime) // the entry may be a followed link
	} else {
		f, err = s.dirs.open(disk, cfg.OpenNoatime)
	}
	var fi fs.FileInfo
	if err == nil {
		fi, err = f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = syscall.EINVAL
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.ioError |= ioErrVanished
			tag := wire.MsgWarning
			if proto < 28 {
				tag = wire.MsgError
			}
			s.say(tag, "file has vanished: %s\n", s.fullName(disk))
		} else {
			s.ioError |= ioErrGeneral
			s.xferErr = true
			e := errnoOf(err)
			s.say(wire.MsgErrorXfer, "rsync: [sender] send_files failed to open %s: %s (%d)\n", s.fullName(disk), errnoText(e), int(e))
		}
		if proto >= 30 {
			if err := s.w.WriteMsgInt32(wire.MsgNoSend, q.ndx); err != nil {
				return rerr.Wrap(rerr.SocketIO, err)
			}
		}
		return nil
	}
	defer f.Close()
	if err := s.writeAttrs(q); err != nil {
		return rerr.Wrap(rerr.SocketIO, err)
	}
	if err := s.sums.writeHead(s.w); err != nil {
		return rerr.Wrap(rerr.SocketIO, err)
	}
	s.fileSum.Reset()
	if err := s.m.send(f, fi.Size(), &s.sums, s.enc, s.fileSum, s.updatingBasis(q)); err != nil {
		if s.m.win.err == nil {
			return rerr.Wrap(rerr.SocketIO, err)
		}
		return rerr.Wrap(rerr.FileIO, err)
	}
	if rerrRead := s.m.win.err; rerrRead != nil {
		s.ioError |= ioErrGeneral
		s.xferErr = true
		s.say(wire.MsgErrorXfer, "rsync: [sender] read errors mapping %s: %v\n", s.fullName(disk), rerrRead)
	}
	s.sumBuf = s.fileSum.Sum(s.sumBuf[:0])
	if _, err := s.w.Write(s.sumBuf); err != nil {
		return rerr.Wrap(rerr.SocketIO, err)
	}
	s.transferred++
	if cfg.OnFile != nil {
		cfg.OnFile(xferlog.Event{Op: xferlog.Send, File: entry, Path: disk, Iflags: int(q.iflags),
			Read: s.r.Count() - read0, Written: s.w.Count() - written0, Sum: s.sumBuf})
	}
	return nil
}

// updatingBasis tells whether the client writes this file over its basis
// (sender.c updating_basis_file): then a block behind the write position
// is gone and must not be referenced.
func (s *session) updatingBasis(q request) bool {
	if !s.cfg.Inplace {
		return false
	}
	if s.cfg.Protocol >= 29 {
		return q.basisType == fnamecmpFname
	}
	return !s.cfg.Backup
}

func (s *session) say(tag wire.MsgTag, format string, args ...any) {
	b := &builder{cfg: s.cfg, w: s.w}
	b.say(tag, format, args...)
}

func (s *session) fullName(disk string) string {
	return (&builder{cfg: s.cfg}).fullName("", disk)
}

// finalGoodbye is read_final_goodbye for the server sender.
func (s *session) finalGoodbye() error {
	proto := s.cfg.Protocol
	var ndx int32
	var err error
	if proto < 29 {
		ndx, err = s.r.ReadInt32()
		if err != nil {
			return streamErr(err)
		}
	} else {
		q, err := s.readRequest()
		if err != nil {
			return err
		}
		ndx = q.ndx
		if proto >= 31 && ndx == ndxDone {
			if err := s.w.WriteNdx(&s.out, ndxDone); err != nil {
				return rerr.Wrap(rerr.SocketIO, err)
			}
			if q, err = s.readRequest(); err != nil {
				return err
			}
			ndx = q.ndx
		}
	}
	if ndx != ndxDone {
		return rerr.New(rerr.Protocol, "Invalid packet at end of run (%d) [sender]", ndx)
	}
	return nil
}

// streamErr classifies a read error: a rerr passes, the rest is a broken
// stream.
func streamErr(err error) error {
	var re *rerr.Error
	if errors.As(err, &re) {
		return err
	}
	return rerr.Wrap(rerr.StreamIO, err)
}
