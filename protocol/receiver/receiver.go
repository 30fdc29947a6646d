// Package receiver is the receiving end of an rsync transfer: the generator
// that asks the sender for what differs, and the receiver that rebuilds it.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/chmod"
	"github.com/rsyncd-go/rsyncd-go/protocol/filter"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/token"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
	"github.com/rsyncd-go/rsyncd-go/protocol/xferlog"
)

// DeleteMode says when extraneous files are deleted.
type DeleteMode int

// Delete timings of rsync(1).
const (
	DeleteNone DeleteMode = iota
	DeleteBefore
	DeleteDuring
	DeleteDelay
	DeleteAfter
)

// Config is everything the receiving side needs to know about a transfer,
// as plain values: the negotiated protocol, the destination, the client's
// options and the module's policy.
type Config struct {
	Protocol int
	Root     *os.Root // the module; every file access goes through it
	Dest     string   // destination directory inside Root ("." for its top)
	Module   string   // the module's name, for rsync's "(in MODULE)" in messages

	Checksum        checksum.Kind // negotiated block and whole-file checksum
	FileChecksum    checksum.Kind // --checksum file-list checksum
	LegacySeedOrder bool          // a client without the seed fix ('C')
	Seed            int32
	Compression     token.Codec

	Recursive        bool
	PreserveLinks    bool
	PreservePerms    bool
	PreserveTimes    bool
	OmitDirTimes     bool
	OmitLinkTimes    bool
	PreserveUID      bool
	PreserveGID      bool
	PreserveDevices  bool
	PreserveSpecials bool
	HardLinks        bool
	NumericIDs       bool

	AlwaysChecksum bool // -c
	IgnoreTimes    bool // -I
	SizeOnly       bool
	Update         bool // -u
	Existing       bool
	IgnoreExisting bool
	WholeFile      bool
	DryRun         bool
	ModifyWindow   int64
	BlockSize      int32

	Inplace    bool   // write into the destination file itself
	Partial    bool   // keep a partly received file (--partial)
	PartialDir string // --partial-dir

	Backup    bool   // -b: keep what is replaced or deleted
	BackupDir string // --backup-dir, "" for beside the file
	Suffix    string // --suffix

	Delete         DeleteMode
	DeleteExcluded bool
	Force          bool
	MaxDelete      int // < 0: unlimited
	IgnoreErrors   bool

	Filter       *filter.List // the client's rules (protect from deletion)
	DaemonFilter *filter.List // the module's rules (refuse and protect)

	// RemoveSource is the client's --remove-source-files (1) or
	// --remove-sent-files (2): the client is told which files arrived.
	RemoveSource int

	Verbose int    // the client's -v count: decides what it is told
	Itemize bool   // the client's -i (rsync's stdout_format_has_i)
	Umask   uint32 // applied to new files when perms are not preserved
	Log     *slog.Logger

	// OnFile, when set, hears of every file received (the transfer log).
	OnFile func(xferlog.Event)

	// Lists, with incremental recursion (CF_INC_RECURSE), reads the file
	// lists that follow the first one, between the file data; nil without.
	Lists *flist.ListReader

	Chmod         *chmod.Modes // the module's "incoming chmod", nil for none
	MungeSymlinks bool         // the module's "munge symlinks"
	SafeLinks     bool         // --safe-links: ignore symlinks that leave the transfer tree
	// IgnoreNonreadable is the module's "ignore nonreadable": deletions
	// do not see what the daemon may not read.
	IgnoreNonreadable bool

	// ThreadSetup, when set, runs first on every goroutine Run starts
	// that touches the module's files (the module's uid/gid, see
	// protocol.Identity); Run's caller has run it already.
	ThreadSetup func() error
	// Unprivileged says the transfer acts as a module uid other than
	// root: owners are not preserved (rsyncd after setuid).
	Unprivileged bool
	// FakeSuper is the module's "fake super": ownership, device numbers
	// and special modes go into the user.rsync.%stat xattr, devices and
	// symlinks become regular files (rsync's --fake-super on Linux).
	FakeSuper bool
	// TempDir is the module's "temp dir": received files are written
	// there and renamed (or copied, across file systems) into place.
	TempDir *os.Root
}

// Stats counts what a transfer did.
type Stats struct {
	Files, Transferred, Deleted, Created int
	Literal, Matched                     int64
	// TotalSize is the size of the regular files and symlinks of every
	// list received (rsync's stats.total_size, counted as it reads them).
	TotalSize int64
}

// listSize is what files add to Stats.TotalSize.
func listSize(files []flist.File) int64 {
	var n int64
	for i := range files {
		if f := &files[i]; f.IsRegular() || f.IsSymlink() {
			n += f.Size
		}
	}
	return n
}

// event is what the receiver tells the generator.
type event struct {
	done bool  // the receiver finished a phase
	redo int32 // index to send again with full checksums (when !done)
}

// Run drives the generator (on this goroutine) and the receiver (on another)
// for list, until the final goodbye. In and out are the multiplexed streams
// of the connection.
func Run(ctx context.Context, in *wire.Reader, out *wire.Writer, list *flist.List, cfg *Config) (Stats, error) {
	t := newTransfer(in, out, list, cfg)
	if cfg.Lists != nil {
		if err := t.startInc(); err != nil {
			return t.stats, err
		}
	} else {
		t.stats.TotalSize = listSize(t.files)
		t.applyListPolicy(t.files)
	}
	// What both goroutines read is settled before they start.
	if err := t.prepareDest(); err != nil {
		return t.stats, err
	}
	if t.inc == nil {
		t.indexChildren()
		t.indexHardLinks()
	}
	if cfg.Verbose >= 2 {
		// rsync's generate_files with DEBUG_GTE(FLIST, 1), which -vv
		// turns on (and a "max verbosity" below 2 off).
		msg := "delta-transmission enabled"
		if cfg.WholeFile {
			msg = "delta-transmission disabled for local transfer or --whole-file"
		}
		cfg.Log.Info(msg)
		t.tellClient(wire.MsgInfo, "%s", msg)
	}
	// The receiver goroutine is the only reader from here on.
	in.OnMessage = t.onMessage
	if t.inc != nil {
		in.BeforeWait(func() error {
			t.inc.pokeWaiting()
			return nil
		})
	}
	var (
		wg      sync.WaitGroup
		recvErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if cfg.ThreadSetup != nil {
			if err := cfg.ThreadSetup(); err != nil {
				recvErr = rerr.New(rerr.IPC, "receiver: %v", err)
				t.fail(recvErr)
				close(t.events)
				return
			}
		}
		recvErr = t.receive()
		if recvErr != nil {
			t.fail(recvErr)
		}
		close(t.events)
	}()
	var genErr error
	if t.inc != nil {
		genErr = t.generateInc(ctx)
	} else {
		genErr = t.generate(ctx)
	}
	if genErr != nil {
		t.fail(genErr)
	}
	wg.Wait()
	t.dirc.drop()
	t.cleanupTemps()
	err := errors.Join(genErr, recvErr)
	if err == nil {
		err = t.maxDeleteError()
	}
	if err == nil && t.ioErr != 0 {
		err = rerr.New(rerr.Partial, "some files/attrs were not transferred (see previous errors)")
	}
	return t.stats, err
}

// transfer is the state shared by the generator and the receiver.
type transfer struct {
	cfg    *Config
	in     *wire.Reader
	out    *wire.Writer
	list   *flist.List
	files  []flist.File
	events chan event
	quit   chan struct{}

	mu        sync.Mutex
	failErr   error
	temps     map[string]struct{} // temp files in flight, removed on failure
	ioErr     int                 // file-level errors: the run ends with code 23
	stats     Stats
	phase     int
	genNdx    wire.NdxCodec
	recvNdx   wire.NdxCodec
	children  map[string]map[string]struct{} // dir -> names the sender listed in it
	soloFile  string                         // a single file received under the destination's name
	dirs      []int32                        // directories whose times are set at the end
	del       delStats
	blockSum  *checksum.Block
	leader    []int32          // -H: index of each entry's link leader, -1 for none
	basis     map[int32]string // partial files offered as basis, by index
	dirc      dirCache         // the generator's open directory
	users     *idMap           // the sender's owner names to local ids
	groups    *idMap
	inc       *incState // incremental recursion; nil without
	requested int       // transfers the generator asked for
	// destCreated: prepareDest made the destination directory.
	destCreated bool
	// localPath's way of joining names to cfg.Dest (destJoin).
	destPrefix string
	destConcat bool
}

func newTransfer(in *wire.Reader, out *wire.Writer, list *flist.List, cfg *Config) *transfer {
	t := &transfer{
		cfg:    cfg,
		in:     in,
		out:    out,
		list:   list,
		files:  list.Files,
		events: make(chan event, 64),
		quit:   make(chan struct{}),
		temps:  map[string]struct{}{},
		dirc:   newDirCache(cfg.Root),
		users:  newUserMap(),
		groups: newGroupMap(),
	}
	t.genNdx.Protocol = cfg.Protocol
	t.recvNdx.Protocol = cfg.Protocol
	t.destPrefix, t.destConcat = destJoin(cfg.Dest)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return t
}

// fail records the first fatal error and wakes the other side.
func (t *transfer) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failErr == nil {
		t.failErr = err
		close(t.quit)
	}
}

// noteIOError records a file-level error: reported to the client, the run
// goes on and ends with exit code 23.
func (t *transfer) noteIOError(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.cfg.Log.Warn(msg)
	t.mu.Lock()
	t.ioErr++
	t.mu.Unlock()
	_ = t.out.WriteMsg(wire.MsgErrorXfer, []byte(msg+"\n"))
}

// tellClient sends an informational line to the client.
func (t *transfer) tellClient(tag wire.MsgTag, format string, args ...any) {
	_ = t.out.WriteMsg(tag, []byte(fmt.Sprintf(format, args...)+"\n"))
}

func (t *transfer) addTemp(name string) {
	t.mu.Lock()
	t.temps[name] = struct{}{}
	t.mu.Unlock()
}

func (t *transfer) dropTemp(name string) {
	t.mu.Lock()
	delete(t.temps, name)
	t.mu.Unlock()
}

// cleanupTemps removes temp files a broken transfer left behind.
func (t *transfer) cleanupTemps() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name := range t.temps {
		_ = t.tempRoot().Remove(name)
		delete(t.temps, name)
	}
}
