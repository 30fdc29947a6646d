package receiver

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// benchSender builds the stream a protocol-31 sender sends for files it
// is asked for in list order: per file its index, the flags, the sum head,
// the tokens and the whole-file checksum; then the phases' NDX_DONEs.
type benchSender struct {
	buf bytes.Buffer
	w   *wire.Writer
	nc  wire.NdxCodec
}

// benchChecksum is what rsync 3.2+ clients negotiate: the file checksum
// then costs little next to the data path.
const benchChecksum = checksum.XXH128

func newBenchSender() *benchSender {
	s := &benchSender{nc: wire.NdxCodec{Protocol: 31}}
	s.w = wire.NewWriter(&s.buf)
	_ = s.w.StartMultiplex()
	return s
}

func (s *benchSender) int32(v int32) {
	_, _ = s.w.Write(binary.LittleEndian.AppendUint32(nil, uint32(v)))
}

// file sends data as literal runs and references to the basis blocks
// named in blocks (indexes of blength-byte blocks; -1 for a run of
// literal data of the next block's size).
func (s *benchSender) file(ndx int32, data []byte, blength int, blocks []int) {
	_ = s.w.WriteNdx(&s.nc, ndx)
	_, _ = s.w.Write([]byte{0, itemTransfer >> 8})
	count := 0
	if blength > 0 {
		count = (len(data) + blength - 1) / blength
		s.int32(int32(count))
		s.int32(int32(blength))
		s.int32(16)
		s.int32(int32(len(data) - (count-1)*blength))
	} else {
		for range 4 {
			s.int32(0)
		}
	}
	literal := func(p []byte) {
		for len(p) > 0 {
			n := min(len(p), 32*1024)
			s.int32(int32(n))
			_, _ = s.w.Write(p[:n])
			p = p[n:]
		}
	}
	if blength == 0 {
		literal(data)
	}
	for i, blk := range blocks {
		if blk >= 0 {
			s.int32(-int32(blk) - 1)
			continue
		}
		literal(data[i*blength : min(len(data), (i+1)*blength)])
	}
	s.int32(0)
	h := checksum.NewFile(benchChecksum, 31, 0)
	h.Write(data)
	_, _ = s.w.Write(h.Sum(nil))
}

func (s *benchSender) end() []byte {
	for range 4 {
		_ = s.w.WriteNdx(&s.nc, wire.NdxDone)
	}
	_ = s.w.Flush()
	return s.buf.Bytes()
}

func benchRun(b *testing.B, root *os.Root, files []flist.File, stream []byte, want int) {
	b.Helper()
	cfg := &Config{
		Protocol: 31, Root: root, Dest: ".", Checksum: benchChecksum,
		Recursive: true, PreserveLinks: true, PreservePerms: true, PreserveTimes: true, MaxDelete: -1,
	}
	list := &flist.List{Files: append([]flist.File(nil), files...)}
	r := wire.NewReader(bytes.NewReader(stream))
	r.StartMultiplex()
	st, err := Run(context.Background(), r, wire.NewWriter(io.Discard), list, cfg)
	if err != nil || st.Transferred != want {
		b.Fatalf("run: %+v, %v", st, err)
	}
}

// BenchmarkReceiveDelta is the receiver's side of a delta update of a
// 32 MiB file: 1 MiB of literal data in its middle, every other block a
// reference to the basis. It measures rebuilding from the token stream
// into a temp file (basis reads, writes, the whole-file checksum).
func BenchmarkReceiveDelta(b *testing.B) {
	const size, blength = 32 << 20, 8192
	mod := b.TempDir()
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{5})
	_, _ = rng.Read(data)
	if err := os.WriteFile(filepath.Join(mod, "big"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	count := size / blength
	blocks := make([]int, count)
	for i := range blocks {
		blocks[i] = i
		if i >= count/2-64 && i < count/2+64 {
			blocks[i] = -1
		}
	}
	files := []flist.File{
		{Name: ".", Mode: flist.ModeDir | 0o755, ModTime: 1700000000, Flags: flist.FlagTopDir},
		{Name: "big", Mode: flist.ModeRegular | 0o644, Size: size, ModTime: 1700000001},
	}
	s := newBenchSender()
	s.file(1, data, blength, blocks)
	stream := s.end()
	root, err := os.OpenRoot(mod)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		benchRun(b, root, files, stream, 1)
	}
	if got, err := os.ReadFile(filepath.Join(mod, "big")); err != nil || !bytes.Equal(got, data) {
		b.Fatalf("big was not rebuilt: %v", err)
	}
}

// BenchmarkReceiveSmallFiles is the receiver's side of a push of 1,000
// files of 0-8 KiB in 10 directories, all literal data: per file a temp
// file is created, written, given its attributes and renamed.
func BenchmarkReceiveSmallFiles(b *testing.B) {
	mod := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	files := []flist.File{{Name: ".", Mode: flist.ModeDir | 0o755, ModTime: 1700000000, Flags: flist.FlagTopDir | flist.FlagContentDir}}
	s := newBenchSender()
	var contents [][]byte
	for d := range 10 {
		dn := fmt.Sprintf("d%02d", d)
		if err := os.Mkdir(filepath.Join(mod, dn), 0o755); err != nil {
			b.Fatal(err)
		}
		files = append(files, flist.File{Name: dn, Mode: flist.ModeDir | 0o755, ModTime: 1700000000, Flags: flist.FlagContentDir})
		for f := range 100 {
			p := make([]byte, rng.IntN(8193))
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			contents = append(contents, p)
			files = append(files, flist.File{Name: fmt.Sprintf("%s/f%03d", dn, f), Mode: flist.ModeRegular | 0o644,
				Size: int64(len(p)), ModTime: 1700000000 + int64(f)})
		}
	}
	k := 0
	for i, f := range files {
		if f.IsRegular() {
			s.file(int32(i), contents[k], 0, nil)
			k++
		}
	}
	stream := s.end()
	root, err := os.OpenRoot(mod)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	b.ReportAllocs()
	for b.Loop() {
		benchRun(b, root, files, stream, len(contents))
	}
	if got, err := os.ReadFile(filepath.Join(mod, files[len(files)-1].Name)); err != nil || !bytes.Equal(got, contents[len(contents)-1]) {
		b.Fatalf("%s was not written: %v", files[len(files)-1].Name, err)
	}
}
