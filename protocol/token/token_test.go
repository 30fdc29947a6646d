package token

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/pierrec/lz4/v4"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

func TestParseCodec(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Codec
	}{{"none", None}, {"zlib", Zlib}, {"zlibx", ZlibX}, {"lz4", LZ4}, {"zstd", Zstd}} {
		got, err := ParseCodec(tc.name)
		if err != nil || got != tc.want {
			t.Errorf("ParseCodec(%q) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
		if got.String() != tc.name {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.name)
		}
	}
	for _, bad := range []string{"", "ZLIB", "gzip", "zstd "} {
		if _, err := ParseCodec(bad); err == nil {
			t.Errorf("ParseCodec(%q) succeeded", bad)
		}
	}
}

func TestResolveLevel(t *testing.T) {
	for _, tc := range []struct {
		codec     Codec
		level     int
		wantCodec Codec
		wantLevel int
	}{
		{Zlib, LevelNotSpecified, Zlib, 6},
		{Zlib, -1, Zlib, 6},
		{Zlib, 0, None, 0},
		{Zlib, 1, Zlib, 1},
		{Zlib, 12, Zlib, 9},
		{Zlib, -5, Zlib, 1},
		{ZlibX, 0, None, 0},
		{ZlibX, 3, ZlibX, 3},
		{Zstd, LevelNotSpecified, Zstd, 3},
		{Zstd, 0, Zstd, 3},
		{Zstd, 19, Zstd, 19},
		{Zstd, 99, Zstd, 22},
		{Zstd, -5, Zstd, -5},
		{Zstd, -1 << 20, Zstd, -(1 << 17)},
		{LZ4, 9, LZ4, 0},
		{LZ4, LevelNotSpecified, LZ4, 0},
		{None, 5, None, 5},
	} {
		c, l := ResolveLevel(tc.codec, tc.level)
		if c != tc.wantCodec || l != tc.wantLevel {
			t.Errorf("ResolveLevel(%v, %d) = %v, %d; want %v, %d", tc.codec, tc.level, c, l, tc.wantCodec, tc.wantLevel)
		}
	}
}

func TestAppendHistory(t *testing.T) {
	block := make([]byte, 3*storedMax+10)
	for i := range block {
		block[i] = byte(i * 7 / 3)
	}
	seq := func(pieces ...[]byte) []byte { return bytes.Join(pieces, nil) }
	for _, tc := range []struct {
		name     string
		hist     []byte
		block    []byte
		protocol int
		want     []byte
	}{
		{"small", []byte("abc"), []byte("def"), 30, []byte("abcdef")},
		{"p31 large", nil, block, 31, block[len(block)-deflateWindow:]},
		// Before protocol 31 each 0xffff piece restarts at the block's
		// start: the stream holds block[:0xffff] three times, then
		// block[:10].
		{"p30 large", nil, block, 30, seq(block[storedMax-(deflateWindow-10):storedMax], block[:10])},
		{"p30 exact multiple", nil, block[:2*storedMax], 30, block[storedMax-deflateWindow : storedMax]},
		{"p30 one piece", []byte("xy"), block[:storedMax], 30, block[storedMax-deflateWindow : storedMax]},
		{"keeps tail of hist", bytes.Repeat([]byte("h"), 40000), []byte("b"), 31, append(bytes.Repeat([]byte("h"), deflateWindow-1), 'b')},
	} {
		hist := append(make([]byte, 0, 2*deflateWindow), tc.hist...)
		got := window(appendHistory(hist, tc.block, tc.protocol))
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: history of %d bytes differs from the expected %d (at %d)", tc.name, len(got), len(tc.want), firstDiff(got, tc.want))
		}
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func le32(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

// TestEncoderBytes pins the exact bytes of the token coding.
func TestEncoderBytes(t *testing.T) {
	lit40k := bytes.Repeat([]byte{'q'}, 40000)
	seq := func(from, n int32) []int32 {
		var s []int32
		for i := range n {
			s = append(s, from+i)
		}
		return s
	}
	type step struct {
		lit    []byte
		blocks []int32
	}
	for _, tc := range []struct {
		name  string
		codec Codec
		steps []step
		want  []byte
	}{
		{"plain", None, []step{{lit: lit40k}, {blocks: []int32{5, 0}}},
			bytes.Join([][]byte{le32(32768), lit40k[:32768], le32(7232), lit40k[:7232], le32(-6), le32(-1), le32(0)}, nil)},
		{"plain empty", None, nil, le32(0)},
		{"runs", LZ4, []step{{blocks: []int32{0, 1, 2, 5, 100, 99}}},
			mustHex("c0 0200 83 20 64000000 20 63000000 00")},
		{"run split at 65536", LZ4, []step{{blocks: seq(0, 70000)}},
			mustHex("c0 ffff c1 6f11 00")},
		{"run ends at literal", LZ4, []step{{blocks: []int32{3, 4}}, {lit: []byte("hi")}, {blocks: []int32{4}}},
			append(append(mustHex("c3 0100"), 0x40, 3, 0x20, 'h', 'i'), mustHex("80 00")...)},
		{"long token far back", LZ4, []step{{blocks: []int32{70, 6}}},
			mustHex("20 46000000 20 06000000 00")},
		{"empty compressed", Zstd, nil, []byte{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := wire.NewWriter(&buf)
			e := NewEncoder(w, tc.codec, 0, 31)
			for _, s := range tc.steps {
				if s.lit != nil {
					if err := e.Literal(s.lit); err != nil {
						t.Fatal(err)
					}
				}
				for _, b := range s.blocks {
					if err := e.Block(b, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := e.End(); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), tc.want) {
				got := buf.Bytes()
				if len(got) > 64 {
					got = got[:64]
				}
				t.Fatalf("got % x..., want % x (first difference at %d)", got, tc.want[:min(len(tc.want), 64)], firstDiff(buf.Bytes(), tc.want))
			}
		})
	}
}

// TestEncoderChunks checks the framing stock receivers rely on: chunks of
// at most MaxDataCount bytes, no sync marker left at a flush, and lz4
// chunks that decode into the stock receiver's buffer.
func TestEncoderChunks(t *testing.T) {
	files := testFiles()
	for _, codec := range []Codec{Zlib, ZlibX, Zstd, LZ4} {
		for _, name := range []string{"random", "delta"} {
			fs := files[name]
			_, level := ResolveLevel(codec, LevelNotSpecified)
			stream := encodeFiles(t, codec, level, 31, fs)
			chunks := 0
			for i := 0; i < len(stream); {
				f := int(stream[i])
				i++
				switch {
				case f&0xc0 == flagData:
					n := (f&0x3f)<<8 | int(stream[i])
					i++
					if n == 0 || n > MaxDataCount {
						t.Fatalf("%v/%s: chunk of %d bytes", codec, name, n)
					}
					if codec == LZ4 {
						out := make([]byte, lz4OutSize)
						if _, err := lz4.UncompressBlock(stream[i:i+n], out); err != nil {
							t.Fatalf("lz4 chunk does not fit stock's buffer: %v", err)
						}
					}
					i += n
					chunks++
					if (codec == Zlib || codec == ZlibX) && i < len(stream) && stream[i]&0xc0 != flagData &&
						bytes.HasSuffix(stream[:i], syncMarker[:]) {
						t.Fatalf("%v/%s: sync marker not stripped", codec, name)
					}
				case f == flagEnd:
				case f&flagTokenRel != 0:
					if f&1<<6 != 0 {
						i += 2
					}
				default:
					i += 4
					if f&1 != 0 {
						i += 2
					}
				}
			}
			if chunks == 0 {
				t.Fatalf("%v/%s: no data chunks", codec, name)
			}
		}
	}
}

// deflateRaw compresses p into a raw deflate stream; final adds BFINAL.
func deflateRaw(t *testing.T, p []byte, final bool) []byte {
	t.Helper()
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, 6)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(p)
	if final {
		fw.Close()
		return b.Bytes()
	}
	fw.Flush()
	return bytes.TrimSuffix(b.Bytes(), syncMarker[:])
}

func dataChunk(p []byte) []byte {
	return append([]byte{byte(flagData + len(p)>>8), byte(len(p))}, p...)
}

// TestDecoderRejects feeds hostile or broken streams: each must end in an
// error, never a panic, a hang or a huge allocation.
func TestDecoderRejects(t *testing.T) {
	bigLZ4 := func() []byte {
		src := bytes.Repeat([]byte{'z'}, lz4OutSize+1)
		dst := make([]byte, lz4.CompressBlockBound(len(src)))
		var c lz4.Compressor
		n, err := c.CompressBlock(src, dst)
		if err != nil || n == 0 {
			t.Fatal(err)
		}
		return dst[:n]
	}()
	zstdHuge := mustHex("28b52ffd" + "00" + "f8") // frame header: window 2^(10+31) bytes
	for _, tc := range []struct {
		name   string
		codec  Codec
		stream []byte
		want   string
	}{
		{"plain truncated run", None, append(le32(10), 'a', 'b'), "unexpected EOF"},
		{"plain huge run", None, le32(MaxLiteralRun + 1), "exceeds"},
		{"plain no end", None, append(le32(1), 'a'), "EOF"},
		{"token overflow", LZ4, append(append([]byte{flagTokenLong}, le32(maxTokenIndex)...), 0x81), "invalid token"},
		{"negative long token", LZ4, append([]byte{flagTokenLong}, le32(-3)...), "invalid token"},
		{"run of zero", LZ4, []byte{flagTokenRunRel, 0, 0}, "invalid token"},
		{"run overflow", LZ4, append(append([]byte{flagTokenRunLong}, le32(maxTokenIndex-5)...), 10, 0), "invalid token"},
		{"truncated run", LZ4, []byte{flagTokenRunRel, 1}, "unexpected EOF"},
		{"truncated chunk", Zlib, []byte{flagData, 10, 1, 2}, "unexpected EOF"},
		{"deflate garbage", Zlib, append(dataChunk([]byte{0xff, 0xff, 0xff, 0xff, 0xff}), 0), "inflate"},
		{"deflate final block", Zlib, append(dataChunk(deflateRaw(t, []byte("hello hello hello"), true)), 0), "final block"},
		{"deflate cut mid-block", ZlibX, append(dataChunk(deflateRaw(t, bytes.Repeat([]byte("abcdefgh"), 500), false)[:20]), 0), "inflate"},
		{"lz4 garbage", LZ4, append(dataChunk([]byte{0xf0, 0xff, 0xff}), 0), "lz4"},
		{"lz4 beyond stock buffer", LZ4, append(dataChunk(bigLZ4), 0), "lz4"},
		{"zstd garbage", Zstd, append(dataChunk([]byte("not a zstd frame")), 0), "zstd"},
		{"zstd huge window", Zstd, append(dataChunk(append(zstdHuge, 1, 0, 0)), 0), "zstd"},
		{"zstd block cut by token", Zstd, append(dataChunk(mustHex("28b52ffd0058"+"090000")), 0x80), "cut short"},
		{"no end", Zstd, []byte{0x80, 0x81}, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(wire.NewReader(bytes.NewReader(tc.stream)), tc.codec, 31)
			var err error
			for range 1000 {
				var block int32
				_, block, err = d.Next()
				if err == io.EOF {
					t.Fatalf("stream decoded to its end")
				}
				if err != nil {
					break
				}
				if block >= 0 {
					d.SeeBlock([]byte("basis"))
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if _, _, again := d.Next(); !errors.Is(again, err) && again.Error() != err.Error() {
				t.Fatalf("error not sticky: then %v", again)
			}
		})
	}
}

// TestDecoderTolerates checks inputs stock senders do not produce but
// stock receivers accept.
func TestDecoderTolerates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		codec  Codec
		stream []byte
		want   []int32
	}{
		// Any flag without the relative bit is a long token to stock.
		{"odd long flag", LZ4, append(append([]byte{0x3e}, le32(7)...), 0), []int32{7}},
		{"odd long run flag", LZ4, append(append([]byte{0x23}, le32(7)...), 1, 0, 0), []int32{7, 8}},
		{"empty zstd chunk", Zstd, []byte{flagData, 0, 0x82, 0}, []int32{2}},
		{"plain big run", None, append(append(le32(ChunkSize+3), make([]byte, ChunkSize+3)...), le32(-3)...), []int32{-1, -1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := tc.stream
			if tc.codec == None {
				stream = append(stream, le32(0)...)
			}
			d := NewDecoder(wire.NewReader(bytes.NewReader(stream)), tc.codec, 31)
			var got []int32
			for {
				_, block, err := d.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, block)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("tokens %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("tokens %v, want %v", got, tc.want)
				}
			}
		})
	}
}
