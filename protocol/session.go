// Package protocol runs the rsync protocol over an authenticated daemon
// connection: compat flags, checksum and compression negotiation, the transfer.
package protocol

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/token"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
	"github.com/rsyncd-go/rsyncd-go/protocol/xferlog"
)

// Compat flags (compat.c CF_*).
const (
	cfIncRecurse        = 1 << 0
	cfSymlinkTimes      = 1 << 1
	cfSymlinkIconv      = 1 << 2
	cfSafeFlist         = 1 << 3
	cfAvoidXattrOptim   = 1 << 4
	cfChksumSeedFix     = 1 << 5
	cfInplacePartialDir = 1 << 6
	cfVarintFlistFlags  = 1 << 7
	cfID0Names          = 1 << 8
)

// Session is one transfer as the daemon front hands it over: the negotiated
// protocol, the client's arguments, and the module's policy.
type Session struct {
	Protocol int
	Args     []string // the client's server arguments, module prefix removed
	Root     *os.Root // the module path
	Module   string

	ReadOnly     bool
	WriteOnly    bool
	IgnoreErrors bool
	NumericIDs   bool         // the module's "numeric ids": names from the client are not mapped
	Filter       DaemonFilter // the module's filter rules
	Timeout      time.Duration
	Seed         int32 // checksum seed; 0 picks one
	Umask        uint32
	Log          *slog.Logger

	// OnFile, when set, is called for every file the transfer sent,
	// received or deleted (rsyncd's "transfer logging"), on the goroutine
	// that handled it; it must not keep ev.File.
	OnFile func(ev FileEvent)

	// The module's data-path policies (rsyncd.conf(5)).
	IncomingChmod     string // "incoming chmod": --chmod items applied to what is received
	OutgoingChmod     string // "outgoing chmod": --chmod items applied to the list sent
	MungeSymlinks     bool   // "munge symlinks": store received symlinks under /rsyncd-munged/, strip it on send
	IgnoreNonreadable bool   // "ignore nonreadable": a pull skips what the daemon cannot read

	RunAs       *Identity // "uid"/"gid" under root: the transfer's threads act as them; nil = the process's identity
	FakeSuper   bool      // "fake super": ownership, devices and special modes live in the user.rsync.%stat xattr
	TempDir     *os.Root  // "temp dir": where received temp files are written (inside the module)
	TempDirName string    // the "temp dir" value; set with TempDir nil, it does not exist and pushes fail
	OpenNoatime *bool     // "open noatime": the sender opens with O_NOATIME; nil = the client's --open-noatime

	// DontCompress is the module's "dont compress" list. rsync 3.5.0
	// compresses every file alike (no codec changes its level mid-stream),
	// except that a bare "*" in the list makes zlib and zlibx data of a pull
	// go at level 0 (token.c per_file_default_level).
	DontCompress []string

	// Conn, when set, is the client connection under the session's streams:
	// after a fatal error of a push the session drains it as rsyncd does
	// (drainUntilDeath). Its read deadline is the session's to set then.
	Conn net.Conn

	onThread bool  // Serve runs on a thread that entered RunAs
	enterErr error // entering RunAs failed: the session only reports it
}

// FileEvent is one file of the transfer log; see xferlog.Event.
type FileEvent = xferlog.Event

// RefuseText is Refuse for a message sent as it is, line by line, with no
// "rsync: " prefix: how rsyncd reports a failed "pre-xfer exec".
func RefuseText(r *wire.Reader, w *wire.Writer, proto int, args []string, msg string) {
	l := lenientArgs(args)
	if _, err := negotiate(r, w, proto, l.caps, l.csumChoice, l.compressChoice, l.compress, 0); err != nil {
		return
	}
	if l.filesFrom && !l.sender {
		_ = w.WriteByte(0)
	}
	if err := w.StartMultiplex(); err != nil {
		return
	}
	tellError(w, proto, "server", rerr.New(rerr.Unsupported, "%s", strings.TrimRight(msg, "\n")))
}

// setup holds what the protocol setup negotiated.
type setup struct {
	compat          int
	checksum        checksum.Kind // block and whole-file sums
	fileChecksum    checksum.Kind // --checksum file-list sums
	compression     token.Codec
	seed            int32
	legacySeedOrder bool
}

// negotiate performs the server side of setup_protocol for protocol 30+ and
// the older defaults: compat flags, the checksum and compression choices,
// and the checksum seed.
func negotiate(r *wire.Reader, w *wire.Writer, proto int, caps string, csumChoice, compressChoice string, compress bool, seed int32) (setup, error) {
	return negotiateInc(r, w, proto, caps, csumChoice, compressChoice, compress, seed, false)
}

// negotiateInc is negotiate that also sets CF_INC_RECURSE when inc is
// true: the client allows incremental recursion and the options permit it
// (rsync's set_allow_inc_recurse, options.Options.IncRecurse).
func negotiateInc(r *wire.Reader, w *wire.Writer, proto int, caps string, csumChoice, compressChoice string, compress bool, seed int32, inc bool) (setup, error) {
	var s setup
	negotiated := false
	if proto >= 30 {
		flags := cfSymlinkTimes
		if inc {
			flags |= cfIncRecurse
		}
		for _, c := range []struct {
			letter byte
			flag   int
		}{{'f', cfSafeFlist}, {'x', cfAvoidXattrOptim}, {'C', cfChksumSeedFix}, {'I', cfInplacePartialDir}, {'u', cfID0Names}, {'v', cfVarintFlistFlags}} {
			if strings.IndexByte(caps, c.letter) >= 0 {
				flags |= c.flag
			}
		}
		negotiated = flags&cfVarintFlistFlags != 0
		if strings.IndexByte(caps, 'V') >= 0 {
			flags |= cfVarintFlistFlags // a pre-release 'V' client reads a byte
			if err := w.WriteByte(byte(flags)); err != nil {
				return s, err
			}
		} else if err := w.WriteVarint(int32(flags)); err != nil {
			return s, err
		}
		s.compat = flags
	}

	if csumChoice != "" {
		xfer, file, chosen, err := checksum.ParseChoice(proto, csumChoice)
		if err != nil {
			return s, chooseError("checksum", csumChoice)
		}
		if chosen {
			s.checksum, s.fileChecksum = xfer, file
		} else {
			csumChoice = ""
		}
	}
	// Both sides send their lists before either reads.
	sendCsum := negotiated && csumChoice == ""
	sendComp := negotiated && compress && compressChoice == ""
	if sendCsum {
		if err := writeVString(w, strings.Join(checksum.Names(), " ")); err != nil {
			return s, err
		}
	}
	if sendComp {
		if err := writeVString(w, strings.Join(compressNames, " ")); err != nil {
			return s, err
		}
	}
	if err := w.Flush(); err != nil {
		return s, err
	}

	switch {
	case sendCsum:
		list, err := r.ReadVString(maxNstr - 1)
		if err != nil {
			return s, err
		}
		if s.checksum, err = checksum.Choose(proto, nil, strings.Fields(list), true); err != nil {
			return s, negotiateError("checksum", list, checksum.Names())
		}
		s.fileChecksum = s.checksum
	case csumChoice == "":
		s.checksum = checksum.Default(proto)
		s.fileChecksum = s.checksum
	}
	switch {
	case !compress:
		s.compression = token.None
	case sendComp:
		list, err := r.ReadVString(maxNstr - 1)
		if err != nil {
			return s, err
		}
		if s.compression, err = pickCodec(list); err != nil {
			return s, err
		}
	case compressChoice != "":
		c, err := token.ParseCodec(compressChoice)
		if err != nil {
			return s, chooseError("compress", compressChoice)
		}
		s.compression = c
	default:
		s.compression = token.Zlib
	}
	// Clients before 3.1.2 lack the seed fix and put the md5 seed last.
	s.legacySeedOrder = proto >= 30 && s.compat&cfChksumSeedFix == 0

	s.seed = seed
	if s.seed == 0 {
		s.seed = int32(time.Now().Unix()) ^ int32(os.Getpid()<<6)
	}
	if err := w.WriteInt32(s.seed); err != nil {
		return s, err
	}
	return s, w.Flush()
}

// pickCodec chooses the client's most preferred compression that this
// daemon offers: the choice the client makes for itself (see checksum.Choose
// for why not the server's preference).
func pickCodec(peer string) (token.Codec, error) {
	for _, name := range strings.Fields(peer) {
		for _, ours := range compressNames {
			if strings.EqualFold(name, ours) {
				return token.ParseCodec(ours)
			}
		}
	}
	return token.None, negotiateError("compress", peer, compressNames)
}

func negotiateError(what, peer string, ours []string) error {
	return rerr.New(rerr.Unsupported, "Failed to negotiate a %s choice.\nClient %s list: %s\nServer %s list: %s",
		what, what, peer, what, strings.Join(ours, " "))
}

func chooseError(what, choice string) error {
	return rerr.New(rerr.Unsupported, "Your --%s-choice value (%s) was refused by the server.", what, choice)
}

// compressNames is the compression list this daemon offers, strongest
// first, as stock rsync 3.5.0 sends it.
var compressNames = []string{"zstd", "lz4", "zlibx", "zlib", "none"}

// maxNstr is rsync's MAX_NSTR_STRLEN, the bound of a negotiation string.
const maxNstr = 256

func writeVString(w *wire.Writer, s string) error {
	b, err := wire.AppendVString(nil, s)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// tellError sends a fatal error to the client the way rsync's exit_cleanup
// does: the text as MSG_ERROR, then MSG_ERROR_EXIT for protocol 31+. role
// names this side in the closing line, as rsync's who_am_i does.
func tellError(w *wire.Writer, proto int, role string, err error) {
	code := rerr.Code(err)
	if code == rerr.SocketIO || code == rerr.Timeout {
		return
	}
	var msg string
	var re *rerr.Error
	if errors.As(err, &re) && re.Msg != "" {
		msg = re.Msg
	} else {
		msg = err.Error()
	}
	if code != rerr.StreamIO {
		for _, line := range strings.Split(msg, "\n") {
			_ = w.WriteMsg(wire.MsgError, []byte(line+"\n"))
		}
		_ = w.WriteMsg(wire.MsgError, []byte(fmt.Sprintf("rsync error: %s (code %d) at rsyncd-go [%s]\n", rerr.Describe(code), code, role)))
		if proto >= 31 {
			_ = w.WriteMsgInt32(wire.MsgErrorExit, int32(code))
		}
	}
	_ = w.Flush()
}
