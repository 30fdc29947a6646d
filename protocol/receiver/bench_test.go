package receiver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// BenchmarkNoChange100k is the generator's side of a no-change
// `rsync -a --delete` re-push of 100,000 files in 1,000 directories: one
// status per entry, one listing per directory, nothing requested.
func BenchmarkNoChange100k(b *testing.B) {
	mod := b.TempDir()
	const stamp = 1700000000
	mt := time.Unix(stamp, 0)
	files := []flist.File{{Name: ".", Mode: flist.ModeDir | 0o755, ModTime: stamp, Flags: flist.FlagTopDir | flist.FlagContentDir}}
	for d := range 1000 {
		dn := fmt.Sprintf("d%03d", d)
		files = append(files, flist.File{Name: dn, Mode: flist.ModeDir | 0o755, ModTime: stamp, Flags: flist.FlagContentDir})
		if err := os.Mkdir(filepath.Join(mod, dn), 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 100 {
			fn := fmt.Sprintf("%s/f%03d", dn, f)
			files = append(files, flist.File{Name: fn, Mode: flist.ModeRegular | 0o644, Size: 10, ModTime: stamp})
			p := filepath.Join(mod, fn)
			if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.Chtimes(p, mt, mt); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.Chtimes(filepath.Join(mod, dn), mt, mt); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.Chtimes(mod, mt, mt); err != nil {
		b.Fatal(err)
	}
	// A protocol-31 sender with nothing to send: the phases' NDX_DONEs.
	var stream bytes.Buffer
	w := wire.NewWriter(&stream)
	_ = w.StartMultiplex()
	nc := wire.NdxCodec{Protocol: 31}
	for range 4 {
		_ = w.WriteNdx(&nc, wire.NdxDone)
	}
	_ = w.Flush()
	root, err := os.OpenRoot(mod)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	b.ReportAllocs()
	for b.Loop() {
		cfg := &Config{
			Protocol: 31, Root: root, Dest: ".", Checksum: checksum.MD5,
			Recursive: true, PreserveLinks: true, PreservePerms: true, PreserveTimes: true,
			Delete: DeleteDuring, MaxDelete: -1,
		}
		list := &flist.List{Files: append([]flist.File(nil), files...)}
		r := wire.NewReader(bytes.NewReader(stream.Bytes()))
		r.StartMultiplex()
		st, err := Run(context.Background(), r, wire.NewWriter(io.Discard), list, cfg)
		if err != nil || st.Transferred != 0 || st.Deleted != 0 {
			b.Fatalf("no-change run: %+v, %v", st, err)
		}
	}
}
