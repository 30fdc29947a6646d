package protocol

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"path"

	"github.com/rsyncd-go/rsyncd-go/protocol/chmod"
	"github.com/rsyncd-go/rsyncd-go/protocol/filter"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/options"
	"github.com/rsyncd-go/rsyncd-go/protocol/receiver"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/sender"
	"github.com/rsyncd-go/rsyncd-go/protocol/token"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Result is what a finished session reports for the log.
type Result struct {
	Stats receiver.Stats
	Read  int64 // bytes read from the client
	Wrote int64 // bytes written to the client
}

// Serve runs the session after the daemon handshake: r and w are the
// connection's streams (raw, not yet multiplexed), o the client's parsed
// arguments. The returned error carries rsync's exit code (rerr.Code); the
// client has been told about it already.
func Serve(ctx context.Context, r *wire.Reader, w *wire.Writer, o *options.Options, s *Session) (res Result, err error) {
	if s.RunAs != nil && !s.onThread {
		return serveAs(ctx, r, w, o, s)
	}
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	proto := s.Protocol
	role := "Receiver"
	if o.Sender {
		role = "sender"
	}
	defer func() {
		res.Read, res.Wrote = r.Count(), w.Count()
	}()

	st, err := negotiateInc(r, w, proto, o.Capabilities, o.ChecksumChoice, o.CompressChoice, o.Compress, s.Seed, incRecurse(o, proto))
	if err != nil {
		// Before multiplexing, the client can only see the error if we
		// switch now; rsync does the same.
		_ = w.StartMultiplex()
		tellError(w, proto, role, err)
		return res, err
	}
	// A push with a daemon-side --files-from list before protocol 31 sends
	// the names raw first (io.c start_filesfrom_forwarding).
	lateMux := !o.Sender && o.FilesFrom != "" && proto < 31
	if !lateMux {
		if err := w.StartMultiplex(); err != nil {
			return res, rerr.Wrap(rerr.SocketIO, err)
		}
	}
	if s.Timeout > 0 && proto >= 31 {
		_ = w.WriteMsgInt32(wire.MsgIOTimeout, int32(s.Timeout.Seconds()))
	}
	fail := func(err error) (Result, error) {
		if lateMux {
			_ = w.StartMultiplex()
		}
		tellError(w, proto, role, err)
		return res, err
	}
	if s.enterErr != nil {
		return fail(s.enterErr)
	}
	if o.Sender {
		res.Stats, err = serveSender(ctx, r, w, o, s, st, log)
		if err != nil && rerr.Code(err) != rerr.Partial {
			return fail(err)
		}
		return res, err
	}
	if s.ReadOnly {
		return fail(rerr.New(rerr.Syntax, "ERROR: module is read only"))
	}
	if s.TempDirName != "" && s.TempDir == nil {
		return fail(rerr.New(rerr.Syntax, "The temp-dir does not exist: %s", s.TempDirName))
	}
	if o.Inplace && o.Backup {
		return fail(rerr.New(rerr.Unsupported, "ERROR: --inplace with --backup is not supported by this daemon"))
	}
	inChmod, err := moduleChmod(s, "incoming chmod", s.IncomingChmod)
	if err != nil {
		return fail(err)
	}
	if proto >= 30 {
		r.StartMultiplex()
	}
	var ioError int32 // MSG_IO_ERROR before the transfer starts
	r.OnMessage = func(tag wire.MsgTag, p []byte) error {
		return receiver.ClientMessage(log, tag, p, func(v int32) { ioError |= v })
	}

	dest := "."
	if pos := o.Args; len(pos) > 1 {
		dest = cleanDest(pos[1])
	}
	deleting := o.Delete != options.DeleteNone
	var clientRules []filter.Rule
	if o.PruneEmptyDirs || (deleting && (!o.DeleteExcluded || proto >= 29)) {
		clientRules, err = filter.ReadWire(r, proto, filter.Limits{})
		if err != nil {
			return fail(streamOrProtocol(err))
		}
	}
	clientList := filter.New(filter.Config{Protocol: proto, Root: dest, DeleteExcluded: o.DeleteExcluded})
	if err := clientList.Add(clientRules, mergeReader(s.Root)); err != nil {
		return fail(rerr.New(rerr.Syntax, "%v", err))
	}
	daemonList, err := s.Filter.list(proto, dest)
	if err != nil {
		return fail(rerr.New(rerr.FileSelect, "module %q filter: %v", s.Module, err))
	}

	var forward *receiver.Forwarder
	if o.FilesFrom != "" {
		if forward, err = forwardFilesFrom(w, s, o, proto); err != nil {
			if lateMux {
				_ = w.WriteByte(0) // an empty list before the error, as rsyncd sends
			}
			return fail(err)
		}
	}
	var (
		list  *flist.List
		lists *flist.ListReader
	)
	if fo := flistOptions(o, st, proto); fo.IncRecurse {
		lists = flist.NewListReader(r, fo)
		list, err = lists.Read(fo.NdxStart, "")
	} else {
		list, err = flist.ReadList(r, fo)
	}
	if err != nil {
		return fail(streamOrProtocol(err))
	}
	list.IOError |= ioError
	if forward != nil {
		if err := forward.Wait(); err != nil {
			log.Warn("forwarding the files-from list", "err", err)
		}
		if lateMux {
			if err := w.StartMultiplex(); err != nil {
				return res, rerr.Wrap(rerr.SocketIO, err)
			}
		}
	}
	log.Debug("file list received", "files", len(list.Files))

	cfg := &receiver.Config{
		Protocol:          proto,
		Root:              s.Root,
		Dest:              dest,
		Module:            s.Module,
		Checksum:          st.checksum,
		FileChecksum:      st.fileChecksum,
		LegacySeedOrder:   st.legacySeedOrder,
		Seed:              st.seed,
		Compression:       st.compression,
		Recursive:         o.Recursive,
		PreserveLinks:     o.Links,
		PreservePerms:     o.Perms,
		PreserveTimes:     o.Times,
		OmitDirTimes:      o.OmitDirTimes != 0,
		OmitLinkTimes:     o.OmitLinkTimes,
		PreserveUID:       o.Owner,
		PreserveGID:       o.Group,
		PreserveDevices:   o.Devices,
		PreserveSpecials:  o.Specials,
		HardLinks:         o.HardLinks > 0,
		NumericIDs:        o.NumericIDs || s.NumericIDs,
		AlwaysChecksum:    o.Checksum,
		IgnoreTimes:       o.IgnoreTimes,
		SizeOnly:          o.SizeOnly,
		Update:            o.Update,
		Existing:          o.Existing,
		IgnoreExisting:    o.IgnoreExisting,
		WholeFile:         o.WholeFile > 0,
		DryRun:            o.DryRun,
		ModifyWindow:      int64(o.ModifyWindow),
		BlockSize:         o.BlockSize,
		Inplace:           o.Inplace,
		Partial:           o.Partial || o.PartialDir != "",
		PartialDir:        o.PartialDir,
		Backup:            o.Backup,
		BackupDir:         o.BackupDir,
		Suffix:            o.Suffix,
		Delete:            deleteMode(o.Delete, proto),
		DeleteExcluded:    o.DeleteExcluded,
		Force:             o.Force,
		MaxDelete:         o.MaxDelete,
		IgnoreErrors:      s.IgnoreErrors || o.IgnoreErrors,
		Filter:            clientList,
		DaemonFilter:      daemonList,
		Verbose:           o.Verbose,
		Itemize:           o.LogFormatHasI != 0,
		Umask:             s.Umask,
		Log:               log,
		OnFile:            s.OnFile,
		Chmod:             inChmod,
		MungeSymlinks:     s.MungeSymlinks,
		SafeLinks:         o.SafeLinks,
		IgnoreNonreadable: s.IgnoreNonreadable,
	}
	cfg.RemoveSource = o.RemoveSourceFiles
	cfg.Unprivileged = !s.RunAs.Privileged()
	cfg.ThreadSetup = s.RunAs.Enter
	cfg.FakeSuper, cfg.TempDir = s.FakeSuper, s.TempDir
	cfg.Lists = lists
	stats, err := receiver.Run(ctx, r, w, list, cfg)
	res.Stats = stats
	if err != nil {
		if rerr.Code(err) != rerr.Partial {
			res, err = fail(err)
			s.drainUntilDeath(ctx, err)
			return res, err
		}
		return res, err
	}
	return res, nil
}

// serveSender runs a pull, the daemon as rsync's server sender
// (main.c start_server and do_server_sender): the client's filter list,
// the module's policy, then the file list and the deltas.
func serveSender(ctx context.Context, r *wire.Reader, w *wire.Writer, o *options.Options, s *Session, st setup, log *slog.Logger) (receiver.Stats, error) {
	var stats receiver.Stats
	proto := s.Protocol
	// The client multiplexes its output from protocol 30, and for
	// --remove-source-files (rsync's need_messages_from_generator). Before
	// protocol 31 it sends --files-from names raw in the middle of that.
	var names *sender.NameSwitch
	if proto >= 30 || o.RemoveSourceFiles > 0 {
		if o.FilesFrom == "-" && proto < 31 {
			names = sender.NewNameSwitch(r)
			r = names.Reader
		} else {
			r.StartMultiplex()
		}
	}
	r.OnMessage = func(tag wire.MsgTag, p []byte) error {
		return receiver.ClientMessage(log, tag, p, func(int32) {})
	}
	rules, err := filter.ReadWire(r, proto, filter.Limits{})
	if err != nil {
		return stats, streamOrProtocol(err)
	}
	switch {
	case s.WriteOnly:
		return stats, rerr.New(rerr.Syntax, "ERROR: module is write only")
	case o.RemoveSourceFiles > 0 && s.ReadOnly:
		return stats, rerr.New(rerr.Syntax, "ERROR: --remove-%s-files cannot be used with a read-only module", removeWhich(o.RemoveSourceFiles))
	}
	daemonList, err := s.Filter.list(proto, "")
	if err != nil {
		return stats, rerr.New(rerr.FileSelect, "module %q filter: %v", s.Module, err)
	}
	outChmod, err := moduleChmod(s, "outgoing chmod", s.OutgoingChmod)
	if err != nil {
		return stats, err
	}
	level := token.LevelNotSpecified
	if o.CompressLevelSet {
		level = o.CompressLevel
	}
	codec, level := token.ResolveLevel(st.compression, level)
	if (codec == token.Zlib || codec == token.ZlibX) && dontCompressAll(s.DontCompress) {
		level = 0 // stored deflate blocks, still the deflated token format
	}
	var args []string
	if len(o.Args) > 1 {
		args = o.Args[1:]
	}
	var filesFrom *sender.FilesFrom
	switch o.FilesFrom {
	case "":
	case "-":
		if names != nil {
			if err := names.RawNames(); err != nil {
				return stats, rerr.Wrap(rerr.Protocol, err)
			}
		}
		filesFrom = sender.NewFilesFrom(r, true, false)
	default:
		f, err := openFilesFrom(s, daemonList, o.FilesFrom)
		if err != nil {
			return stats, err
		}
		defer f.Close()
		filesFrom = sender.NewFilesFrom(bufio.NewReader(f), o.From0, true)
	}
	cfg := &sender.Config{
		Protocol:        proto,
		Root:            s.Root,
		Module:          s.Module,
		Checksum:        st.checksum,
		FileChecksum:    st.fileChecksum,
		LegacySeedOrder: st.legacySeedOrder,
		Seed:            st.seed,
		Compression:     codec,
		CompressLevel:   level,
		Flist:           flistOptions(o, st, proto),
		Recursive:       o.Recursive,
		Relative:        o.Relative,
		ImpliedDirs:     o.ImpliedDirs || proto >= 30,
		Dirs:            o.Dirs || o.Recursive,
		Links:           o.Links,
		Atimes:          o.Atimes > 0,
		CopyDirlinks:    o.CopyDirlinks,
		CopyLinks:       o.CopyLinks,
		CopyUnsafeLinks: o.CopyUnsafeLinks,
		Inplace:         o.Inplace,
		Backup:          o.Backup,
		DryRun:          o.DryRun,
		IgnoreErrors:    s.IgnoreErrors || o.IgnoreErrors,
		Verbose:         o.Verbose,
		ClientRules:     rules,
		MergeRead:       mergeReader(s.Root),
		DaemonFilter:    daemonList,
		Log:             log,
		OnFile:          s.OnFile,

		Chmod:             outChmod,
		MungeSymlinks:     s.MungeSymlinks,
		IgnoreNonreadable: s.IgnoreNonreadable,
	}
	cfg.FilesFrom, cfg.RemoveSource = filesFrom, o.RemoveSourceFiles
	cfg.FakeSuper = s.FakeSuper
	cfg.OpenNoatime = o.OpenNoatime
	if s.OpenNoatime != nil {
		cfg.OpenNoatime = *s.OpenNoatime // the module's value overrides the client's
	}
	sst, err := sender.Run(ctx, r, w, args, cfg)
	stats.Files, stats.Transferred = sst.Files, sst.Transferred
	stats.Literal, stats.Matched = sst.Literal, sst.Matched
	stats.TotalSize = sst.TotalSize
	return stats, err
}

// moduleChmod compiles a module's chmod directive with the daemon's umask
// (rsync's orig_umask). The configuration was checked when loaded, so an
// error here is the operator's, reported as rsyncd reports bad parameters.
func moduleChmod(s *Session, key, value string) (*chmod.Modes, error) {
	m, err := chmod.Parse(value, chmod.Umask())
	if err != nil {
		return nil, rerr.New(rerr.Syntax, "module %q: invalid %s directive: %v", s.Module, key, err)
	}
	return m, nil
}

// openFilesFrom opens a daemon-side --files-from list (the client's
// "--files-from=:PATH"), refusing it as rsyncd's option parsing does.
func openFilesFrom(s *Session, daemonList *filter.List, name string) (*os.File, error) {
	f, _, err := sender.OpenList(s.Root, name, daemonList)
	switch {
	case errors.Is(err, sender.ErrListRejected):
		return nil, rerr.New(rerr.Unsupported, "rsync: Your options have been rejected by the server.")
	case err != nil:
		return nil, rerr.New(rerr.Unsupported, "rsync: %v", err)
	}
	return f, nil
}

// forwardFilesFrom starts sending a push's daemon-side --files-from list
// to the client, which builds its file list from it.
func forwardFilesFrom(w *wire.Writer, s *Session, o *options.Options, proto int) (*receiver.Forwarder, error) {
	moduleList, err := s.Filter.list(proto, "")
	if err != nil {
		return nil, rerr.New(rerr.FileSelect, "module %q filter: %v", s.Module, err)
	}
	f, err := openFilesFrom(s, moduleList, o.FilesFrom)
	if err != nil {
		return nil, err
	}
	return receiver.StartForward(w, f, o.From0), nil
}

func removeWhich(n int) string {
	if n == 1 {
		return "source"
	}
	return "sent"
}

// flistOptions is how both directions encode the file list: what the
// client's options and the negotiated compat flags say.
func flistOptions(o *options.Options, st setup, proto int) flist.Options {
	return flist.Options{
		Protocol:          proto,
		VarintFlags:       st.compat&cfVarintFlistFlags != 0,
		SafeFlist:         st.compat&cfSafeFlist != 0 || proto >= 31,
		ID0Names:          st.compat&cfID0Names != 0,
		PreserveUID:       o.Owner,
		PreserveGID:       o.Group,
		NumericIDs:        o.NumericIDs,
		PreserveDevices:   o.Devices,
		PreserveSpecials:  o.Specials,
		PreserveLinks:     o.Links,
		PreserveHardLinks: o.HardLinks > 0,
		PreserveAtimes:    o.Atimes > 0,
		AlwaysChecksum:    o.Checksum,
		ChecksumLen:       st.fileChecksum.Size(),
		Recurse:           o.Recursive,
		RelativePaths:     o.Relative,
		IncRecurse:        st.compat&cfIncRecurse != 0,
		NdxStart:          int32(st.compat & cfIncRecurse), // 1 for the first list of an incremental recursion
	}
}

// incRecurse says whether the session uses incremental recursion: the
// client allows it and its options permit it, as rsync's server decides.
func incRecurse(o *options.Options, proto int) bool {
	return proto >= 30 && o.IncRecurse()
}

// cleanDest confines a destination argument to the module: leading
// slashes and ".." components that would climb above it are dropped, as
// rsync's sanitize_path does for a daemon.
func cleanDest(p string) string {
	c := path.Clean("/" + p)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// deleteMode maps the client's delete options to a timing, applying rsync's
// default for a bare --delete (during from protocol 30, before for older).
func deleteMode(m options.DeleteMode, proto int) receiver.DeleteMode {
	switch m {
	case options.DeleteNone:
		return receiver.DeleteNone
	case options.DeleteBefore:
		return receiver.DeleteBefore
	case options.DeleteDuring:
		return receiver.DeleteDuring
	case options.DeleteDelay:
		return receiver.DeleteDelay
	case options.DeleteAfter:
		return receiver.DeleteAfter
	}
	if proto < 30 {
		return receiver.DeleteBefore
	}
	return receiver.DeleteDuring
}

func streamOrProtocol(err error) error {
	if rerr.Code(err) != rerr.StreamIO {
		return err
	}
	if _, ok := err.(*rerr.Error); ok {
		return err
	}
	return rerr.Wrap(rerr.Protocol, err)
}

// serveAs is Serve on a goroutine of its own whose thread acts as the
// module's identity (Identity.Enter); the thread ends with it, so the
// caller's thread never carries the module's credentials.
func serveAs(ctx context.Context, r *wire.Reader, w *wire.Writer, o *options.Options, s *Session) (res Result, err error) {
	on := *s
	on.onThread = true
	done := make(chan struct{})
	go func() {
		defer close(done)
		if eerr := s.RunAs.Enter(); eerr != nil {
			on.enterErr = rerr.New(rerr.Unsupported, "rsync: acting as the module's uid/gid failed: %v", eerr)
		}
		res, err = Serve(ctx, r, w, o, &on)
	}()
	<-done
	return res, err
}
