package checksum

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
	//lint:ignore SA1019 rsync peers use MD4; compatibility, not security, is the goal here.
	"golang.org/x/crypto/md4"
)

// fileHash is a streaming digest with rsync's output byte order.
type fileHash struct {
	kind   Kind
	prefix []byte // hashed first after every Reset (md4-old transfer sums)
	h      hash.Hash
	x64    *xxhash.Digest
	x3     *xxh3.Hasher
	x128   *xxh3.Hasher128
}

// NewFile returns the whole-file transfer sum that the sender appends after a
// file's data and the receiver checks before keeping the file
// (sum_init/sum_update/sum_end). Only the implied md4 of protocols 27..29
// (MD4Old) is seeded: the 4 little-endian seed bytes, even a zero seed, come
// before the data. Every other kind ignores seed, xxh* included (they use
// seed 0 here, unlike block sums). For None the sum is one zero byte.
//
// For protocols 27..32 every md4 here is plain RFC 1320 MD4: the unpadded
// "busted" digest of 64-byte multiples and the 32-bit bit count belong to
// protocols 26 and older. Default(protocol) with the session seed also gives
// rsync's xattr sums. kind must be valid (see NewBlock); others panic.
func NewFile(kind Kind, protocol int, seed int32) hash.Hash {
	if !kind.valid() {
		panic(fmt.Sprintf("checksum.NewFile: invalid kind %d (protocol %d)", int(kind), protocol))
	}
	f := newFileHash(kind)
	if kind == MD4Old {
		f.prefix = binary.LittleEndian.AppendUint32(nil, uint32(seed))
		f.Reset()
	}
	return f
}

// ErrNoFileSum is wrapped by NewFileSum for None: rsync refuses --checksum
// with the "none" algorithm.
var ErrNoFileSum = errors.New("invalid checksum-choice for --checksum")

// NewFileSum returns the digest of a whole file as --checksum (-c) sends it
// in the file list and compares it (file_checksum). It is never seeded, for
// any kind, so it takes no seed; md4 of either kind is plain MD4.
func NewFileSum(kind Kind, protocol int) (hash.Hash, error) {
	if kind == None || !kind.valid() {
		return nil, fmt.Errorf("file checksum %s (protocol %d): %w", kind, protocol, ErrNoFileSum)
	}
	return newFileHash(kind), nil
}

func newFileHash(kind Kind) *fileHash {
	f := &fileHash{kind: kind}
	switch kind {
	case MD4Old, MD4:
		f.h = md4.New()
	case MD5:
		f.h = md5.New()
	case SHA1:
		f.h = sha1.New()
	case XXH64:
		f.x64 = xxhash.New()
	case XXH3:
		f.x3 = xxh3.New()
	case XXH128:
		f.x128 = xxh3.New128()
	}
	return f
}

// Write adds data to the running sum. It never fails.
func (f *fileHash) Write(p []byte) (int, error) {
	switch {
	case f.h != nil:
		return f.h.Write(p)
	case f.x64 != nil:
		return f.x64.Write(p)
	case f.x3 != nil:
		return f.x3.Write(p)
	case f.x128 != nil:
		return f.x128.Write(p)
	}
	return len(p), nil // None
}

// Sum appends the digest to b without changing the running state.
func (f *fileHash) Sum(b []byte) []byte {
	switch {
	case f.h != nil:
		return f.h.Sum(b)
	case f.x64 != nil:
		return binary.LittleEndian.AppendUint64(b, f.x64.Sum64())
	case f.x3 != nil:
		return binary.LittleEndian.AppendUint64(b, f.x3.Sum64())
	case f.x128 != nil:
		return append128(b, f.x128.Sum128())
	}
	return append(b, 0) // None: sum_end writes a single '\0'
}

// Reset starts a new sum, seed prefix included.
func (f *fileHash) Reset() {
	switch {
	case f.h != nil:
		f.h.Reset()
		if f.prefix != nil {
			_, _ = f.h.Write(f.prefix)
		}
	case f.x64 != nil:
		f.x64.Reset()
	case f.x3 != nil:
		f.x3.Reset()
	case f.x128 != nil:
		f.x128.Reset()
	}
}

// Size returns the digest length, f.kind.Size().
func (f *fileHash) Size() int { return f.kind.Size() }

// BlockSize returns the underlying hash's block size (1 for None).
func (f *fileHash) BlockSize() int {
	switch {
	case f.h != nil:
		return f.h.BlockSize()
	case f.x64 != nil:
		return f.x64.BlockSize()
	case f.x3 != nil:
		return f.x3.BlockSize()
	case f.x128 != nil:
		return f.x128.BlockSize()
	}
	return 1
}
