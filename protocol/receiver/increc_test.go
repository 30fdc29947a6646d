package receiver

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// incOptions is the file-list layout of the incremental tests.
func incOptions() flist.Options {
	return flist.Options{Protocol: 31, VarintFlags: true, SafeFlist: true, IncRecurse: true, NdxStart: 1, PreserveLinks: true}
}

// incFirstList is testList as the first list of an incremental recursion:
// wire indexes from 1 (".", "a", "d", "l"), dirs "." (0) and "d" (1).
func incFirstList() *flist.List {
	l := testList()
	files := []flist.File{l.Files[0], l.Files[1], l.Files[2], l.Files[4]}
	return &flist.List{Files: files, NdxStart: 1}
}

// incPart1 is what a stock sender sends: the list of "d" (as dir 1,
// starting at index 6), the end of the lists, and the data of "a" (2) and
// "d/b" (6).
func incPart1() []byte {
	a, b := incParts()
	return append(a, b...)
}

// incParts splits incPart1 before the file data, which a sender only sends
// when the generator asked for it.
func incParts() (lists, data []byte) {
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	_ = w.StartMultiplex()
	nc := wire.NdxCodec{Protocol: 31}
	_ = w.WriteNdx(&nc, wire.NdxFlistOfset-1)
	o := incOptions()
	o.NdxStart = 6
	e := flist.NewEncoder(w, o)
	_ = e.Encode(&flist.File{Name: "d/b", Mode: flist.ModeRegular | 0o644, Size: 3, ModTime: 1700000000})
	_ = e.End(0)
	_ = w.WriteNdx(&nc, wire.NdxFlistEOF)
	_ = w.Flush()
	n := buf.Len()
	for _, x := range []struct {
		ndx  int32
		data string
	}{{2, "hello"}, {6, "xyz"}} {
		_ = w.WriteNdx(&nc, x.ndx)
		_ = w.WriteUint16(itemTransfer)
		for _, v := range []int32{0, 0, 0, 0, int32(len(x.data))} {
			_ = w.WriteInt32(v)
		}
		_, _ = w.Write([]byte(x.data))
		_ = w.WriteInt32(0)
		h := checksum.NewFile(checksum.MD5, 31, 0)
		h.Write([]byte(x.data))
		_, _ = w.Write(h.Sum(nil))
	}
	_ = w.Flush()
	b := buf.Bytes()
	return b[:n:n], b[n:]
}

// incPart2 closes the two lists and the phases: two NDX_DONEs for the
// lists (the second ends phase 0), then phases 1 and 2 and the answer to
// the delete-phase NDX_DONE.
func incPart2() []byte {
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	_ = w.StartMultiplex()
	nc := wire.NdxCodec{Protocol: 31}
	for range 5 {
		_ = w.WriteNdx(&nc, wire.NdxDone)
	}
	_ = w.Flush()
	return buf.Bytes()
}

// gateReader plays a sender that waits for the generator: each part is
// served once its condition holds (or after 5s).
type gateReader struct {
	parts []*bytes.Reader
	open  []func() bool
}

func (g *gateReader) Read(p []byte) (int, error) {
	for len(g.parts) > 0 && g.parts[0].Len() == 0 {
		g.parts, g.open = g.parts[1:], g.open[1:]
	}
	if len(g.parts) == 0 {
		return 0, io.EOF
	}
	for deadline := time.Now().Add(5 * time.Second); !g.open[0]() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	return g.parts[0].Read(p)
}

// runInc runs the receiver on an incremental stream from r and returns
// the module directory and Run's error.
func runInc(t *testing.T, r io.Reader) (string, error) {
	return runIncIn(t, t.TempDir(), r)
}

func runIncIn(t *testing.T, base string, r io.Reader) (string, error) {
	mod := filepath.Join(base, "module")
	if err := os.Mkdir(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "a"), []byte("old!!"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, stale := range []string{"stale", "d/stale"} {
		if err := os.MkdirAll(filepath.Join(mod, "d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mod, stale), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(mod)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	in := wire.NewReader(r)
	in.StartMultiplex()
	cfg := &Config{
		Protocol: 31, Root: root, Dest: ".", Checksum: checksum.MD5,
		Recursive: true, PreserveLinks: true, PreservePerms: true, PreserveTimes: true,
		Delete: DeleteDuring, MaxDelete: -1,
		Lists: flist.NewListReader(in, incOptions()),
		Log:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, in, wire.NewWriter(io.Discard), incFirstList(), cfg)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not end")
	}
	entries, rerr := os.ReadDir(base)
	if rerr != nil || len(entries) != 1 {
		t.Fatalf("something was written outside the module: %v %v", entries, rerr)
	}
	_ = filepath.Walk(mod, func(p string, fi os.FileInfo, err error) error {
		if err == nil && IsTempName(fi.Name()) {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})
	return mod, err
}

// TestReceiveIncGood plays a stock sender through an incremental
// recursion: both files arrive, the stale file goes (--delete-during on
// the first list), and the session ends cleanly.
func TestReceiveIncGood(t *testing.T) {
	var listsDone atomic.Int32
	testHookListDone = func() { listsDone.Add(1) }
	defer func() { testHookListDone = nil }()
	base := t.TempDir()
	lists, data := incParts()
	always := func() bool { return true }
	// d/b is asked for once d's list is generated, after d's deletions.
	dirDone := func() bool { _, err := os.Stat(filepath.Join(base, "module", "d", "stale")); return os.IsNotExist(err) }
	g := &gateReader{
		parts: []*bytes.Reader{bytes.NewReader(lists), bytes.NewReader(data), bytes.NewReader(incPart2())},
		open:  []func() bool{always, dirDone, func() bool { return listsDone.Load() >= 2 }},
	}
	mod, err := runIncIn(t, base, g)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for name, want := range map[string]string{"a": "hello", "d/b": "xyz"} {
		if b, err := os.ReadFile(filepath.Join(mod, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	for _, stale := range []string{"stale", "d/stale"} {
		if _, err := os.Lstat(filepath.Join(mod, stale)); !os.IsNotExist(err) {
			t.Errorf("%s was not deleted: %v", stale, err)
		}
	}
}

// incHostile are sender streams a receiver must refuse (with an error,
// never a panic or a hang).
func incHostile() map[string][]byte {
	ndx := func(v ...int32) []byte {
		var buf bytes.Buffer
		w := wire.NewWriter(&buf)
		_ = w.StartMultiplex()
		nc := wire.NdxCodec{Protocol: 31}
		for _, n := range v {
			_ = w.WriteNdx(&nc, n)
		}
		_ = w.Flush()
		return buf.Bytes()
	}
	good := incPart1()
	return map[string][]byte{
		"dir index out of range":  ndx(wire.NdxFlistOfset - 7),
		"dir index of the root":   ndx(wire.NdxFlistOfset),
		"between done and offset": ndx(-50),
		"list after eof":          append(ndx(wire.NdxFlistEOF), good...),
		"duplicate list":          append(append([]byte{}, good[:len(good)/3]...), good...),
		"done before any list":    ndx(wire.NdxDone, wire.NdxDone, wire.NdxDone),
		"transfer of a dir slot":  ndx(5),
		"truncated":               good[:len(good)/2],
	}
}

func TestReceiveIncHostile(t *testing.T) {
	for name, in := range incHostile() {
		t.Run(name, func(t *testing.T) {
			if _, err := runInc(t, bytes.NewReader(in)); err == nil {
				t.Error("the receiver accepted the stream")
			}
		})
	}
}

// FuzzReceiveInc plays a hostile sender of incremental file lists: the
// first list is valid, then arbitrary bytes arrive where list indexes,
// extra lists, transfers and NDX_DONEs belong.
func FuzzReceiveInc(f *testing.F) {
	f.Add(append(incPart1(), incPart2()...))
	for _, in := range incHostile() {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = runInc(t, bytes.NewReader(in))
	})
}

// testWriter sends the receiver's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// TestFinishedWakes checks when a finished transfer wakes the generator:
// for a redo, or when its list has no transfer left, not for every file.
func TestFinishedWakes(t *testing.T) {
	inc := &incState{wake: make(chan struct{}, 1)}
	l := &incList{inProgress: 3}
	woken := func() bool {
		select {
		case <-inc.wake:
			return true
		default:
			return false
		}
	}
	steps := []struct {
		ndx   int32
		again bool
		want  bool
	}{
		{1, false, false}, // two transfers of the list still running
		{2, true, true},   // a redo for the generator to ask
		{3, false, true},  // the list's last transfer
	}
	for _, s := range steps {
		inc.finished(l, s.ndx, s.again)
		if got := woken(); got != s.want {
			t.Errorf("after finishing %d (again %v): woken %v, want %v", s.ndx, s.again, got, s.want)
		}
	}
	if l.inProgress != 0 || l.toRedo != 1 || len(inc.redo) != 1 {
		t.Errorf("inProgress %d, toRedo %d, redo %v; want 0, 1, [2]", l.inProgress, l.toRedo, inc.redo)
	}
}
