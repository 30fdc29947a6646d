package test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/receiver"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// maxDaemonHWM bounds the daemon's peak resident memory (VmHWM) over all
// hostile sessions. One session's largest legitimate buffers are a zstd
// window (128 MiB, libzstd's default limit, which stock accepts too) and a
// few MiB of I/O buffers; everything a case sends beyond that (a 32 MiB
// decompression bomb, a 16 MiB frame announcement, 100,000 list entries)
// must stream or be refused, so the daemon stays far below this.
const maxDaemonHWM = 256 << 20

// hostileCase is one row: what the crafted client sends and what the
// module may look like afterwards.
type hostileCase struct {
	name     string
	flags    string   // extra short options after -logDtpr
	args     []string // extra long options
	compress string   // "" or a codec name
	entries  []hEntry
	trailer  []byte               // after the end of the list; nil: empty id lists
	reply    replyFunc            // nil: honest
	script   func(*hclient) error // replaces sendList+serve when set
	replaced []string             // seeded module paths a valid transfer may replace
	wantLog  string               // regexp the daemon's log of the uncut run must match
	want     map[string]string    // module files the uncut run must leave, with their contents
}

// hostileEnv is the daemon, the module's seed and the sibling directory
// that hostile names aim at.
type hostileEnv struct {
	d       *daemon
	dir     string // parent of the module and of outside
	outside string
	honest  string // source tree of the stock client's push after each case
}

func newHostileEnv(t *testing.T) *hostileEnv {
	d := startDaemon(t, "", "")
	e := &hostileEnv{d: d, dir: filepath.Dir(d.Data)}
	e.outside = filepath.Join(e.dir, "outside")
	must(t, os.MkdirAll(filepath.Join(e.outside, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(e.outside, "secret.txt"), []byte("secret\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(e.outside, "sub", "deep.txt"), []byte("deep\n"), 0o644))
	e.honest = filepath.Join(t.TempDir(), "honest")
	must(t, os.MkdirAll(filepath.Join(e.honest, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(e.honest, "a.txt"), []byte("honest a\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(e.honest, "d", "b.bin"), patterned(100_000, func(i int) byte { return byte(i * 7) }), 0o640))
	must(t, os.Symlink("a.txt", filepath.Join(e.honest, "l")))
	return e
}

// seed empties the module and fills it with the known tree: files, a
// directory, a basis file, and symlinks that lead out of the module.
func (e *hostileEnv) seed(t *testing.T) {
	entries, err := os.ReadDir(e.d.Data)
	must(t, err)
	for _, de := range entries {
		must(t, os.RemoveAll(filepath.Join(e.d.Data, de.Name())))
	}
	m := func(p string) string { return filepath.Join(e.d.Data, p) }
	must(t, os.WriteFile(m("keep.txt"), []byte("keep me\n"), 0o644))
	must(t, os.MkdirAll(m("dir"), 0o755))
	must(t, os.WriteFile(m("dir/inner.txt"), []byte("inner\n"), 0o644))
	must(t, os.WriteFile(m("big.bin"), patterned(64<<10, func(i int) byte { return byte(i*13 + i>>9) }), 0o644))
	must(t, os.Symlink("../outside", m("escape")))
	must(t, os.Symlink(e.outside, m("escape-abs")))
	must(t, os.Symlink("../outside/secret.txt", m("escape-file")))
	old := time.Unix(1_600_000_000, 0)
	for _, p := range []string{"keep.txt", "dir/inner.txt", "big.bin"} {
		must(t, os.Chtimes(m(p), old, old))
	}
}

// hostileCases are the rows of TestHostileClient.
func hostileCases(e *hostileEnv) []hostileCase {
	abs := e.outside + "/pwned"
	root := hDir(".")
	return []hostileCase{
		// An absolute name is refused with the list: it never names a path outside.
		{name: "absolute name", entries: []hEntry{root, hFile(abs, "x")}, wantLog: `absolute file name`},
		// With --relative an absolute name is allowed, but lands inside the module.
		{name: "absolute name relative", flags: "R", entries: append(impliedDirs(abs), hFile(abs, "inside")), want: map[string]string{abs[1:]: "inside"}},
		// A leading ".." component is refused.
		{name: "dotdot leading", entries: []hEntry{root, hFile("../outside/pwned", "x")}, wantLog: `\\"\.\.\\" component`},
		// A ".." deeper in the path is refused too.
		{name: "dotdot inner", entries: []hEntry{root, hDir("dir"), hFile("dir/../../outside/pwned", "x")}, wantLog: `\\"\.\.\\" component`},
		// A symlink in the list pointing out, then a file beneath it: the
		// link is made, the file is not written through it.
		{name: "symlink then file beneath", entries: []hEntry{root, hLink("lnk", "../outside"), hFile("lnk/pwned", "x")}},
		// The same with an absolute target.
		{name: "abs symlink then file beneath", entries: []hEntry{root, hLink("lnk", e.outside), hFile("lnk/pwned", "x")}},
		// A symlink, then a directory and a file beneath it.
		{name: "symlink then dir beneath", entries: []hEntry{root, hLink("lnk", "../outside"), hDir("lnk/sub"), hFile("lnk/sub/pwned", "x")}},
		// A file beneath symlinks the module already holds (relative and absolute) is not written through them.
		{name: "existing symlink as parent", entries: []hEntry{root, hFile("escape/pwned", "x"), hFile("escape-abs/pwned", "y"), hFile("escape/secret.txt", "z")}},
		// A file named like a symlink to an outside file replaces the link; the target is untouched.
		{name: "existing symlink replaced", entries: []hEntry{root, hFile("escape-file", "now a file\n")}, replaced: []string{"escape-file"}, want: map[string]string{"escape-file": "now a file\n"}},
		// The same with --inplace, which writes into the destination itself.
		{name: "existing symlink inplace", args: []string{"--inplace"}, entries: []hEntry{root, hFile("escape-file", "now a file\n")}, replaced: []string{"escape-file"}, want: map[string]string{"escape-file": "now a file\n"}},
		// A directory (with a file) named like a symlink that points out replaces the link or fails; never writes outside.
		{name: "existing symlink replaced by dir", entries: []hEntry{root, hDir("escape"), hFile("escape/pwned", "x")}, replaced: []string{"escape"}},
		// A symlink entry over an existing file is a valid replacement of that file only.
		{name: "symlink over file", entries: []hEntry{root, hLink("keep.txt", "../outside/secret.txt")}, replaced: []string{"keep.txt"}},
		// Duplicate names (file twice, a file and a directory of one name) keep the seeded tree.
		{name: "duplicate names", entries: []hEntry{root, hFile("dup.txt", "first"), hFile("dup.txt", "second"), hFile("dir", "not a dir"), hDir("dir"), hFile("dir/inner.txt", "replaced")}, replaced: []string{"dir/inner.txt"}, want: map[string]string{"dup.txt": "first", "dir/inner.txt": "replaced"}},
		// A transfer request for the dropped duplicate's index is refused.
		{name: "duplicate index", entries: []hEntry{root, hFile("dup.txt", "first"), hFile("dup.txt", "second")}, reply: replyRemovedIndex, wantLog: `cleared file index`},
		// An empty name is refused.
		{name: "empty name", entries: []hEntry{root, hFile("", "x")}, wantLog: `empty file name`},
		// A name of slashes only is refused.
		{name: "slash name", entries: []hEntry{root, hFile("//", "x")}, wantLog: `absolute file name`},
		// A name length beyond MAXPATHLEN is refused before anything is read or allocated.
		{name: "over-long name length", entries: []hEntry{root, {name: "x", mode: 0o100644, nameLen: 1 << 30}}, wantLog: `out of range`},
		// A path of 4095 bytes passes the list but not the file system: a per-file error, nothing else.
		{name: "over-long path", entries: []hEntry{root, hFile(longPath(4095), "x")}},
		// A component longer than NAME_MAX fails on the file system only.
		{name: "over-long component", entries: []hEntry{root, hFile(strings.Repeat("n", 300), "x")}},
		// A symlink target length beyond MAXPATHLEN is refused.
		{name: "over-long link target", entries: []hEntry{root, {name: "l", mode: 0o120777, linkLen: 1 << 30}}, wantLog: `symlink target length`},
		// A negative file length is refused.
		{name: "negative size", entries: []hEntry{root, {name: "f", mode: 0o100644, size: -5}}, wantLog: `negative size`},
		// A length of 2^62 announced for a short file creates no huge file.
		{name: "huge size", entries: []hEntry{root, {name: "f", mode: 0o100644, size: 1 << 62, data: "short"}}},
		// A mode with an invalid file type is refused.
		{name: "invalid mode", entries: []hEntry{root, {name: "f", mode: 0o170644, size: -1, data: "x"}}, wantLog: `invalid file mode`},
		// A uid list longer than the file list (a count out of range) is refused.
		{name: "id list count", entries: []hEntry{root, hFile("f", "x")}, trailer: longIDList(1000), wantLog: `uid list`},
		// 100,000 entries and then the connection stops: nothing is created.
		{name: "many entries then stop", script: manyEntries(100_000)},
		// A file index past the end of the list is refused.
		{name: "index past the end", entries: []hEntry{root, hFile("f", "x")}, reply: replyIndex(func(h *hclient) int32 { return int32(len(h.sortedList()) + 10) }), wantLog: `Invalid file index`},
		// A transfer of a directory's index is refused.
		{name: "index of a directory", entries: []hEntry{root, hFile("f", "x")}, reply: replyIndex(func(*hclient) int32 { return 0 }), wantLog: `non-regular file`},
		// A negative index other than the protocol's markers is refused.
		{name: "negative index", entries: []hEntry{root, hFile("f", "x")}, reply: replyIndex(func(*hclient) int32 { return -200 }), wantLog: `Invalid file index`},
		// An index the generator did not ask for (another file) is served or refused; seeds intact.
		{name: "unrequested index", entries: []hEntry{root, hFile("a", "a"), hFile("b", "b")}, reply: replyIndex(func(*hclient) int32 { return 1 })},
		// A block length beyond the protocol's maximum is refused.
		{name: "sum head block length", entries: []hEntry{root, hFile("f", "x")}, reply: replyHead([4]int32{1, 1 << 30, 16, 0}), wantLog: `invalid block length`},
		// A negative block count is refused.
		{name: "sum head count", entries: []hEntry{root, hFile("f", "x")}, reply: replyHead([4]int32{-1, 700, 16, 0}), wantLog: `invalid checksum count`},
		// A remainder longer than the block is refused.
		{name: "sum head remainder", entries: []hEntry{root, hFile("f", "x")}, reply: replyHead([4]int32{1, 700, 16, 800}), wantLog: `invalid remainder`},
		// A token naming a block past the sum head's count is refused; the basis stays.
		{name: "block past the count", entries: []hEntry{root, hFile("big.bin", "new contents")}, reply: replyBlocks([]int32{0, 1 << 20}, false), wantLog: `invalid block index`},
		// A sum head claiming 2^30 blocks of 128 KiB and blocks far past the basis: nothing is allocated for them, the wrong sum keeps the basis.
		{name: "blocks past the basis", entries: []hEntry{root, hFile("big.bin", "new contents")}, reply: replyBlocks([]int32{3, 1<<30 - 2}, true), wantLog: `failed verification`},
		// 32 MiB of zeros in a few KiB of deflate stream: streamed, not buffered.
		{name: "zlib bomb", compress: "zlib", entries: []hEntry{root, hFile("bomb", zeros32M)}, want: map[string]string{"bomb": zeros32M}},
		// The same with zstd.
		{name: "zstd bomb", compress: "zstd", entries: []hEntry{root, hFile("bomb", zeros32M)}, want: map[string]string{"bomb": zeros32M}},
		// Garbage in a DEFLATED_DATA chunk is a stream error; the basis stays.
		{name: "zlib garbage", compress: "zlib", entries: []hEntry{root, hFile("big.bin", "new")}, reply: replyRawTokens(append([]byte{0x40 | 0x3f, 0xff}, bytes.Repeat([]byte{0xA5, 0x17, 0x3C}, 5461)...)), wantLog: `inflate`},
		// A frame of an unknown message type is refused.
		{name: "frame unknown type", entries: []hEntry{root, hFile("f", "x")}, reply: replyFrame(99, 4, []byte("abcd"), false), wantLog: `unexpected message 99`},
		// A message frame longer than any message is refused before it is read.
		{name: "frame message too long", entries: []hEntry{root, hFile("f", "x")}, reply: replyFrame(int(wire.MsgInfo), wire.MaxFrame, []byte("abc"), false), wantLog: `exceeds`},
		// MSG_IO_ERROR with 3 bytes instead of 4 is refused.
		{name: "frame io error length", entries: []hEntry{root, hFile("f", "x")}, reply: replyFrame(int(wire.MsgIOError), 3, []byte("abc"), false), wantLog: `MSG_IO_ERROR of 3 bytes`},
		// A data frame announcing 16 MiB then stopping allocates nothing for it.
		{name: "frame data announced", entries: []hEntry{root, hFile("f", "x")}, reply: replyFrame(int(wire.MsgData), wire.MaxFrame, []byte("abc"), true)},
		// A header below MPLEX_BASE is refused.
		{name: "frame bad header", entries: []hEntry{root, hFile("f", "x")}, reply: replyFrame(-7, 0, nil, false), wantLog: `invalid multiplex header`},
		// The honest baseline: the crafted client's valid push is installed.
		{name: "honest push", entries: []hEntry{root, hDir("new"), hFile("new/f.txt", "hello\n"), hFile("keep.txt", "replaced\n")}, replaced: []string{"keep.txt"}, want: map[string]string{"new/f.txt": "hello\n", "keep.txt": "replaced\n"}},
	}
}

var zeros32M = strings.Repeat("\x00", 32<<20)

// impliedDirs are the directory entries --relative sends before an
// absolute name: "/." and each parent.
func impliedDirs(name string) []hEntry {
	dirs := []hEntry{hDir("/.")}
	for i := 1; i < len(name); i++ {
		if name[i] == '/' {
			dirs = append(dirs, hDir(name[:i]))
		}
	}
	return dirs
}

// longPath is a clean relative path of n bytes in 200-byte components.
func longPath(n int) string {
	comp := strings.Repeat("p", 200)
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(comp)
	}
	p := []byte(b.String()[:n])
	p[n-1] = 'q' // never a trailing slash
	return string(p)
}

// longIDList is a uid list of n named ids and an empty gid list.
func longIDList(n int) []byte {
	var b []byte
	for i := 1; i <= n; i++ {
		b = wire.AppendVarint(b, int32(i))
		name := fmt.Sprintf("user%d", i)
		b = append(b, byte(len(name)))
		b = append(b, name...)
	}
	return append(b, 0, 0)
}

// manyEntries sends n small entries and stops without ending the list.
func manyEntries(n int) func(*hclient) error {
	return func(h *hclient) error {
		b := appendEntry(nil, hDir("."))
		for i := range n {
			b = appendEntry(b, hFile(fmt.Sprintf("f%06d", i), ""))
			if len(b) > 32<<10 {
				if _, err := h.w.Write(b); err != nil {
					return err
				}
				b = b[:0]
			}
		}
		if _, err := h.w.Write(b); err != nil {
			return err
		}
		err := h.w.Flush()
		h.close()
		return err
	}
}

func replyRemovedIndex(h *hclient, q hReq) error {
	for i, f := range h.sortedList() {
		if f.Flags&flist.FlagRemoved != 0 {
			q.ndx = int32(i)
			return h.honestAs(q)
		}
	}
	return fmt.Errorf("no removed entry in the list")
}

// honestAs answers q (whose index may have been changed) with some data.
func (h *hclient) honestAs(q hReq) error {
	if err := h.echo(q.ndx, q, q.head); err != nil {
		return err
	}
	if err := h.sendLiteral([]byte("data")); err != nil {
		return err
	}
	_, err := h.w.Write(h.fileSum([]byte("data")))
	return err
}

func replyIndex(ndx func(*hclient) int32) replyFunc {
	return func(h *hclient, q hReq) error {
		q.ndx = ndx(h)
		return h.honestAs(q)
	}
}

func replyHead(head [4]int32) replyFunc {
	return func(h *hclient, q hReq) error {
		q.head = head
		return h.honestAs(q)
	}
}

// replyBlocks answers with literal data and references to blocks; with
// claim the sum head says 2^30 blocks of 128 KiB. The file sum is wrong.
func replyBlocks(blocks []int32, claim bool) replyFunc {
	return func(h *hclient, q hReq) error {
		head := q.head
		if claim {
			head = [4]int32{1 << 30, 1 << 17, 16, 0}
		}
		if err := h.echo(q.ndx, q, head); err != nil {
			return err
		}
		if err := h.enc.Literal([]byte("lit")); err != nil {
			return err
		}
		for _, b := range blocks {
			if err := h.enc.Block(b, nil); err != nil {
				return err
			}
		}
		if err := h.enc.End(); err != nil {
			return err
		}
		_, err := h.w.Write(make([]byte, 16))
		return err
	}
}

// replyRawTokens echoes the request and sends tok as its token stream.
func replyRawTokens(tok []byte) replyFunc {
	return func(h *hclient, q hReq) error {
		if err := h.echo(q.ndx, q, q.head); err != nil {
			return err
		}
		if _, err := h.w.Write(append(tok, 0)); err != nil {
			return err
		}
		_, err := h.w.Write(make([]byte, 16))
		return err
	}
}

// replyFrame sends one raw frame instead of the reply; with stop the
// connection is closed after it.
func replyFrame(tag, length int, payload []byte, stop bool) replyFunc {
	return func(h *hclient, q hReq) error {
		if err := h.rawFrame(tag, length, payload); err != nil {
			return err
		}
		if stop {
			h.close()
		}
		return errFrameSent
	}
}

var errFrameSent = fmt.Errorf("raw frame sent")

// TestHostileClient runs every case of hostileCases whole, then stalled
// half-way (the connection held open, silent, during the honest push).
// With RSYNCD_GO_LOAD=1 each case is also cut (closed) right after the
// handshake and at a third and two thirds of its bytes. After each run:
// nothing outside the module changed, the seeded module files are intact
// unless the case validly replaced them, no temp file is left, the
// daemon's memory peak is bounded, and a stock push succeeds.
func TestHostileClient(t *testing.T) {
	e := newHostileEnv(t)
	for _, c := range hostileCases(e) {
		t.Run(c.name, func(t *testing.T) {
			total := e.run(t, c, -1, false)
			type cut struct {
				at    int64
				stall bool
			}
			cuts := []cut{{total / 2, true}}
			if os.Getenv("RSYNCD_GO_LOAD") != "" {
				cuts = append(cuts, cut{1, false}, cut{total / 3, false}, cut{total * 2 / 3, false})
			}
			for _, k := range cuts {
				if k.at <= 0 || k.at >= total {
					continue
				}
				name := fmt.Sprintf("cut%d", k.at)
				if k.stall {
					name = fmt.Sprintf("stall%d", k.at)
				}
				t.Run(name, func(t *testing.T) { e.run(t, c, k.at, k.stall) })
			}
		})
	}
	t.Logf("daemon memory peak: %d MiB", daemonHWM(t, e.d)>>20)
}

// run plays one case (cut after limit bytes when limit >= 0) and checks
// its aftermath; it returns how many bytes the client sent after the
// handshake.
func (e *hostileEnv) run(t *testing.T, c hostileCase, limit int64, stall bool) int64 {
	t.Helper()
	d := e.d
	e.seed(t)
	outsideBefore := snapshot(t, e.outside)
	parentBefore := dirNames(t, e.dir)
	moduleBefore := snapshot(t, d.Data)
	logStart := len(d.Log())

	short := "-logDtpr" + c.flags
	if c.compress != "" {
		short += "z"
	}
	args := append([]string{"--server", short + "e.LsfxCIv"}, c.args...)
	args = append(args, ".", "backup/")
	h, err := dialHostile(d, args, c.compress, limit, stall)
	if h == nil {
		t.Fatalf("handshake: %v", err)
	}
	if err == nil {
		if c.script != nil {
			err = c.script(h)
		} else if err = h.sendList(c.entries, c.trailer); err == nil {
			err = h.serve(c.reply)
		}
	}
	if stall && err == errCut {
		// The stalled session holds its slot while an honest client is served.
		e.honestPush(t)
	}
	if err == nil || err == errFrameSent {
		h.drain()
	}
	h.close()
	e.waitIdle(t, logStart)
	wrote := h.conn.wrote
	if limit < 0 {
		t.Logf("client sent %d bytes: %v", wrote, err)
	}

	if diffs := diffSnapshots(outsideBefore, snapshot(t, e.outside)); len(diffs) > 0 {
		t.Errorf("outside the module changed:\n  %s", strings.Join(diffs, "\n  "))
	}
	if after := dirNames(t, e.dir); after != parentBefore {
		t.Errorf("the module's parent changed: %s, was %s", after, parentBefore)
	}
	moduleAfter := snapshot(t, d.Data)
	seeded := map[string]entry{}
	for p, en := range moduleBefore {
		if en.mode.IsDir() { // a valid entry may set a seeded directory's times
			if a, ok := moduleAfter[p]; ok && a.mode.IsDir() {
				continue
			}
		}
		seeded[p] = en
	}
	for _, p := range c.replaced {
		delete(seeded, p)
	}
	sub := map[string]entry{}
	for p := range seeded {
		if a, ok := moduleAfter[p]; ok {
			sub[p] = a
		}
	}
	if diffs := diffSnapshots(seeded, sub); len(diffs) > 0 {
		t.Errorf("module files were lost or changed:\n  %s", strings.Join(diffs, "\n  "))
	}
	for p := range moduleAfter {
		if receiver.IsTempName(filepath.Base(p)) {
			t.Errorf("temp file left: %s", p)
		}
	}
	if hwm := daemonHWM(t, d); hwm > maxDaemonHWM {
		t.Errorf("daemon memory peak %d MiB exceeds %d MiB", hwm>>20, maxDaemonHWM>>20)
	}
	if limit < 0 && c.wantLog != "" {
		// The session logs its error after the client has seen it.
		re := regexp.MustCompile(c.wantLog)
		for deadline := time.Now().Add(5 * time.Second); !re.MatchString(d.Log()[logStart:]) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if !re.MatchString(d.Log()[logStart:]) {
			t.Errorf("the daemon's log does not match %q (client: %v, daemon told the client: %q):\n%s", c.wantLog, err, h.Messages(), d.Log()[logStart:])
		}
	}
	if limit < 0 {
		for p, want := range c.want {
			got, err := os.ReadFile(filepath.Join(d.Data, p))
			if err != nil || string(got) != want {
				t.Errorf("module file %s: %d bytes (%v), want %d bytes", p, len(got), err, len(want))
			}
		}
	}
	if !(stall && err == errCut) {
		e.honestPush(t)
	}
	return wrote
}

// honestPush pushes the honest tree with the stock client and compares.
func (e *hostileEnv) honestPush(t *testing.T) {
	t.Helper()
	mustRsync(t, e.d, "-a", e.honest+"/", e.d.URL("backup/honest/"))
	compareTrees(t, e.honest, filepath.Join(e.d.Data, "honest"), true)
}

var (
	connectRE    = regexp.MustCompile(`msg=connect `)
	disconnectRE = regexp.MustCompile(`msg=disconnect `)
)

// waitIdle waits until every session the daemon started has ended.
func (e *hostileEnv) waitIdle(t *testing.T, logStart int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		log := e.d.Log()
		// The run's own connection is logged before the daemon greets, but
		// the log is read through a pipe: it must have arrived, and every
		// connection must have ended (temp files removed by then).
		own := connectRE.MatchString(log[logStart:])
		c, n := len(connectRE.FindAllStringIndex(log, -1)), len(disconnectRE.FindAllStringIndex(log, -1))
		if own && c == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not end the session (%d connections, %d ended)", c, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// daemonHWM is the daemon process's peak resident set (VmHWM).
func daemonHWM(t testing.TB, d *daemon) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	must(t, err)
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			must(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// dirNames lists a directory's entry names.
func dirNames(t testing.TB, dir string) string {
	t.Helper()
	des, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// diffSnapshots lists how b differs from a: missing, extra, changed.
func diffSnapshots(a, b map[string]entry) []string {
	var diffs []string
	for p, ea := range a {
		eb, ok := b[p]
		switch {
		case !ok:
			diffs = append(diffs, "missing: "+p)
		case ea.mode != eb.mode || ea.target != eb.target || ea.size != eb.size || !bytes.Equal(ea.data, eb.data):
			diffs = append(diffs, fmt.Sprintf("changed: %s (%v %q %d bytes, was %v %q %d bytes)", p, eb.mode, eb.target, eb.size, ea.mode, ea.target, ea.size))
		case ea.mode&fs.ModeSymlink == 0 && !ea.mtime.Equal(eb.mtime):
			diffs = append(diffs, fmt.Sprintf("mtime changed: %s", p))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, "new: "+p)
		}
	}
	sort.Strings(diffs)
	return diffs
}
