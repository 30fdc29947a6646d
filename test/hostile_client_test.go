package test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rsyncd-go/rsyncd-go/auth"
	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/token"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// The crafted pushing client of the hostile tests: the daemon handshake as a
// stock client does it, then rsync's sender side written by hand (protocol
// 31+ only), so that a test can send what no stock client sends.

// Wire bits the crafted client writes (rsync.h XMIT_*, ITEM_*).
const (
	hxTopDir   = 1 << 0
	hxLongName = 1 << 6

	hItemBasisFollows = 1 << 11
	hItemXname        = 1 << 12
	hItemTransfer     = 1 << 15

	hMtime = 1_700_000_000
)

// errCut is what a write returns once the test's cut point was reached.
var errCut = errors.New("connection cut by the test")

// cutConn cuts the client's side of a session after limit bytes: it closes
// the connection (stall false) or just stops writing and keeps it open.
type cutConn struct {
	net.Conn
	mu    sync.Mutex
	armed bool  // counting starts after the daemon handshake
	limit int64 // < 0: never cut
	stall bool
	wrote int64
	cut   bool
}

func (c *cutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return 0, errCut
	}
	if !c.armed || c.limit < 0 || c.wrote+int64(len(p)) <= c.limit {
		n, err := c.Conn.Write(p)
		if c.armed {
			c.wrote += int64(n)
		}
		return n, err
	}
	n, _ := c.Conn.Write(p[:c.limit-c.wrote])
	c.wrote += int64(n)
	c.cut = true
	if !c.stall {
		c.Conn.Close()
	}
	return n, errCut
}

// hEntry is one file-list entry as the crafted client sends it: the name
// and lengths as given, not cleaned or checked.
type hEntry struct {
	name    string
	mode    uint32 // type and permission bits as sent
	size    int64  // announced length; -1 for len(data), other negatives as they are
	data    string // what an honest reply sends for a regular file
	target  string // symlink target
	nameLen int32  // > 0: announce this name length, send no name bytes
	linkLen int32  // > 0: announce this target length, send no target bytes
}

func hFile(name, data string) hEntry { return hEntry{name: name, mode: 0o100644, size: -1, data: data} }
func hDir(name string) hEntry        { return hEntry{name: name, mode: 0o040755} }
func hLink(name, target string) hEntry {
	return hEntry{name: name, mode: 0o120777, target: target}
}

// hReq is one transfer request of the daemon's generator.
type hReq struct {
	ndx      int32
	iflags   int
	basis    byte
	hasBasis bool
	head     [4]int32 // count, blength, s2length, remainder
}

// hclient is one crafted push session.
type hclient struct {
	conn    *cutConn
	r       *wire.Reader
	w       *wire.Writer
	proto   int
	csum    checksum.Kind
	codec   token.Codec
	seed    int32
	in, out wire.NdxCodec
	enc     *token.Encoder
	entries []hEntry
	files   []flist.File // the list as the daemon sorts it
	data    map[string]string
	msgMu   sync.Mutex
	msgs    strings.Builder // what the daemon told the client
}

// dialHostile connects to d, authenticates as the test user, sends args
// (rsync's server arguments, "--server" first) and settles the protocol
// setup with compress as the compression ("" for none). From then on
// only cut bytes go out (limit < 0: no cut).
func dialHostile(d *daemon, args []string, compress string, limit int64, stall bool) (*hclient, error) {
	nc, err := net.DialTimeout("tcp", d.Addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
	cc := &cutConn{Conn: nc, limit: limit, stall: stall}
	h := &hclient{conn: cc, r: wire.NewReader(cc), w: wire.NewWriter(cc)}
	fail := func(format string, a ...any) (*hclient, error) {
		nc.Close()
		return nil, fmt.Errorf(format, a...)
	}
	if err := h.login(); err != nil {
		return fail("%w", err)
	}
	for _, a := range args {
		_ = h.w.WriteString(a + "\x00")
	}
	_ = h.w.WriteString("\x00")
	if err := h.w.Flush(); err != nil {
		return fail("sending args: %w", err)
	}
	cc.mu.Lock()
	cc.armed = true
	cc.mu.Unlock()

	// setup_protocol, the client's side.
	compat, err := h.r.ReadVarint()
	if err != nil {
		return h, fmt.Errorf("compat flags: %w", err)
	}
	if compat&1 != 0 {
		return h, errors.New("the daemon chose incremental recursion, which this client did not offer")
	}
	if compat&(1<<7) == 0 {
		return h, fmt.Errorf("compat flags %#x lack varint flist flags", compat)
	}
	list, _ := wire.AppendVString(nil, "md5")
	if compress != "" {
		list, _ = wire.AppendVString(list, compress)
	}
	if _, err := h.w.Write(list); err != nil {
		return h, err
	}
	if err := h.w.Flush(); err != nil {
		return h, err
	}
	if _, err := h.r.ReadVString(255); err != nil {
		return h, fmt.Errorf("checksum list: %w", err)
	}
	h.csum, _ = checksum.ParseKind("md5")
	if compress != "" {
		if _, err := h.r.ReadVString(255); err != nil {
			return h, fmt.Errorf("compress list: %w", err)
		}
		if h.codec, err = token.ParseCodec(compress); err != nil {
			return h, err
		}
	}
	if h.seed, err = h.r.ReadInt32(); err != nil {
		return h, fmt.Errorf("seed: %w", err)
	}
	h.in.Protocol, h.out.Protocol = h.proto, h.proto
	h.r.StartMultiplex()
	h.r.OnMessage = func(tag wire.MsgTag, p []byte) error {
		h.msgMu.Lock()
		fmt.Fprintf(&h.msgs, "[%d] %s", tag, p)
		h.msgMu.Unlock()
		return nil
	}
	if err := h.w.StartMultiplex(); err != nil {
		return h, err
	}
	h.enc = token.NewEncoder(h.w, h.codec, token.LevelNotSpecified, h.proto)
	if h.codec != token.None {
		_, lvl := token.ResolveLevel(h.codec, token.LevelNotSpecified)
		h.enc = token.NewEncoder(h.w, h.codec, lvl, h.proto)
	}
	return h, nil
}

// login runs the daemon handshake up to "@RSYNCD: OK": greeting, module,
// the challenge answered with the test user's password.
func (h *hclient) login() error {
	line, err := h.r.ReadLine(4096)
	if err != nil || !strings.HasPrefix(line, "@RSYNCD: ") {
		return fmt.Errorf("greeting %q: %v", line, err)
	}
	digest, _ := auth.ParseDigest("md5")
	if err := h.w.WriteString("@RSYNCD: 32.0 md5\nbackup\n"); err != nil {
		return fmt.Errorf("sending greeting: %w", err)
	}
	if err := h.w.Flush(); err != nil {
		return fmt.Errorf("sending greeting: %w", err)
	}
	h.proto = 32
	line, err = h.r.ReadLine(4096)
	challenge, ok := strings.CutPrefix(line, "@RSYNCD: AUTHREQD ")
	if err != nil || !ok {
		return fmt.Errorf("auth request %q: %v", line, err)
	}
	resp, err := auth.Response(digest, testPassword, challenge)
	if err != nil {
		return fmt.Errorf("auth response: %w", err)
	}
	_ = h.w.WriteString(testUser + " " + resp + "\n")
	if err := h.w.Flush(); err != nil {
		return fmt.Errorf("sending auth: %w", err)
	}
	if line, err = h.r.ReadLine(4096); err != nil || line != "@RSYNCD: OK" {
		return fmt.Errorf("auth reply %q: %v", line, err)
	}
	return nil
}

// Messages returns what the daemon sent as out-of-band messages.
func (h *hclient) Messages() string {
	h.msgMu.Lock()
	defer h.msgMu.Unlock()
	return h.msgs.String()
}

func (h *hclient) close() { h.conn.Conn.Close() }

// appendEntry encodes e as a full entry (no field shared with the one
// before), for -logDtpr with varint flags.
func appendEntry(b []byte, e hEntry) []byte {
	xflags := int32(hxLongName)
	if e.name == "." {
		xflags |= hxTopDir
	}
	b = wire.AppendVarint(b, xflags)
	if e.nameLen > 0 {
		b = wire.AppendVarint(b, e.nameLen)
	} else {
		b = wire.AppendVarint(b, int32(len(e.name)))
		b = append(b, e.name...)
	}
	size := e.size
	if size == -1 {
		size = int64(len(e.data))
	}
	if e.mode&flist.ModeTypeMask == flist.ModeDir || e.mode&flist.ModeTypeMask == flist.ModeSymlink {
		size = max(size, 0)
	}
	b = wire.AppendVarlong(b, size, 3)
	b = wire.AppendVarlong(b, hMtime, 4)
	b = binary.LittleEndian.AppendUint32(b, e.mode)
	b = wire.AppendVarint(b, 0) // uid
	b = wire.AppendVarint(b, 0) // gid
	if e.mode&flist.ModeTypeMask == flist.ModeSymlink {
		if e.linkLen > 0 {
			b = wire.AppendVarint(b, e.linkLen)
		} else {
			b = wire.AppendVarint(b, int32(len(e.target)))
			b = append(b, e.target...)
		}
	}
	return b
}

// sendList sends entries, the end of the list and trailer (nil: empty id
// lists).
// The entries are also what honest replies send data for.
func (h *hclient) sendList(entries []hEntry, trailer []byte) error {
	h.entries = entries
	var b []byte
	for _, e := range entries {
		b = appendEntry(b, e)
		if len(b) > 64<<10 {
			if _, err := h.w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, 0, 0) // end of list (varint 0), io_error 0
	if trailer == nil {
		trailer = []byte{0, 0} // empty uid and gid lists
	}
	b = append(b, trailer...)
	if _, err := h.w.Write(b); err != nil {
		return err
	}
	return h.w.Flush()
}

// sortedList is the list as the daemon indexes it: sorted and cleaned.
func (h *hclient) sortedList() []flist.File {
	if h.files == nil {
		h.data = map[string]string{}
		for _, e := range h.entries {
			h.files = append(h.files, flist.File{Name: e.name, Mode: e.mode, HLinkGroup: -1})
		}
		flist.SortAndClean(h.files, h.proto, false)
		for i := len(h.entries) - 1; i >= 0; i-- { // the first of duplicates wins
			h.data[h.entries[i].name] = h.entries[i].data
		}
	}
	return h.files
}

// replyFunc answers one transfer request; nil means honestly.
type replyFunc func(h *hclient, q hReq) error

// serve answers the generator until the final goodbye, as send_files and
// read_final_goodbye do. Requests whose transfer flag is set go to reply.
func (h *hclient) serve(reply replyFunc) error {
	if reply == nil {
		reply = (*hclient).honest
	}
	dones := 0
	for {
		ndx, err := h.r.ReadNdx(&h.in)
		if err != nil {
			return err
		}
		switch {
		case ndx == wire.NdxDone:
			dones++
			if dones == 5 { // three phases, the delete phase, the goodbye
				return nil
			}
			if err := h.w.WriteNdx(&h.out, wire.NdxDone); err != nil {
				return err
			}
			if err := h.w.Flush(); err != nil {
				return err
			}
			continue
		case ndx == -3: // NDX_DEL_STATS
			for range 5 {
				if _, err := h.r.ReadVarint(); err != nil {
					return err
				}
			}
			continue
		case ndx < 0:
			return fmt.Errorf("unexpected index %d from the generator", ndx)
		}
		v, err := h.r.ReadUint16()
		if err != nil {
			return err
		}
		q := hReq{ndx: ndx, iflags: int(v)}
		if q.iflags&hItemBasisFollows != 0 {
			if q.basis, err = h.r.ReadByte(); err != nil {
				return err
			}
			q.hasBasis = true
		}
		if q.iflags&hItemXname != 0 {
			if _, err := h.r.ReadVString(4096); err != nil {
				return err
			}
		}
		if q.iflags&hItemTransfer == 0 {
			continue // itemized only; the sender's echo is optional
		}
		for i := range q.head {
			if q.head[i], err = h.r.ReadInt32(); err != nil {
				return err
			}
		}
		if q.head[0] < 0 || q.head[0] > 1<<20 || q.head[2] < 0 || q.head[2] > 64 {
			return fmt.Errorf("generator sent sum head %v", q.head)
		}
		if err := h.r.Discard(int64(q.head[0]) * int64(4+q.head[2])); err != nil {
			return err
		}
		if err := reply(h, q); err != nil {
			return err
		}
		if err := h.w.Flush(); err != nil {
			return err
		}
	}
}

// echo writes the index, item flags and sum head of a reply.
func (h *hclient) echo(ndx int32, q hReq, head [4]int32) error {
	if err := h.w.WriteNdx(&h.out, ndx); err != nil {
		return err
	}
	if err := h.w.WriteUint16(uint16(q.iflags)); err != nil {
		return err
	}
	if q.hasBasis {
		if err := h.w.WriteByte(q.basis); err != nil {
			return err
		}
	}
	for _, v := range head {
		if err := h.w.WriteInt32(v); err != nil {
			return err
		}
	}
	return nil
}

// fileSum is the whole-file checksum of data for this session.
func (h *hclient) fileSum(data []byte) []byte {
	s := checksum.NewFile(h.csum, h.proto, h.seed)
	s.Write(data)
	return s.Sum(nil)
}

// sendLiteral sends data as the whole file: literal tokens, the end, the sum.
func (h *hclient) sendLiteral(data []byte) error {
	for len(data) > 0 {
		n := min(len(data), token.ChunkSize)
		if err := h.enc.Literal(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return h.enc.End()
}

// honest sends the file the request names as literal data, as a stock
// sender does for a file without a basis.
func (h *hclient) honest(q hReq) error {
	files := h.sortedList()
	if int(q.ndx) >= len(files) {
		return fmt.Errorf("request for index %d of %d", q.ndx, len(files))
	}
	data := []byte(h.data[files[q.ndx].Name])
	if err := h.echo(q.ndx, q, q.head); err != nil {
		return err
	}
	if err := h.sendLiteral(data); err != nil {
		return err
	}
	_, err := h.w.Write(h.fileSum(data))
	return err
}

// rawFrame writes one multiplexed frame header and payload as given,
// after what is buffered.
func (h *hclient) rawFrame(tag int, length int, payload []byte) error {
	if err := h.w.Flush(); err != nil {
		return err
	}
	hdr := binary.LittleEndian.AppendUint32(nil, uint32(tag+7)<<24|uint32(length)&0xFFFFFF)
	_, err := h.conn.Write(append(hdr, payload...))
	return err
}

// drain reads what the daemon still sends until it closes the connection.
func (h *hclient) drain() {
	_ = h.conn.Conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, err := h.r.ReadByte(); err != nil {
			return
		}
	}
}
