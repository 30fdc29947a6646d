package receiver

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/token"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// testList is a small file list as a client would send it.
func testList() *flist.List {
	return &flist.List{Files: []flist.File{
		{Name: ".", Mode: flist.ModeDir | 0o755, Flags: flist.FlagTopDir | flist.FlagContentDir},
		{Name: "a", Mode: flist.ModeRegular | 0o644, Size: 5, ModTime: 1700000000},
		{Name: "d", Mode: flist.ModeDir | 0o755, ModTime: 1700000000, Flags: flist.FlagContentDir},
		{Name: "d/b", Mode: flist.ModeRegular | 0o600, Size: 3000, ModTime: 1700000000},
		{Name: "l", Mode: flist.ModeSymlink | 0o777, LinkTarget: "../../etc/passwd"},
	}}
}

// FuzzReceive plays a hostile sender: after a valid file list, arbitrary
// bytes arrive where indexes, sum heads, token streams and checksums
// belong. The receiver must end with an error or success, never panic,
// hang or write outside its module, and leave no temp file.
func FuzzReceive(f *testing.F) {
	// A well-formed protocol-31 exchange for "a" (plain tokens) as a seed.
	f.Add(byte(4), byte(0), goodStream())
	f.Add(byte(0), byte(1), []byte{1, 0, 0, 0, 0, 0x80, 0, 0, 0, 0})
	f.Add(byte(2), byte(4), []byte{0xFF, 0xFE, 0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, protoSel, codecSel byte, in []byte) {
		fuzzOne(t, 27+int(protoSel%6), codecSel, in)
	})
}

// goodStream is what a stock protocol-31 sender sends for testList when
// "a" needs its 5 bytes: the request echo, a plain token stream, the
// whole-file md5, then the NDX_DONEs of the phases and the goodbye.
func goodStream() []byte {
	var good bytes.Buffer
	w := wire.NewWriter(&good)
	_ = w.StartMultiplex()
	nc := wire.NdxCodec{Protocol: 31}
	_ = w.WriteNdx(&nc, 1)
	_ = w.WriteUint16(itemTransfer)
	for _, v := range []int32{0, 0, 0, 0, 5} {
		_ = w.WriteInt32(v)
	}
	_, _ = w.Write([]byte("hello"))
	_ = w.WriteInt32(0)
	h := checksum.NewFile(checksum.MD5, 31, 0)
	h.Write([]byte("hello"))
	_, _ = w.Write(h.Sum(nil))
	for range 4 {
		_ = w.WriteNdx(&nc, wire.NdxDone)
	}
	_ = w.Flush()
	return good.Bytes()
}

// TestReceiveGood checks that goodStream installs "a" with its new
// contents, so the fuzz seed exercises the whole path.
func TestReceiveGood(t *testing.T) {
	mod := fuzzOne(t, 31, 0, goodStream())
	b, err := os.ReadFile(filepath.Join(mod, "a"))
	if err != nil || string(b) != "hello" {
		t.Fatalf("a = %q, %v", b, err)
	}
}

// fuzzOne runs the receiver on input in and checks the invariants; it
// returns the module directory.
func fuzzOne(t *testing.T, proto int, codecSel byte, in []byte) string {
	codecs := []token.Codec{token.None, token.Zlib, token.ZlibX, token.Zstd, token.LZ4}
	codec := codecs[int(codecSel)%len(codecs)]
	base := t.TempDir()
	mod := filepath.Join(base, "module")
	if err := os.Mkdir(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "a"), []byte("old!!"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(mod)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	cfg := &Config{
		Protocol: proto, Root: root, Dest: ".",
		Checksum: checksum.Default(proto), Compression: codec,
		Recursive: true, PreserveLinks: true, PreservePerms: true, PreserveTimes: true,
		Delete: DeleteDuring, MaxDelete: -1,
	}
	if proto >= 30 {
		cfg.Checksum = checksum.MD5
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := wire.NewReader(bytes.NewReader(in))
	if proto >= 30 {
		r.StartMultiplex()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = Run(ctx, r, wire.NewWriter(io.Discard), testList(), cfg)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not end")
	}
	entries, err := os.ReadDir(base)
	if err != nil || len(entries) != 1 {
		t.Fatalf("something was written outside the module: %v %v", entries, err)
	}
	_ = filepath.Walk(mod, func(p string, fi os.FileInfo, err error) error {
		if err == nil && IsTempName(fi.Name()) {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})
	return mod
}
