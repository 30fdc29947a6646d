// Package auth is rsyncd's daemon-side authentication: digest negotiation,
// challenge/response, secrets files with strict modes, and "auth users" rules.
package auth

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"os"
	"strings"
	"time"

	//lint:ignore SA1019 md4 is one of rsync's daemon-auth digests; compatibility is the point.
	"golang.org/x/crypto/md4"
)

// Digest is a daemon-auth message digest.
type Digest int

// The digests rsync 3.5.0 offers for daemon auth, strongest first. MD4Old is
// the seeded MD4 used when a client sent no digest list and the protocol is
// below 30; rsync names it "md4" too.
const (
	SHA512 Digest = iota + 1
	SHA256
	SHA1
	MD5
	MD4
	MD4Old
)

// digestNames is the daemon's advertised list, in preference order; a
// Digest's rank is its index here.
var digestNames = [...]string{"sha512", "sha256", "sha1", "md5", "md4"}

// ErrNoCommonDigest is what rsyncd sends (after "@ERROR: ") when the client's
// list holds none of its digests.
var ErrNoCommonDigest = errors.New("your client does not support one of our daemon-auth checksums: " +
	strings.Join(digestNames[:], " "))

// maxListLen is how much of the client's list rsync looks at (it copies the
// list into a 256-byte buffer, MAX_NSTR_STRLEN).
const maxListLen = 255

// DaemonDigests returns the list the daemon advertises in its greeting,
// strongest first: sha512 sha256 sha1 md5 md4.
func DaemonDigests() []string {
	return append([]string(nil), digestNames[:]...)
}

// String returns rsync's name for d ("md4" for MD4Old too).
func (d Digest) String() string {
	if d == MD4Old {
		return "md4"
	}
	if d >= SHA512 && d <= MD4 {
		return digestNames[d-SHA512]
	}
	return fmt.Sprintf("Digest(%d)", int(d))
}

// rank is the strength rank rsync uses for "auth digest" (0 is strongest).
func (d Digest) rank() int {
	if d == MD4Old {
		return int(MD4 - SHA512)
	}
	return int(d - SHA512)
}

// ParseDigest looks a digest up by name, case-insensitively, as rsync does.
func ParseDigest(name string) (Digest, bool) {
	for i, n := range digestNames {
		if asciiEqualFold(n, name) {
			return SHA512 + Digest(i), true
		}
	}
	return 0, false
}

// Negotiate picks the digest for a connection. protocol is the protocol
// version negotiated in the greeting exchange; clientList is the text after
// the version in the client's greeting and listSent says whether there was
// any (a greeting with no space after the version has none). Without a list
// rsync uses md5 from protocol 30 and seeded md4 below. With one, it takes
// its own most preferred digest that appears in the list, whatever the
// protocol; a list with none of them, even an empty one, is an error.
func Negotiate(protocol int, clientList string, listSent bool) (Digest, error) {
	if !listSent {
		if protocol >= 30 {
			return MD5, nil
		}
		return MD4Old, nil
	}
	if len(clientList) > maxListLen {
		clientList = clientList[:maxListLen]
	}
	// rsync's strings are NUL-terminated.
	if i := strings.IndexByte(clientList, 0); i >= 0 {
		clientList = clientList[:i]
	}
	best := len(digestNames)
	for tok := range strings.SplitSeq(clientList, " ") {
		if d, ok := ParseDigest(tok); ok && d.rank() < best {
			best = d.rank()
		}
	}
	if best == len(digestNames) {
		return 0, ErrNoCommonDigest
	}
	return SHA512 + Digest(best), nil
}

// newHash returns a hash for d with rsync's seed prefix already written:
// the old MD4 starts with the 4-byte little-endian checksum seed, which is 0
// for daemon auth.
func newHash(d Digest) (hash.Hash, error) {
	switch d {
	case SHA512:
		return sha512.New(), nil
	case SHA256:
		return sha256.New(), nil
	case SHA1:
		return sha1.New(), nil
	case MD5:
		return md5.New(), nil
	case MD4:
		return md4.New(), nil
	case MD4Old:
		h := md4.New()
		h.Write([]byte{0, 0, 0, 0})
		return h, nil
	}
	return nil, fmt.Errorf("auth: unknown digest %v", d)
}

// NewChallenge returns a fresh challenge for d, as rsyncd sends it after
// "@RSYNCD: AUTHREQD ": a digest of random bytes mixed with the peer's
// address and the time, base64 without padding (86 characters for sha512,
// 43 for sha256, 27 for sha1, 22 for md5 and md4).
func NewChallenge(d Digest, remoteAddr string) (string, error) {
	h, err := newHash(d)
	if err != nil {
		return "", err
	}
	var buf [32 + 32]byte
	if _, err := rand.Read(buf[:32]); err != nil {
		return "", fmt.Errorf("auth: challenge: %w", err)
	}
	// Same mix-in as rsync (address, time, pid); the entropy is the random part.
	in := buf[32:]
	copy(in[:16], remoteAddr)
	now := time.Now()
	binary.LittleEndian.PutUint32(in[16:], uint32(now.Unix()))
	binary.LittleEndian.PutUint32(in[20:], uint32(now.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(in[24:], uint32(os.Getpid()))
	h.Write(buf[:])
	return base64.RawStdEncoding.EncodeToString(h.Sum(nil)), nil
}

// Response returns what a client sends for password and challenge:
// base64 (unpadded) of the digest of password followed by challenge.
func Response(d Digest, password, challenge string) (string, error) {
	h, err := newHash(d)
	if err != nil {
		return "", err
	}
	// C strings: rsync hashes up to the first NUL.
	h.Write([]byte(cString(password)))
	h.Write([]byte(cString(challenge)))
	return base64.RawStdEncoding.EncodeToString(h.Sum(nil)), nil
}

// Verify reports whether response is the right answer to challenge for
// password, comparing in constant time.
func Verify(d Digest, password, challenge, response string) bool {
	want, err := Response(d, password, challenge)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(response)) == 1
}

// CheckMinDigest applies a module's "auth digest" floor: it returns nil when
// minDigest is empty or negotiated is at least as strong, and otherwise the
// error rsyncd logs before refusing to send a challenge.
func CheckMinDigest(p Peer, negotiated Digest, minDigest string) error {
	if minDigest == "" {
		return nil
	}
	floor, ok := ParseDigest(minDigest)
	if !ok {
		return &Error{Peer: p, Reason: fmt.Sprintf(
			"the configured 'auth digest = %s' is not a supported digest on this build", minDigest)}
	}
	if negotiated < SHA512 || negotiated > MD4Old || negotiated.rank() > floor.rank() {
		return &Error{Peer: p, Reason: fmt.Sprintf(
			"negotiated auth digest %s is weaker than the required 'auth digest = %s'", negotiated, minDigest)}
	}
	return nil
}

// asciiEqualFold compares like C's strcasecmp in the C locale: only ASCII
// letters fold (strings.EqualFold would also fold, say, U+017F to 's').
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if asciiLower(a[i]) != asciiLower(b[i]) {
			return false
		}
	}
	return true
}

func asciiLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// cString cuts s at its first NUL, where a C string would end.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}
