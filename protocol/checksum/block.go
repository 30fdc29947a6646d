package checksum

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
	//lint:ignore SA1019 rsync peers use MD4; compatibility, not security, is the goal here.
	"golang.org/x/crypto/md4"
)

// Option adjusts how a Block is seeded.
type Option func(*blockOptions)

type blockOptions struct {
	legacySeedOrder bool
}

// LegacySeedOrder makes MD5 block sums take the seed after the data instead
// of before. rsync does this when the peer lacks CF_CHKSUM_SEED_FIX (the 'C'
// capability, new in rsync 3.1.2), i.e. for rsync 3.0.0..3.1.1 clients on
// protocols 30 and 31, whose algorithm is always the default md5. It changes
// nothing for other kinds.
func LegacySeedOrder() Option {
	return func(o *blockOptions) { o.legacySeedOrder = true }
}

// Block computes the strong sum of one block as get_checksum2 does, with the
// session's checksum seed. A Block is not safe for concurrent use; it reuses
// its hash state so that Sum does not allocate.
//
// Where the seed goes, per algorithm (seed != 0 only; a zero seed adds nothing):
//   - xxh64, xxh3, xxh128: the hash's own seed, the int32 sign-extended to 64 bits;
//   - md5: 4 little-endian bytes before the data (after it with LegacySeedOrder);
//   - sha1: before the data (rsync hashes it through OpenSSL, which puts it first);
//   - md4 (both kinds): after the data, as rsync's built-in MD4 does. An rsync
//     whose OpenSSL still provides MD4 (OpenSSL 1.x) puts a negotiated md4's
//     seed first instead; the mismatch only costs block matches, not correctness.
type Block struct {
	kind      Kind
	seed      int32
	seedBytes [4]byte
	seedFirst bool
	h         hash.Hash      // md4, md5, sha1
	x64       *xxhash.Digest // xxh64
}

// NewBlock returns a block summer for kind with the session's checksum seed.
// protocol is the negotiated protocol version (27..32). kind must be a value
// from ParseKind, ParseChoice, Choose or Default; any other value panics, as
// it is a programming error.
func NewBlock(kind Kind, protocol int, seed int32, opts ...Option) *Block {
	var o blockOptions
	for _, opt := range opts {
		opt(&o)
	}
	b := &Block{kind: kind, seed: seed}
	binary.LittleEndian.PutUint32(b.seedBytes[:], uint32(seed))
	switch kind {
	case None, XXH3, XXH128:
	case XXH64:
		b.x64 = xxhash.NewWithSeed(seed64(seed))
	case MD4Old, MD4:
		b.h = md4.New()
	case MD5:
		b.h = md5.New()
		// Only a pre-3.1.2 peer's implied md5 appends the seed; whatever the
		// protocol, a named md5 goes through OpenSSL in stock builds, which
		// prepends it.
		b.seedFirst = !o.legacySeedOrder
	case SHA1:
		b.h = sha1.New()
		b.seedFirst = true
	default:
		panic(fmt.Sprintf("checksum.NewBlock: invalid kind %d (protocol %d)", int(kind), protocol))
	}
	return b
}

// Kind returns the block summer's algorithm.
func (b *Block) Kind() Kind { return b.kind }

// Size returns the length of the digest Sum appends (b.Kind().Size()).
func (b *Block) Size() int { return b.kind.Size() }

// Sum appends the full strong sum of the block data to dst and returns the
// extended slice; callers truncate it to s2length. For None, which rsync
// never uses on blocks (it forces whole-file transfers), it appends one zero
// byte.
func (b *Block) Sum(dst, data []byte) []byte {
	switch b.kind {
	case XXH64:
		b.x64.ResetWithSeed(seed64(b.seed))
		_, _ = b.x64.Write(data) // never fails
		return binary.LittleEndian.AppendUint64(dst, b.x64.Sum64())
	case XXH3:
		return binary.LittleEndian.AppendUint64(dst, xxh3.HashSeed(data, seed64(b.seed)))
	case XXH128:
		return append128(dst, xxh3.Hash128Seed(data, seed64(b.seed)))
	case None:
		return append(dst, 0)
	}
	b.h.Reset()
	if b.seed != 0 && b.seedFirst {
		_, _ = b.h.Write(b.seedBytes[:])
	}
	_, _ = b.h.Write(data)
	if b.seed != 0 && !b.seedFirst {
		_, _ = b.h.Write(b.seedBytes[:])
	}
	return b.h.Sum(dst)
}

// seed64 widens rsync's int checksum_seed the way C converts it to the
// unsigned long long seed of the xxHash functions: with sign extension.
func seed64(seed int32) uint64 { return uint64(int64(seed)) }

// append128 writes an XXH3-128 digest as rsync does: the low 64 bits then the
// high 64 bits, each little-endian (not xxHash's big-endian canonical form).
func append128(dst []byte, v xxh3.Uint128) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, v.Lo)
	return binary.LittleEndian.AppendUint64(dst, v.Hi)
}
