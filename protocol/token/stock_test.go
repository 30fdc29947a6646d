package token

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Compatibility with stock rsync. Fixtures under testdata/stock are the
// client-to-server byte streams of pushes made by stock rsync 3.5.0
// (regenerate with: go test -run TestCaptureStock -capture ./protocol/token).
// The trees pushed are generated from fixed seeds, so the tests know every
// file's content and basis.

var captureFlag = flag.Bool("capture", false, "regenerate testdata/stock from /usr/bin/rsync")

type scenario struct {
	name  string
	codec Codec
	args  []string
}

var scenarios = []scenario{
	{"none-p32", None, nil},
	{"none-p27", None, []string{"--protocol=27"}},
	{"zlib-p32", Zlib, []string{"-z", "--compress-choice=zlib"}},
	{"zlibx-p32", ZlibX, []string{"-z", "--compress-choice=zlibx"}},
	{"zstd-p32", Zstd, []string{"-z", "--compress-choice=zstd"}},
	{"zstd-p31-l19", Zstd, []string{"--protocol=31", "-z", "--compress-choice=zstd", "--compress-level=19"}},
	{"lz4-p32", LZ4, []string{"-z", "--compress-choice=lz4"}},
	{"zlib-p31-bigblock", Zlib, []string{"--protocol=31", "-z", "--compress-choice=zlib", "--block-size=100000"}},
	{"zlib-p30-bigblock", Zlib, []string{"--protocol=30", "-z", "--compress-choice=zlib", "--block-size=100000"}},
	{"zlib-p29", Zlib, []string{"--protocol=29", "-z"}},
	{"zlib-p27", Zlib, []string{"--protocol=27", "-z"}},
}

// stockFile is a file of the pushed tree, in transfer order.
type stockFile struct {
	name    string
	content []byte
	basis   []byte // the receiver's old version, nil for a new file
}

// stockTree returns the files pushed in every scenario: new files, one
// empty, and updates of old versions (deltas with matched blocks).
func stockTree() []stockFile {
	r := rand.New(rand.NewPCG(32, 350))
	oldB := textish(r, 150000)
	var newB []byte
	newB = append(newB, oldB[:20000]...)
	newB = append(newB, textish(r, 3000)...) // insertion
	newB = append(newB, oldB[20000:60000]...)
	newB = append(newB, oldB[70000:120000]...) // deletion
	newB = append(newB, randBytes(r, 2000)...) // replacement
	newB = append(newB, oldB[122000:]...)
	newB = append(newB, randBytes(r, 1000)...)
	oldE := textish(r, 300000)
	newE := bytes.Clone(oldE)
	newE[150000] ^= 0xff
	files := []stockFile{
		{name: "a", content: append(randBytes(r, 8000), textish(r, 40000)...)},
		{name: "b", content: newB, basis: oldB},
		{name: "c", content: []byte{}},
		{name: "d", content: textish(r, 40000)},
		{name: "e", content: newE, basis: oldE},
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files
}

// writeTrees writes src (the files) and dst (the basis files) under dir
// with fixed modes and times, so that the client's stream is the same in
// every run.
func writeTrees(t *testing.T, dir string, files []stockFile) {
	t.Helper()
	stamp := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"src", "dst"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		write(filepath.Join(dir, "src", f.name), f.content)
		if f.basis != nil {
			write(filepath.Join(dir, "dst", f.name), f.basis)
		}
	}
	for _, d := range []string{"src", "dst"} {
		p := filepath.Join(dir, d)
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
}

func checkTree(t *testing.T, dir string, files []stockFile) {
	t.Helper()
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, "dst", f.name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.content) {
			t.Fatalf("dst/%s differs from src/%s", f.name, f.name)
		}
	}
}

func rsyncPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatalf("stock rsync is needed (apt-get install rsync, 3.2+ with zstd and lz4): %v", err)
	}
	return p
}

// TestMain lets the test binary act as the remote shell of a stock push
// (rsync -e): it runs the server command and passes it what the client
// sends, either recording it (TOKEN_TEST_RSH=dir) or rewriting its token
// streams by a plan (TOKEN_TEST_PLAN=file).
func TestMain(m *testing.M) {
	if dir := os.Getenv("TOKEN_TEST_RSH"); dir != "" {
		os.Exit(fakeRsh(os.Args[2:], func(srv io.Writer) (io.Writer, func() error, error) {
			if err := os.WriteFile(filepath.Join(dir, "args"), []byte(strings.Join(os.Args[2:], "\x00")), 0o644); err != nil {
				return nil, nil, err
			}
			rec, err := os.Create(filepath.Join(dir, "c2s.bin"))
			if err != nil {
				return nil, nil, err
			}
			// Record each piece before the server can read it.
			return io.MultiWriter(rec, srv), rec.Close, nil
		}))
	}
	if planFile := os.Getenv("TOKEN_TEST_PLAN"); planFile != "" {
		os.Exit(fakeRsh(os.Args[2:], func(srv io.Writer) (io.Writer, func() error, error) {
			b, err := os.ReadFile(planFile)
			if err != nil {
				return nil, nil, err
			}
			var p rewritePlan
			if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&p); err != nil {
				return nil, nil, err
			}
			return &rewriter{p: &p, out: srv}, func() error { return nil }, nil
		}))
	}
	os.Exit(m.Run())
}

// fakeRsh runs the server command args, copying stdin to the writer that
// wrap puts in front of the server's stdin.
func fakeRsh(args []string, wrap func(srv io.Writer) (io.Writer, func() error, error)) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "fake rsh:", err)
		return 1
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return fail(err)
	}
	w, done, err := wrap(in)
	if err != nil {
		return fail(err)
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	go func() {
		if _, err := io.Copy(w, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, "fake rsh:", err)
			cmd.Process.Kill()
		}
		in.Close()
	}()
	err = cmd.Wait()
	if derr := done(); derr != nil {
		return fail(derr)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// rewritePlan says how to rewrite a client's stream, which must be the
// recorded one byte for byte: regions of its data stream (token streams)
// are replaced, each once the client has sent all of it.
type rewritePlan struct {
	Capture []byte // the recorded raw stream
	Pre     int    // raw bytes before multiplexing
	Mux     bool
	Data    []byte // the recorded data stream
	Regions []rewriteRegion
}

type rewriteRegion struct {
	Start, End int // in the data stream
	Repl       []byte
}

type rewriter struct {
	p      *rewritePlan
	out    io.Writer
	raw    int // raw bytes received
	sent   int // data stream offset passed on
	region int // next region
}

func (r *rewriter) Write(b []byte) (int, error) {
	p := r.p
	if r.raw+len(b) > len(p.Capture) || !bytes.Equal(b, p.Capture[r.raw:r.raw+len(b)]) {
		return 0, fmt.Errorf("client stream departs from the capture at byte %d: regenerate testdata with -capture", r.raw+firstDiff(b, p.Capture[r.raw:]))
	}
	start := r.raw
	r.raw += len(b)
	if start < p.Pre {
		if _, err := r.out.Write(p.Capture[start:min(r.raw, p.Pre)]); err != nil {
			return 0, err
		}
	}
	avail := r.dataAvail()
	for r.sent < avail {
		if r.region < len(p.Regions) && r.sent >= p.Regions[r.region].Start {
			reg := p.Regions[r.region]
			if avail < reg.End {
				break
			}
			if err := r.emit(reg.Repl); err != nil {
				return 0, err
			}
			r.sent = reg.End
			r.region++
			continue
		}
		end := avail
		if r.region < len(p.Regions) {
			end = min(end, p.Regions[r.region].Start)
		}
		if err := r.emit(p.Data[r.sent:end]); err != nil {
			return 0, err
		}
		r.sent = end
	}
	return len(b), nil
}

// dataAvail returns how much of the data stream the raw bytes received so
// far carry.
func (r *rewriter) dataAvail() int {
	p := r.p
	if r.raw <= p.Pre {
		return 0
	}
	if !p.Mux {
		return r.raw - p.Pre
	}
	n := 0
	for off := p.Pre; off+4 <= r.raw; {
		size := int(binary.LittleEndian.Uint32(p.Capture[off:]) & 0xffffff)
		n += min(r.raw, off+4+size) - (off + 4)
		off += 4 + size
	}
	return n
}

func (r *rewriter) emit(b []byte) error {
	if !r.p.Mux {
		_, err := r.out.Write(b)
		return err
	}
	for len(b) > 0 {
		n := min(len(b), 32*1024)
		frame := binary.LittleEndian.AppendUint32(nil, 7<<24|uint32(n))
		if _, err := r.out.Write(append(frame, b[:n]...)); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// runStock pushes dir/src to dir/dst with stock rsync through the fake
// remote shell, with env selecting its mode.
func runStock(t *testing.T, dir string, sc scenario, env string) {
	t.Helper()
	rsync := rsyncPath(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-r", "-I", "--checksum-seed=12345", "-e", self}, sc.args...)
	args = append(args, strings.Fields(os.Getenv("TOKEN_TEST_EXTRA"))...)
	args = append(args, "src/", "fakehost:dst/")
	cmd := exec.Command(rsync, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rsync %v: %v\n%s", args, err, out)
	}
}

func TestCaptureStock(t *testing.T) {
	if !*captureFlag {
		t.Skip("run with -capture to regenerate testdata/stock")
	}
	files := stockTree()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTrees(t, dir, files)
			runStock(t, dir, sc, "TOKEN_TEST_RSH="+dir)
			checkTree(t, dir, files)
			c2s, err := os.ReadFile(filepath.Join(dir, "c2s.bin"))
			if err != nil {
				t.Fatal(err)
			}
			srvArgs, err := os.ReadFile(filepath.Join(dir, "args"))
			if err != nil {
				t.Fatal(err)
			}
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			if _, err := zw.Write(c2s); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			base := filepath.Join("testdata", "stock", sc.name)
			if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(base+".c2s.gz", gz.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(base+".args", srvArgs, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// capture is a recorded client-to-server stream split into the bytes
// before multiplexing and the data stream carried after it.
type capture struct {
	raw      []byte
	protocol int
	pre      []byte // raw bytes before multiplexing starts
	data     []byte // the data stream (demultiplexed from protocol 30)
	mux      bool
	args     []string // the server's command line
}

func loadCapture(t *testing.T, name string) *capture {
	t.Helper()
	base := filepath.Join("testdata", "stock", name)
	gz, err := os.ReadFile(base + ".c2s.gz")
	if err != nil {
		t.Fatalf("%v (regenerate with -capture)", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	args, err := os.ReadFile(base + ".args")
	if err != nil {
		t.Fatal(err)
	}
	c, err := demux(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c.args = strings.Split(string(args), "\x00")
	return c
}

// demux finds where multiplexing starts (the offset from which MSG_DATA
// frames chain exactly to the end) and joins the frames' payloads.
func demux(raw []byte) (*capture, error) {
	if len(raw) < 4 {
		return nil, errors.New("capture too short")
	}
	c := &capture{raw: raw, protocol: int(binary.LittleEndian.Uint32(raw))}
	if c.protocol < 30 {
		c.data = raw[4:]
		c.pre = raw[:4]
		return c, nil
	}
	for p := 4; p < min(len(raw), 4096); p++ {
		if data, ok := chainFrames(raw[p:]); ok {
			c.pre, c.data, c.mux = raw[:p], data, true
			return c, nil
		}
	}
	return nil, errors.New("no multiplexed stream found")
}

func chainFrames(b []byte) ([]byte, bool) {
	var data []byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, false
		}
		h := binary.LittleEndian.Uint32(b)
		n := int(h & 0xffffff)
		if h>>24 != 7 || n == 0 || n > len(b)-4 { // MSG_DATA only
			return nil, false
		}
		data = append(data, b[4:4+n]...)
		b = b[4+n:]
	}
	return data, true
}

// located is a file's token stream found in a capture.
type located struct {
	start, end int // offsets in the data stream
	blen       int // block length from the sum head, 0 without basis
}

// sumHeadFits reports whether the 16 bytes before a token stream are the
// sum head rsync sends for f: all zero for a new file, else block count,
// length, strong-sum length and remainder of the basis.
func sumHeadFits(h []byte, f stockFile) (int, bool) {
	count := int(int32(binary.LittleEndian.Uint32(h)))
	blen := int(int32(binary.LittleEndian.Uint32(h[4:])))
	s2 := int(int32(binary.LittleEndian.Uint32(h[8:])))
	rem := int(int32(binary.LittleEndian.Uint32(h[12:])))
	if f.basis == nil {
		return 0, count == 0 && blen == 0 && s2 == 0 && rem == 0
	}
	if blen <= 0 || s2 < 1 || s2 > 16 || rem < 0 || rem >= blen || count <= 0 {
		return 0, false
	}
	last := blen
	if rem != 0 {
		last = rem
	}
	return blen, (count-1)*blen+last == len(f.basis)
}

// decodeStreams decodes the streams found so far followed by a candidate
// for the next file; it returns the next file's content, its blocks and
// the candidate stream's length.
func decodeStreams(c *capture, codec Codec, files []stockFile, found []located, cand located) ([]byte, []int32, int, error) {
	var src [][]byte
	for _, l := range found {
		src = append(src, c.data[l.start:l.end])
	}
	src = append(src, c.data[cand.start:])
	var before int
	for _, s := range src[:len(src)-1] {
		before += len(s)
	}
	r := wire.NewReader(io.MultiReader(bytesReaders(src)...))
	d := NewDecoder(r, codec, c.protocol)
	var content []byte
	var blocks []int32
	for i := range len(found) + 1 {
		l := cand
		if i < len(found) {
			l = found[i]
		}
		f := &file{basis: files[i].basis, blen: l.blen}
		var err error
		content, blocks, err = decodeFile(d, f)
		if err != nil {
			return nil, nil, 0, err
		}
	}
	return content, blocks, int(r.Count()) - before, nil
}

func bytesReaders(bs [][]byte) []io.Reader {
	var rs []io.Reader
	for _, b := range bs {
		rs = append(rs, bytes.NewReader(b))
	}
	return rs
}

// locate finds every file's token stream in the capture, in order.
func locate(t *testing.T, c *capture, codec Codec, files []stockFile) []located {
	t.Helper()
	var found []located
	pos := 0
	for i, f := range files {
		ok := false
		for start := pos + 16; start < len(c.data); start++ {
			blen, fits := sumHeadFits(c.data[start-16:start], f)
			if !fits {
				continue
			}
			cand := located{start: start, blen: blen}
			content, _, n, err := decodeStreams(c, codec, files, found, cand)
			if err != nil || !bytes.Equal(content, f.content) {
				continue
			}
			cand.end = start + n
			found = append(found, cand)
			pos = cand.end
			ok = true
			break
		}
		if !ok {
			t.Fatalf("file %d (%s): no token stream decodes to its content", i, f.name)
		}
	}
	return found
}

// TestStockStreams decodes the token streams stock rsync sent.
func TestStockStreams(t *testing.T) {
	files := stockTree()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			c := loadCapture(t, sc.name)
			found := locate(t, c, sc.codec, files)
			var matched int
			for i, l := range found {
				_, blocks, _, err := decodeStreams(c, sc.codec, files, found[:i], l)
				if err != nil {
					t.Fatal(err)
				}
				if files[i].name == "e" && len(blocks) == 0 {
					t.Errorf("%s: a delta without matched blocks", files[i].name)
				}
				matched += len(blocks)
			}
			t.Logf("protocol %d, %d data bytes, %d matched blocks", c.protocol, len(c.data), matched)
		})
	}
}

// tokenOps turns a decoded file back into encoder calls. With pieces, each
// literal piece the decoder returned is its own call (a stock sender's
// chunking); otherwise literal data between tokens is one run.
func tokenOps(t *testing.T, c *capture, codec Codec, files []stockFile, found []located, pieces bool) [][]op {
	t.Helper()
	var all [][]op
	d := NewDecoder(wire.NewReader(io.MultiReader(func() []io.Reader {
		var rs []io.Reader
		for _, l := range found {
			rs = append(rs, bytes.NewReader(c.data[l.start:l.end]))
		}
		return rs
	}()...)), codec, c.protocol)
	for i, l := range found {
		f := &file{basis: files[i].basis, blen: l.blen}
		var ops []op
		for {
			data, block, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if block >= 0 {
				bd, err := f.blockData(block)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.SeeBlock(bd); err != nil {
					t.Fatal(err)
				}
				ops = append(ops, op{block: block})
				continue
			}
			if !pieces && len(ops) > 0 && ops[len(ops)-1].lit != nil {
				ops[len(ops)-1].lit = append(ops[len(ops)-1].lit, data...)
				continue
			}
			ops = append(ops, op{lit: bytes.Clone(data)})
		}
		all = append(all, ops)
	}
	return all
}

// encodeOps encodes files' ops, returning each file's stream.
func encodeOps(t *testing.T, codec Codec, level, protocol int, files []stockFile, found []located, ops [][]op) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	e := NewEncoder(w, codec, level, protocol)
	var streams [][]byte
	for i, fo := range ops {
		f := &file{basis: files[i].basis, blen: found[i].blen}
		for _, o := range fo {
			var err error
			if o.lit != nil {
				err = e.Literal(o.lit)
			} else {
				bd, berr := f.blockData(o.block)
				if berr != nil {
					t.Fatal(berr)
				}
				err = e.Block(o.block, bd)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := e.End(); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, bytes.Clone(buf.Bytes()))
		buf.Reset()
	}
	return streams
}

func scenarioLevel(sc scenario) int {
	level := LevelNotSpecified
	for _, a := range sc.args {
		if v, ok := strings.CutPrefix(a, "--compress-level="); ok {
			fmt.Sscan(v, &level)
		}
	}
	_, level = ResolveLevel(sc.codec, level)
	return level
}

// TestStockIdenticalEncoding checks that where the format leaves no choice
// (plain tokens, lz4 blocks, token run coding) the encoder writes exactly
// the bytes stock rsync wrote.
func TestStockIdenticalEncoding(t *testing.T) {
	files := stockTree()
	for _, sc := range scenarios {
		if sc.codec != None && sc.codec != LZ4 {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			c := loadCapture(t, sc.name)
			found := locate(t, c, sc.codec, files)
			ops := tokenOps(t, c, sc.codec, files, found, true)
			streams := encodeOps(t, sc.codec, scenarioLevel(sc), c.protocol, files, found, ops)
			for i, l := range found {
				if want := c.data[l.start:l.end]; !bytes.Equal(streams[i], want) {
					t.Errorf("%s: encoded %d bytes differ from stock's %d (at %d)", files[i].name, len(streams[i]), len(want), firstDiff(streams[i], want))
				}
			}
		})
	}
}

// TestStockAcceptsEncoder pushes each scenario again with stock rsync at
// both ends, but rewrites every token stream in transit into this package's
// encoding of the same tokens; the stock receiver must rebuild the tree (it
// verifies each file's checksum).
func TestStockAcceptsEncoder(t *testing.T) {
	rsyncPath(t)
	files := stockTree()
	for _, sc := range scenarios {
		for _, pieces := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/pieces=%v", sc.name, pieces), func(t *testing.T) {
				t.Parallel()
				c := loadCapture(t, sc.name)
				found := locate(t, c, sc.codec, files)
				ops := tokenOps(t, c, sc.codec, files, found, pieces)
				streams := encodeOps(t, sc.codec, scenarioLevel(sc), c.protocol, files, found, ops)
				plan := rewritePlan{Capture: c.raw, Pre: len(c.pre), Mux: c.mux, Data: c.data}
				changed := false
				for i, l := range found {
					plan.Regions = append(plan.Regions, rewriteRegion{Start: l.start, End: l.end, Repl: streams[i]})
					changed = changed || !bytes.Equal(streams[i], c.data[l.start:l.end])
				}
				if !changed && sc.codec != None && sc.codec != LZ4 {
					t.Fatal("re-encoding reproduced stock's compressed bytes; the test would prove nothing")
				}
				dir := t.TempDir()
				var b bytes.Buffer
				if err := gob.NewEncoder(&b).Encode(&plan); err != nil {
					t.Fatal(err)
				}
				planFile := filepath.Join(dir, "plan.gob")
				if err := os.WriteFile(planFile, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				writeTrees(t, dir, files)
				runStock(t, dir, sc, "TOKEN_TEST_PLAN="+planFile)
				checkTree(t, dir, files)
			})
		}
	}
}
