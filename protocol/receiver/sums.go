package receiver

import (
	"encoding/binary"
	"io"
	"sync"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
)

// sumsReadSize is about how much of a basis file writeSums reads at once.
const sumsReadSize = 256 << 10

// sumsBufs holds writeSums' read buffers between files and sessions: a
// re-push of many changed files would otherwise drop one per file.
var sumsBufs sync.Pool

// writeSums sends the weak and strong sums of the count blocks of basis f.
// Whole blocks are read straight into one buffer, without a bufio copy.
func (t *transfer) writeSums(f io.Reader, count, blength, s2length, remainder int32) error {
	if count <= 0 || blength <= 0 {
		return nil
	}
	per := max(1, sumsReadSize/int(blength))
	size := per * int(blength)
	bp, _ := sumsBufs.Get().(*[]byte)
	if bp == nil || cap(*bp) < size {
		b := make([]byte, size)
		bp = &b
	}
	defer sumsBufs.Put(bp)
	buf := (*bp)[:size]
	var out [4 + 64]byte
	failed := false
	for i := int32(0); i < count; {
		k := min(int32(per), count-i)
		chunk := buf[:int(k)*int(blength)]
		if i+k == count && remainder != 0 {
			chunk = chunk[:len(chunk)-int(blength-remainder)]
		}
		if failed {
			clear(chunk)
		} else if got, err := io.ReadFull(f, chunk); err != nil {
			// The basis changed under us: send zero sums from the block
			// that came short on, so the stream stays in step; the
			// whole-file check catches the damage.
			clear(chunk[got/int(blength)*int(blength):])
			failed = true
		}
		for ; len(chunk) > 0; i++ {
			b := chunk[:min(len(chunk), int(blength))]
			chunk = chunk[len(b):]
			p := binary.LittleEndian.AppendUint32(out[:0], checksum.Rolling1(b))
			p = t.blockSum.Sum(p, b)
			if _, err := t.out.Write(p[:4+s2length]); err != nil {
				return err
			}
		}
	}
	return nil
}
