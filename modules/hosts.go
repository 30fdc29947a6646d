package modules

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Host names rsyncd matches host patterns against when it has no real name
// for the client: the reverse lookup failed, or "reverse lookup" is off.
const (
	UnknownHost      = "UNKNOWN"
	UndeterminedHost = "UNDETERMINED"
)

// Resolver returns the addresses of a host name (forward lookup).
type Resolver func(host string) ([]netip.Addr, error)

// HostList is a parsed "hosts allow" or "hosts deny" value.
type HostList struct {
	entries []hostEntry
}

type hostEntry struct {
	token   string // lower-cased, as configured
	isAddr  bool
	addr    netip.Addr // without zone
	zone    string
	mask    [16]byte // first addr.BitLen()/8 bytes used
	pattern string   // host name or wildcard pattern
	plain   bool     // plain host name: eligible for a forward lookup
}

// HostError is one bad token of a hosts list. Index is the position of the
// entry (in the slice given to ParseHosts) that holds the token.
type HostError struct {
	Index int
	Token string
	Err   error
}

func (e *HostError) Error() string { return fmt.Sprintf("entry %q: %v", e.Token, e.Err) }

func (e *HostError) Unwrap() error { return e.Err }

// ParseHosts parses the forms rsyncd.conf(5) allows in "hosts allow" and
// "hosts deny". Each entry may hold several tokens separated by spaces,
// tabs or commas; tokens are lower-cased as rsyncd does. A token is an IPv4
// or IPv6 address (IPv6 may carry a %zone), optionally followed by
// /prefixlen or /netmask (netmask in the address's own notation, e.g.
// 255.255.255.0 or ffff:ffff::), or a host name, possibly with wildcards
// (* ? [...]). Netgroups (@name) are not supported and are an error, as is
// anything that looks like an address but does not parse, so a typo never
// silently narrows a deny list. Every bad token is reported, as a
// *multierror.Error of *HostError; the list returned holds the good ones.
func ParseHosts(entries []string) (HostList, error) {
	var l HostList
	var errs *multierror.Error
	for i, entry := range entries {
		for _, tok := range strings.FieldsFunc(strings.ToLower(entry), isHostSep) {
			e, err := parseHostToken(tok)
			if err != nil {
				errs = multierror.Append(errs, &HostError{Index: i, Token: tok, Err: err})
				continue
			}
			l.entries = append(l.entries, e)
		}
	}
	return l, errs.ErrorOrNil()
}

func isHostSep(r rune) bool {
	return r == ' ' || r == ',' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

func parseHostToken(tok string) (hostEntry, error) {
	e := hostEntry{token: tok}
	if tok[0] == '@' {
		return e, errors.New("netgroups (@name) are not supported")
	}
	host, mask, hasMask := strings.Cut(tok, "/")
	// rsyncd treats a token as an address when it is made of digits and
	// dots only, or holds a colon; everything else is a host name.
	if host != "" && (strings.Trim(host, "0123456789.") == "" || strings.Contains(host, ":")) {
		return parseAddrToken(e, host, mask, hasMask)
	}
	if hasMask {
		return e, errors.New("a /mask needs an IP address before it")
	}
	if err := checkHostPattern(host); err != nil {
		return e, err
	}
	e.pattern = host
	e.plain = !strings.ContainsAny(host, `*?[\`)
	return e, nil
}

func parseAddrToken(e hostEntry, host, mask string, hasMask bool) (hostEntry, error) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return e, fmt.Errorf("not an IP address: %w", err)
	}
	e.isAddr = true
	e.zone = a.Zone()
	e.addr = a.WithZone("")
	n := e.addr.BitLen() / 8
	if !hasMask {
		for i := 0; i < n; i++ {
			e.mask[i] = 0xff
		}
		return e, nil
	}
	if m, err := netip.ParseAddr(mask); err == nil && m.Zone() == "" && m.Is4() == e.addr.Is4() {
		copy(e.mask[:], m.AsSlice())
		return e, nil
	}
	bits, err := strconv.Atoi(mask)
	if err != nil || bits < 0 || bits > e.addr.BitLen() || strings.Trim(mask, "0123456789") != "" {
		return e, fmt.Errorf("bad mask %q: want a prefix length 0-%d or a netmask address", mask, e.addr.BitLen())
	}
	for i := 0; i < n && bits > 0; i++ {
		if bits >= 8 {
			e.mask[i] = 0xff
			bits -= 8
		} else {
			e.mask[i] = 0xff << (8 - bits)
			bits = 0
		}
	}
	return e, nil
}

// checkHostPattern accepts host name characters and the wildcard syntax
// (* ? [set] [!set] [a-z] \c) that rsyncd's wildmatch gives host patterns.
func checkHostPattern(p string) error {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '*', c == '?':
		case c == '\\':
			if i+1 == len(p) {
				return errors.New("pattern ends in a backslash")
			}
			i++
		case c == '[':
			_, w := matchSet(p[i:], 0)
			if w == 0 {
				return errors.New("unclosed '[' in pattern")
			}
			if strings.Contains(p[i:i+w], "[:") {
				return errors.New("character classes like [:alpha:] are not supported")
			}
			i += w - 1
		case c >= 0x80:
			return errors.New("non-ASCII host names are not supported; write the punycode (xn--) form")
		default:
			return fmt.Errorf("%q is not valid in a host name or pattern", c)
		}
	}
	return nil
}

// Len is the number of tokens in the list.
func (l HostList) Len() int { return len(l.entries) }

// String returns the tokens, space separated.
func (l HostList) String() string {
	toks := make([]string, len(l.entries))
	for i, e := range l.entries {
		toks[i] = e.token
	}
	return strings.Join(toks, " ")
}

// HasNames reports whether the list holds a host name or pattern that
// needs the client's name (anything but addresses and a lone "*").
func (l HostList) HasNames() bool {
	for i := range l.entries {
		if !l.entries[i].isAddr && l.entries[i].pattern != "*" {
			return true
		}
	}
	return false
}

// Match reports whether addr or hostname matches a token of the list,
// without forward lookups. hostname "" matches no name pattern.
func (l HostList) Match(addr netip.Addr, hostname string) bool {
	ok, _ := l.match(addr.Unmap(), strings.ToLower(hostname), nil, false)
	return ok
}

// match: addr must be unmapped and hostname lower-cased. With deny set, a
// host name whose forward lookup fails counts as a match: rsyncd fails
// closed there, since it cannot prove the client is not that host. byName
// is the list's name whose forward lookup matched addr, if that decided.
func (l HostList) match(addr netip.Addr, hostname string, resolve Resolver, deny bool) (ok bool, byName string) {
	for i := range l.entries {
		e := &l.entries[i]
		if e.isAddr {
			if e.matchAddr(addr) {
				return true, ""
			}
			continue
		}
		if hostname != "" && wildMatch(e.pattern, hostname) {
			return true, ""
		}
		if e.plain && resolve != nil {
			addrs, err := resolve(e.pattern)
			if err != nil {
				if deny {
					return true, ""
				}
				continue
			}
			for _, a := range addrs {
				if a.Unmap().WithZone("") == addr.WithZone("") {
					return true, e.pattern
				}
			}
		}
	}
	return false, ""
}

func (e *hostEntry) matchAddr(addr netip.Addr) bool {
	if !addr.IsValid() || addr.Is4() != e.addr.Is4() {
		return false
	}
	if e.zone != "" && !strings.EqualFold(addr.Zone(), e.zone) {
		return false
	}
	var a, t [16]byte
	if addr.Is4() {
		a4, t4 := addr.As4(), e.addr.As4()
		copy(a[:], a4[:])
		copy(t[:], t4[:])
	} else {
		a, t = addr.As16(), e.addr.As16()
	}
	for i := 0; i < addr.BitLen()/8; i++ {
		if (a[i]^t[i])&e.mask[i] != 0 {
			return false
		}
	}
	return true
}

// Allowed applies rsyncd's host rule (access.c allow_access) without forward
// lookups; see AllowedLookup.
func (m *Module) Allowed(addr netip.Addr, hostname string) bool {
	return m.AllowedLookup(addr, hostname, nil)
}

// AllowedLookup reports whether a client may use the module, by rsyncd's
// rule: a match in hosts allow admits; with an allow list but no deny list,
// anything else is refused; a match in hosts deny refuses; all else is
// admitted. IPv4-mapped addresses are treated as IPv4, as rsyncd does.
// hostname is the client's verified reverse name, or "" when there is none:
// then name patterns see UnknownHost (or UndeterminedHost when ReverseLookup
// is off), so "hosts deny: *" still refuses everyone, as in rsyncd. resolve
// is used for plain host names when ForwardLookup is set; nil disables
// forward lookups. Lists that do not parse refuse all access (fail closed).
func (m *Module) AllowedLookup(addr netip.Addr, hostname string, resolve Resolver) bool {
	ok, _ := m.Access(addr, hostname, resolve)
	return ok
}

// Access is AllowedLookup that also returns the host name rsyncd goes on
// with (access.c): hostname, except that when it is UndeterminedHost
// (reverse lookup off) and a list's host name matched the address by its
// forward lookup, that name stands for the client from then on. host is
// "" when hostname was "".
func (m *Module) Access(addr netip.Addr, hostname string, resolve Resolver) (ok bool, host string) {
	host = hostname
	allow, err := ParseHosts(m.HostsAllow)
	if err != nil {
		return false, host
	}
	deny, err := ParseHosts(m.HostsDeny)
	if err != nil {
		return false, host
	}
	if hostname == "" {
		hostname = UnknownHost
		if !m.ReverseLookup {
			hostname = UndeterminedHost
		}
	}
	if !m.ForwardLookup {
		resolve = nil
	}
	addr = addr.Unmap()
	match := func(l HostList, deny bool) bool {
		ok, byName := l.match(addr, strings.ToLower(hostname), resolve, deny)
		if byName != "" && hostname == UndeterminedHost {
			hostname, host = byName, byName
		}
		return ok
	}
	if allow.Len() > 0 {
		if match(allow, false) {
			return true, host
		}
		if deny.Len() == 0 {
			return false, host
		}
	}
	if deny.Len() > 0 && match(deny, true) {
		return false, host
	}
	return true, host
}

// wildMatch matches a lower-cased host name against a lower-cased pattern:
// * any run, ? one character, [set] with ! or ^ negation and ranges, \c a
// literal c. Backtracking only to the last star keeps it linear-ish.
func wildMatch(p, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(p) {
			ok, w := false, 1
			switch p[px] {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				ok = true
			case '[':
				ok, w = matchSet(p[px:], s[sx])
				if w == 0 {
					return false
				}
			case '\\':
				if px+1 < len(p) {
					ok, w = p[px+1] == s[sx], 2
				}
			default:
				ok = p[px] == s[sx]
			}
			if ok {
				px += w
				sx++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		px, sx = starP+1, starS
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

// matchSet matches c against the set that opens p ("[...]"), returning the
// set's width in p, or 0 when the set is not closed.
func matchSet(p string, c byte) (bool, int) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	matched := false
	for first := true; i < len(p); first = false {
		lo := p[i]
		if lo == ']' && !first {
			return matched != negate, i + 1
		}
		if lo == '\\' && i+1 < len(p) {
			i++
			lo = p[i]
		}
		i++
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi = p[i+1]
			if hi == '\\' && i+2 < len(p) {
				hi = p[i+2]
				i++
			}
			i += 2
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return false, 0
}
