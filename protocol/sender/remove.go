package sender

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"syscall"

	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// watchSuccess makes the session act on the client's MSG_SUCCESS
// messages (--remove-source-files): they arrive among the requests, so the
// reader's message hook handles them and passes on every other message.
func (s *session) watchSuccess() {
	prev := s.r.OnMessage
	s.r.OnMessage = func(tag wire.MsgTag, p []byte) error {
		if tag == wire.MsgSuccess {
			return s.successfulSend(p)
		}
		if prev == nil {
			return rerr.New(rerr.StreamIO, "unexpected message %d from the client", tag)
		}
		return prev(tag, p)
	}
}

// successfulSend removes a file the client has stored whole (sender.c
// successful_send): only a non-directory still of the size and mtime that
// the file list gave it, and only through the module root.
func (s *session) successfulSend(p []byte) error {
	if len(p) != 4 {
		return rerr.New(rerr.StreamIO, "invalid multi-message %d:%d [sender]", wire.MsgSuccess, len(p))
	}
	ndx := int32(binary.LittleEndian.Uint32(p))
	f, disk := s.entry(ndx)
	if f == nil {
		if s.inc != nil {
			first, last := s.inc.indexRange()
			return rerr.New(rerr.Protocol, "File-list index %d not in %d - %d (successful_send) [sender]", ndx, first, last)
		}
		return rerr.New(rerr.Protocol, "Invalid file index: %d (%d - %d) [sender]", ndx, ndxDone, len(s.list.Files)-1)
	}
	var st fs.FileInfo
	var err error
	if s.cfg.CopyLinks {
		st, err = s.cfg.Root.Stat(disk)
	} else {
		st, err = s.cfg.Root.Lstat(disk)
	}
	op := "re-lstat"
	if err == nil {
		sys, _ := st.Sys().(*syscall.Stat_t)
		changed := sys == nil || sys.Size != f.Size || sys.Mtim.Sec != f.ModTime ||
			(s.cfg.Protocol >= 31 && f.ModNsec != 0 && int32(sys.Mtim.Nsec) != f.ModNsec)
		if changed {
			s.xferErr = true
			s.say(wire.MsgErrorXfer, "ERROR: Skipping sender remove for changed file: %s\n", f.Name)
			return nil
		}
		op = "remove"
		if st.IsDir() {
			err = syscall.EISDIR
		} else {
			err = s.cfg.Root.Remove(disk)
		}
	}
	switch {
	case err == nil:
		s.cfg.Log.Debug("sender removed", "file", disk)
	case errors.Is(err, fs.ErrNotExist):
		s.say(wire.MsgInfo, "sender file already removed: %s\n", f.Name)
	default:
		e := errnoOf(err)
		s.xferErr = true
		s.say(wire.MsgErrorXfer, "rsync: [sender] sender failed to %s %s: %s (%d)\n", op, f.Name, errnoText(e), int(e))
	}
	return nil
}
