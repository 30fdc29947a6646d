// Package token reads and writes rsync's per-file token stream: literal runs
// and references to basis blocks, plain or compressed (zlib, zlibx, zstd, lz4).
package token

import (
	"fmt"
	"math"
)

// Codec is a compression method of the token stream, numbered as rsync's
// CPRES_* values.
type Codec int

// Codecs, numbered as in rsync.h.
const (
	None  Codec = 0 // plain tokens (no -z)
	Zlib  Codec = 1 // deflate, matched blocks inserted into the history
	ZlibX Codec = 2 // deflate without history insertion ("zlibx")
	LZ4   Codec = 3 // independent LZ4 blocks
	Zstd  Codec = 4 // one zstd stream for the whole session
)

// ParseCodec maps a --compress-choice name to its Codec.
func ParseCodec(name string) (Codec, error) {
	switch name {
	case "none":
		return None, nil
	case "zlib":
		return Zlib, nil
	case "zlibx":
		return ZlibX, nil
	case "lz4":
		return LZ4, nil
	case "zstd":
		return Zstd, nil
	}
	return None, fmt.Errorf("token: unknown compression %q", name)
}

// String returns the codec's name as rsync spells it.
func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Zlib:
		return "zlib"
	case ZlibX:
		return "zlibx"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Codec(%d)", int(c))
}

func (c Codec) valid() bool { return c >= None && c <= Zstd }

// LevelNotSpecified stands for an absent --compress-level (rsync's
// CLVL_NOT_SPECIFIED).
const LevelNotSpecified = math.MinInt32

// Compression level bounds per codec (token.c init_compression_level).
const (
	ZlibMinLevel     = 1
	ZlibMaxLevel     = 9
	ZlibDefaultLevel = 6
	ZstdMinLevel     = -(1 << 17) // ZSTD_minCLevel()
	ZstdMaxLevel     = 22         // ZSTD_maxCLevel()
	ZstdDefaultLevel = 3          // ZSTD_CLEVEL_DEFAULT
)

// ResolveLevel applies rsync's rules to a requested --compress-level (or
// LevelNotSpecified): it fills in the codec's default, clamps to its range,
// and turns compression off (None) where rsync does (zlib/zlibx level 0).
func ResolveLevel(c Codec, level int) (Codec, int) {
	switch c {
	case Zlib, ZlibX:
		if level == -1 || level == LevelNotSpecified { // Z_DEFAULT_COMPRESSION
			return c, ZlibDefaultLevel
		}
		if level == 0 {
			return None, 0
		}
		return c, min(max(level, ZlibMinLevel), ZlibMaxLevel)
	case Zstd:
		if level == 0 || level == LevelNotSpecified {
			return c, ZstdDefaultLevel
		}
		return c, min(max(level, ZstdMinLevel), ZstdMaxLevel)
	case LZ4:
		return c, 0
	}
	return c, level
}

// Wire constants (token.c, rsync.h).
const (
	// ChunkSize is rsync's CHUNK_SIZE: stock senders split literal runs
	// into pieces of at most this many bytes.
	ChunkSize = 32 * 1024
	// MaxDataCount bounds the payload of one DEFLATED_DATA chunk.
	MaxDataCount = 16383
	// MaxLiteralRun bounds a plain literal run this decoder accepts. Stock
	// senders use ChunkSize, other implementations up to 256 KiB; runs are
	// streamed, so this only rejects nonsense.
	MaxLiteralRun = 1 << 24
	// MaxZstdWindow is the largest zstd window accepted: libzstd's default
	// limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT), so what stock accepts we do.
	MaxZstdWindow = 1 << 27

	flagEnd          = 0x00 // END_FLAG
	flagTokenLong    = 0x20 // + int32 token number
	flagTokenRunLong = 0x21 // + int32 token number and 16-bit run count
	flagData         = 0x40 // + 6-bit high length, then low length byte
	flagTokenRel     = 0x80 // + 6-bit relative token number
	flagTokenRunRel  = 0xc0 // ditto with 16-bit run count

	maxTokenIndex = 0x7ffffffe // MAX_TOKEN_INDEX
	maxRun        = 65535      // longest run a sender codes at once

	// lz4OutSize is the stock receiver's output buffer for one lz4 chunk:
	// MAX(LZ4_compressBound(CHUNK_SIZE), MAX_DATA_COUNT+2).
	lz4OutSize = ChunkSize + ChunkSize/255 + 16

	// deflateWindow is the history a deflate stream may refer back to.
	deflateWindow = 32 * 1024
	// storedMax is the largest stored deflate block (see_deflate_token).
	storedMax = 0xffff
)

// appendHistory appends the bytes a matched block adds to the deflate
// history (token.c see_deflate_token / send_deflated_token) to hist and
// keeps at most the last deflateWindow bytes. The block goes in as stored
// pieces of at most 0xffff bytes; before protocol 31 every piece restarts at
// the block's first byte (a quirk both ends share).
func appendHistory(hist, block []byte, protocol int) []byte {
	var tail []byte // what the last deflateWindow bytes of the pieces are
	var prev []byte // the piece before the last one, if it matters
	switch {
	case protocol >= 31 || len(block) <= storedMax:
		tail = block
	default:
		rem := len(block) % storedMax
		if rem == 0 {
			rem = storedMax
		}
		tail = block[:rem]
		prev = block[:storedMax]
	}
	if len(tail) >= deflateWindow {
		return append(hist[:0], tail[len(tail)-deflateWindow:]...)
	}
	if prev != nil {
		need := deflateWindow - len(tail)
		hist = pushHistory(hist, prev[len(prev)-need:])
	}
	return pushHistory(hist, tail)
}

// pushHistory appends p to hist, keeping the last deflateWindow bytes. hist
// has room for two windows so that sliding happens once per window.
func pushHistory(hist, p []byte) []byte {
	if len(p) >= deflateWindow {
		return append(hist[:0], p[len(p)-deflateWindow:]...)
	}
	if len(hist)+len(p) > 2*deflateWindow {
		keep := deflateWindow - len(p)
		n := copy(hist, hist[len(hist)-keep:])
		hist = hist[:n]
	}
	return append(hist, p...)
}

// window returns the last deflateWindow bytes of hist.
func window(hist []byte) []byte {
	if len(hist) > deflateWindow {
		return hist[len(hist)-deflateWindow:]
	}
	return hist
}
