// Package proxyproto decodes the PROXY protocol header (haproxy's v1 text
// and v2 binary forms) that a load balancer puts before a client's stream.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Bounds of a header: the v1 line is at most 107 bytes with its CRLF (the
// spec's limit); a v2 header's address and TLV block is at most MaxV2Len.
const (
	MaxV1Len = 107
	MaxV2Len = 4096
)

// v2Sig opens every v2 header.
var v2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Header is what a PROXY header says. Src is the original client; a zero
// Src (v1 UNKNOWN, v2 LOCAL, or a v2 family other than TCP/UDP over IPv4 or
// IPv6) means the connection's own peer address stands.
type Header struct {
	Version  int // 1 or 2
	Src, Dst netip.AddrPort
}

// ErrNotProxy is returned when the stream does not start with a PROXY header.
var ErrNotProxy = errors.New("proxyproto: no PROXY protocol header")

// Read decodes one header from r, reading nothing beyond it. Any error means
// the connection must be dropped: the stream position is then undefined.
func Read(r *bufio.Reader) (Header, error) {
	first, err := r.Peek(5)
	if err != nil {
		return Header{}, fmt.Errorf("proxyproto: reading header: %w", eof(err))
	}
	switch {
	case bytes.Equal(first, []byte("PROXY")):
		return readV1(r)
	case bytes.Equal(first, v2Sig[:5]):
		return readV2(r)
	}
	return Header{}, ErrNotProxy
}

func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readV1 decodes "PROXY TCP4 src dst sport dport\r\n" (TCP6 alike) or
// "PROXY UNKNOWN ...\r\n".
func readV1(r *bufio.Reader) (Header, error) {
	var buf [MaxV1Len]byte
	n := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			return Header{}, fmt.Errorf("proxyproto: v1 header: %w", eof(err))
		}
		if n == len(buf) {
			return Header{}, fmt.Errorf("proxyproto: v1 header longer than %d bytes", MaxV1Len)
		}
		buf[n] = c
		n++
		if c == '\n' {
			break
		}
	}
	line, ok := bytes.CutSuffix(buf[:n], []byte("\r\n"))
	if !ok {
		return Header{}, errors.New("proxyproto: v1 header does not end in CRLF")
	}
	if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, 0) >= 0 {
		return Header{}, errors.New("proxyproto: v1 header holds a stray CR or NUL")
	}
	f := strings.Split(string(line), " ")
	if len(f) < 2 || f[0] != "PROXY" {
		return Header{}, fmt.Errorf("proxyproto: bad v1 header %q", line)
	}
	h := Header{Version: 1}
	switch f[1] {
	case "UNKNOWN":
		return h, nil // whatever follows is ignored, as the spec says
	case "TCP4", "TCP6":
	default:
		return Header{}, fmt.Errorf("proxyproto: v1 header: unknown protocol %q", f[1])
	}
	if len(f) != 6 {
		return Header{}, fmt.Errorf("proxyproto: bad v1 header %q", line)
	}
	src, err1 := parseV1Addr(f[2], f[1])
	dst, err2 := parseV1Addr(f[3], f[1])
	sport, err3 := parsePort(f[4])
	dport, err4 := parsePort(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Header{}, fmt.Errorf("proxyproto: v1 header %q: %w", line, err)
	}
	h.Src = netip.AddrPortFrom(src, sport)
	h.Dst = netip.AddrPortFrom(dst, dport)
	return h, nil
}

func parseV1Addr(s, proto string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" || (proto == "TCP4") != a.Is4() {
		return netip.Addr{}, fmt.Errorf("address %q is not %s", s, proto)
	}
	return a.Unmap(), nil
}

func parsePort(s string) (uint16, error) {
	// Decimal digits only, no sign or leading zero: what the spec allows.
	if s == "" || len(s) > 5 || (s[0] == '0' && len(s) > 1) || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad port %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n == 0 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

// readV2 decodes the binary form: signature, version/command, family,
// length, addresses, then TLVs, which are skipped.
func readV2(r *bufio.Reader) (Header, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return Header{}, fmt.Errorf("proxyproto: v2 header: %w", eof(err))
	}
	if !bytes.Equal(fixed[:12], v2Sig) {
		return Header{}, ErrNotProxy
	}
	ver, cmd := fixed[12]>>4, fixed[12]&0x0f
	fam := fixed[13]
	size := int(binary.BigEndian.Uint16(fixed[14:]))
	if ver != 2 {
		return Header{}, fmt.Errorf("proxyproto: v2 header: version %d", ver)
	}
	if cmd > 1 {
		return Header{}, fmt.Errorf("proxyproto: v2 header: unknown command %d", cmd)
	}
	if size > MaxV2Len {
		return Header{}, fmt.Errorf("proxyproto: v2 header: length %d over %d", size, MaxV2Len)
	}
	// Only the addresses are kept; the rest (TLVs) is skipped.
	var addrs [36]byte
	b := addrs[:min(size, len(addrs))]
	if _, err := io.ReadFull(r, b); err != nil {
		return Header{}, fmt.Errorf("proxyproto: v2 header: %w", eof(err))
	}
	if _, err := r.Discard(size - len(b)); err != nil {
		return Header{}, fmt.Errorf("proxyproto: v2 header: %w", eof(err))
	}
	h := Header{Version: 2}
	if cmd == 0 || fam&0x0f != 1 {
		// LOCAL (the proxy's own connection, e.g. a health check), or not
		// a stream: the peer's address stands, as in stock rsyncd.
		return h, nil
	}
	switch fam >> 4 {
	case 1: // AF_INET
		if len(b) < 12 {
			return Header{}, fmt.Errorf("proxyproto: v2 header: %d bytes for IPv4 addresses", size)
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[0:4])), binary.BigEndian.Uint16(b[8:]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[10:]))
	case 2: // AF_INET6
		if len(b) < 36 {
			return Header{}, fmt.Errorf("proxyproto: v2 header: %d bytes for IPv6 addresses", size)
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[0:16])).Unmap(), binary.BigEndian.Uint16(b[32:]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[16:32])).Unmap(), binary.BigEndian.Uint16(b[34:]))
	}
	// AF_UNSPEC and AF_UNIX carry no address to use: the peer's stands.
	return h, nil
}
