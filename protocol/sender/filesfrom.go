package sender

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"

	"github.com/rsyncd-go/rsyncd-go/protocol/filter"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// FilesFrom reads the names of a --files-from list (io.c read_line as
// send_file_list calls it). A list from the connection has NUL-terminated
// names and ends at an empty name; a list read from a file in the module
// ends at end of file, has names ended by a newline or carriage return (NUL
// with --from0), and skips blank lines and lines starting with '#' or ';'.
// A name longer than rsync's MAXPATHLEN-1 is cut there, as rsync cuts it.
type FilesFrom struct {
	r        io.ByteReader
	eolNulls bool
	file     bool
	done     bool
	buf      []byte
}

// NewFilesFrom reads names from r: fromFile selects a daemon-side file's
// rules (see FilesFrom), eolNulls is --from0 for such a file; names from
// the connection always end with NUL.
func NewFilesFrom(r io.ByteReader, eolNulls, fromFile bool) *FilesFrom {
	return &FilesFrom{r: r, eolNulls: eolNulls || !fromFile, file: fromFile}
}

// Next returns the next name; ok is false at the end of the list. A
// connection that ends before the list does is an error.
func (f *FilesFrom) Next() (name string, ok bool, err error) {
	for !f.done {
		line, end, err := f.line()
		if err != nil {
			return "", false, err
		}
		if end {
			f.done = true
		}
		if !f.file {
			if len(line) == 0 {
				f.done = true
				return "", false, nil
			}
			return string(line), true, nil
		}
		if len(line) == 0 || line[0] == '#' || line[0] == ';' {
			continue
		}
		return string(line), true, nil
	}
	return "", false, nil
}

// line reads up to the next terminator; end reports a file's end.
func (f *FilesFrom) line() (line []byte, end bool, err error) {
	f.buf = f.buf[:0]
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			if f.file && errors.Is(err, io.EOF) {
				return f.buf, true, nil
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, fmt.Errorf("reading the files-from list: %w", err)
		}
		if f.eolNulls && c == 0 || !f.eolNulls && (c == '\n' || c == '\r') {
			return f.buf, false, nil
		}
		if len(f.buf) < flist.MaxPathLen-1 {
			f.buf = append(f.buf, c)
		}
	}
}

// NameSwitch reads a multiplexed client stream that, before protocol 31,
// carries the --files-from names raw in the middle of it (the client ends
// its multiplexing for them; flist.c send_file_list does the same on the
// reading side). It demultiplexes frames like wire.Reader does, but after
// RawNames it passes raw bytes through until the list's end marker (an
// empty name) and then reads frames again. Reader is the data stream to
// use: its OnMessage receives the out-of-band frames.
type NameSwitch struct {
	Reader *wire.Reader

	src   *wire.Reader // the connection, read raw
	avail int          // data bytes left in the current frame
	raw   bool         // passing the names through
	prev  byte         // the last raw byte (0 at the start of the list)
	msg   []byte
}

// NewNameSwitch wraps src, which must not be multiplexed; from then on
// only the returned switch's Reader reads the connection.
func NewNameSwitch(src *wire.Reader) *NameSwitch {
	s := &NameSwitch{src: src}
	s.Reader = wire.NewReader(s)
	return s
}

// RawNames passes the next bytes through raw until the names' end marker.
// The frame before it must have been read to its end, as the client ends
// it before sending the names.
func (s *NameSwitch) RawNames() error {
	if s.avail != 0 {
		return fmt.Errorf("files-from names start inside a data frame (%d bytes left)", s.avail)
	}
	s.raw, s.prev = true, 0
	return nil
}

// Read implements io.Reader for Reader: frame payloads, or the raw names.
func (s *NameSwitch) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if s.raw {
		n := 0
		for n < len(p) {
			c, err := s.src.ReadByte()
			if err != nil {
				if n > 0 {
					return n, nil
				}
				return 0, err
			}
			p[n] = c
			n++
			end := c == 0 && s.prev == 0 // an empty name ends the list
			s.prev = c
			if end {
				s.raw = false
			}
			if c == 0 {
				break // a whole name: hand it on without waiting for more
			}
		}
		return n, nil
	}
	for s.avail == 0 {
		if err := s.frame(); err != nil {
			return 0, err
		}
	}
	if len(p) > s.avail {
		p = p[:s.avail]
	}
	n, err := s.src.Read(p)
	s.avail -= n
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// frame reads one frame header and, for a message, its payload.
func (s *NameSwitch) frame() error {
	var h [4]byte
	if err := s.src.ReadFull(h[:]); err != nil {
		return err
	}
	v := binary.LittleEndian.Uint32(h[:])
	n := int(v & 0xFFFFFF)
	code := int(v>>24) - 7 // rsync.h MPLEX_BASE
	if code < 0 {
		return fmt.Errorf("invalid multiplex header %#08x", v)
	}
	tag := wire.MsgTag(code)
	if tag == wire.MsgData {
		s.avail = n
		return nil
	}
	if n > wire.MaxMsgLen {
		return fmt.Errorf("message %d of %d bytes exceeds %d", tag, n, wire.MaxMsgLen)
	}
	if cap(s.msg) < n {
		s.msg = make([]byte, n)
	}
	p := s.msg[:n]
	if err := s.src.ReadFull(p); err != nil {
		return err
	}
	if s.Reader.OnMessage == nil {
		return fmt.Errorf("unexpected message %d (%d bytes)", tag, n)
	}
	return s.Reader.OnMessage(tag, p)
}

// addFilesFrom is send_file_list reading --files-from: every name is taken
// relative to the first argument (the pull's source directory), confined
// to the module as rsync's sanitize_path confines it.
func (b *builder) addFilesFrom(ctx context.Context, args []string) error {
	base := "."
	if len(args) > 0 {
		base = sanitize(args[0])
	}
	base = path.Clean("/" + base)[1:]
	if base == "" {
		base = "."
	}
	st, err := b.cfg.Root.Stat(base)
	if err == nil && !st.IsDir() {
		err = syscall.ENOTDIR
	}
	if err == nil && base != "." && b.cfg.DaemonFilter != nil && b.cfg.DaemonFilter.ExcludedPath(base, true, filter.Sender) {
		err = syscall.ENOENT
	}
	if err != nil {
		e := errnoOf(err)
		b.say(wire.MsgErrorXfer, "rsync: [sender] change_dir %q (in %s) failed: %s (%d)\n", args[0], b.cfg.Module, errnoText(e), int(e))
		return rerr.New(rerr.FileSelect, "change_dir %s failed", base)
	}
	b.base = base
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return rerr.Wrap(rerr.SocketIO, err)
			}
		}
		name, ok, err := b.cfg.FilesFrom.Next()
		if err != nil {
			var re *rerr.Error
			if errors.As(err, &re) {
				return err
			}
			return rerr.Wrap(rerr.StreamIO, err)
		}
		if !ok {
			return nil
		}
		if err := b.addArg(name); err != nil {
			return err
		}
	}
}

// ErrListRejected is the refusal of a daemon-side --files-from list that
// the module's rules exclude; rsyncd answers it with "Your options have
// been rejected by the server."
var ErrListRejected = errors.New("files-from list excluded by the module's rules")

// OpenList opens a daemon-side --files-from list through the module root:
// the client's path is confined to the module (a leading slash is the
// module's top, ".." cannot climb out) and the module's rules apply to it
// as to any file. It returns the confined name for messages; the error
// reads as rsync's "failed to open files-from file" text.
func OpenList(root *os.Root, name string, daemon *filter.List) (*os.File, string, error) {
	clean := path.Clean("/" + name)[1:]
	if clean == "" {
		clean = "."
	}
	if daemon != nil && daemon.ExcludedPath(clean, false, filter.Sender) {
		return nil, clean, ErrListRejected
	}
	f, err := root.Open(clean)
	if err == nil {
		var st fs.FileInfo
		if st, err = f.Stat(); err == nil && st.IsDir() {
			err = syscall.EISDIR
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		e := errnoOf(err)
		return nil, clean, fmt.Errorf("failed to open files-from file %s: %s", clean, errnoText(e))
	}
	return f, clean, nil
}
