// Package checksum computes rsync's checksums as stock rsync 3.5.0 does for
// protocols 27 to 32: the rolling sum, block and whole-file strong sums, and their negotiation.
package checksum

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is a strong checksum algorithm. The values are rsync's CSUM_* numbers
// (lib/md-defines.h); the md4 variants of protocols older than 27 are absent
// because this package serves protocols 27 and newer only.
type Kind int

// The algorithms rsync 3.5.0 can use on protocols 27..32.
const (
	None   Kind = 0 // "none": no strong sum; rsync forces whole-file transfers
	MD4Old Kind = 3 // the implied md4 of protocols 27..29 (CSUM_MD4_OLD)
	MD4    Kind = 4 // md4 chosen by name (negotiated or --checksum-choice)
	MD5    Kind = 5
	XXH64  Kind = 6
	XXH3   Kind = 7 // XXH3 64-bit
	XXH128 Kind = 8 // XXH3 128-bit
	SHA1   Kind = 9
)

// ErrNegotiate is wrapped by Choose when no algorithm is common to both lists.
var ErrNegotiate = errors.New("failed to negotiate a checksum choice")

// names lists every name rsync accepts (valid_checksums_items) with its
// Kind; "xxhash" is rsync's alias of xxh64.
var names = []struct {
	name string
	kind Kind
}{
	{"xxh128", XXH128},
	{"xxh3", XXH3},
	{"xxh64", XXH64},
	{"xxhash", XXH64},
	{"md5", MD5},
	{"md4", MD4},
	{"sha1", SHA1},
	{"none", None},
}

// Names returns the checksum list a daemon sends in the negotiation, in
// rsync 3.5.0's order of preference: aliases are left out, and "none" is
// offered because the daemon is the server side (get_default_nno_list).
func Names() []string {
	return []string{"xxh128", "xxh3", "xxh64", "md5", "md4", "sha1", "none"}
}

// ParseKind returns the algorithm of a checksum name, compared without
// regard to ASCII case as rsync does (strncasecmp). "auto" is not a Kind;
// see ParseChoice.
func ParseKind(name string) (Kind, error) {
	for _, n := range names {
		if asciiEqualFold(name, n.name) {
			return n.kind, nil
		}
	}
	return 0, fmt.Errorf("unknown checksum name: %q", name)
}

// asciiEqualFold is strings.EqualFold restricted to ASCII letters: rsync does
// not fold Unicode, so "ſha1" (long s) must not match "sha1".
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// String returns rsync's name of the algorithm.
func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case MD4Old, MD4:
		return "md4"
	case MD5:
		return "md5"
	case XXH64:
		return "xxh64"
	case XXH3:
		return "xxh3"
	case XXH128:
		return "xxh128"
	case SHA1:
		return "sha1"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Size returns the digest length in bytes (csum_len_for_type): the length of
// a whole-file sum on the wire and the upper bound of s2length. It is 1 for
// None (rsync sends a single zero byte) and 0 for an invalid Kind.
func (k Kind) Size() int {
	switch k {
	case None:
		return 1
	case MD4Old, MD4, MD5, XXH128:
		return 16
	case XXH64, XXH3:
		return 8
	case SHA1:
		return 20
	}
	return 0
}

func (k Kind) valid() bool { return k.Size() != 0 }

// Default returns the algorithm used when none was negotiated or chosen:
// md5 from protocol 30 on, otherwise the old md4 (parse_csum_name(NULL)).
// It is also the algorithm of xattr sums. protocol must be 27 or newer.
func Default(protocol int) Kind {
	if protocol >= 30 {
		return MD5
	}
	return MD4Old
}

// ParseChoice parses a --checksum-choice argument as the server does: "X" or
// "X,Y" where X is the transfer (block and whole-file) algorithm and Y the
// --checksum file-list one. "auto" and "auto,auto" mean no choice: chosen is
// false and the session negotiates (or uses Default) as if the option were
// absent. In any other choice "auto" stands for Default(protocol). When a
// choice is made, no negotiation takes place.
func ParseChoice(protocol int, choice string) (xfer, file Kind, chosen bool, err error) {
	if asciiEqualFold(choice, "auto") || asciiEqualFold(choice, "auto,auto") {
		return 0, 0, false, nil
	}
	one := func(name string) (Kind, error) {
		if asciiEqualFold(name, "auto") {
			return Default(protocol), nil
		}
		return ParseKind(name)
	}
	xname, fname, found := strings.Cut(choice, ",")
	if xfer, err = one(xname); err != nil {
		return 0, 0, false, fmt.Errorf("checksum choice %q: %w", choice, err)
	}
	if !found {
		return xfer, xfer, true, nil
	}
	if file, err = one(fname); err != nil {
		return 0, 0, false, fmt.Errorf("checksum choice %q: %w", choice, err)
	}
	return xfer, file, true, nil
}

// Choose is the server's side of the checksum negotiation (compat.c,
// negotiate_the_strings). serverList is the daemon's own list (nil means
// Names()); clientList is the client's list split on spaces, in its order of
// preference.
//
// The result is the first name of the client's list that the server lists,
// which is what every client computes for itself (its best name among the
// server's). Stock rsync 3.5.0 as a server instead picks its own best name
// among the client's, and so falls out of step with a client whose list
// puts a weaker name first (RSYNC_CHECKSUM_LIST="sha1 md5": server md5,
// client sha1, a protocol error). With the default lists both rules give
// xxh128.
//
// negotiate is true only when the client has the 'v' capability (protocol
// 30+, rsync 3.2+) and sent no --checksum-choice. Otherwise no list is
// exchanged: the client is taken to offer "md5" (protocol 30+) or "md4", which
// the server list must contain, and the result is Default(protocol).
func Choose(protocol int, serverList, clientList []string, negotiate bool) (Kind, error) {
	if len(serverList) == 0 {
		serverList = Names()
	}
	offered := func(k Kind) bool {
		for _, name := range serverList {
			if s, err := ParseKind(name); err == nil && s == k {
				return true
			}
		}
		return false // rsync drops unknown names from its own list
	}
	if !negotiate {
		implied := MD4
		if protocol >= 30 {
			implied = MD5
		}
		if !offered(implied) {
			return 0, fmt.Errorf("client implies %s, server list %q: %w", implied, serverList, ErrNegotiate)
		}
		return Default(protocol), nil
	}
	for _, name := range clientList {
		if k, err := ParseKind(name); err == nil && offered(k) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("client list %q, server list %q: %w", clientList, serverList, ErrNegotiate)
}
