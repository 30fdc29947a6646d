package server

import (
	"bufio"
	"bytes"
	"net/netip"

	"github.com/rsyncd-go/rsyncd-go/modules"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
	"github.com/rsyncd-go/rsyncd-go/proxyproto"
)

// readProxyHeader reads the PROXY protocol header that opens the
// connection, as stock rsyncd does with "proxy protocol" set: only a peer
// in "proxy protocol hosts" may send one, anything else closes the
// connection without a word. It returns the bytes read past the header
// (the start of the client's stream) and false when the connection must be
// dropped. On success s.remote and s.log name the client the header gave.
func (s *conn) readProxyHeader() ([]byte, bool) {
	peer := s.remote
	trusted, err := modules.ParseHosts(s.cfg.ProxyProtocolHosts)
	if err != nil || trusted.Len() == 0 || !trusted.Match(peer.Addr(), "") {
		// Fail closed, as stock does: with no trusted list nobody may
		// claim an address (the loader refuses that configuration).
		if err != nil {
			s.log.Warn("proxy_protocol_hosts unusable", "err", err)
		}
		s.log.Warn("proxy protocol rejected from untrusted peer")
		return nil, false
	}
	// A small buffer: the header is short, and what is read past it must
	// be handed on to the handshake.
	br := bufio.NewReaderSize(s.c, 512)
	h, err := proxyproto.Read(br)
	if err != nil {
		s.log.Warn("bad PROXY protocol header; connection closed", "err", err)
		return nil, false
	}
	if h.Src.IsValid() {
		s.remote = netip.AddrPortFrom(h.Src.Addr().Unmap(), h.Src.Port())
		s.log = s.srv.Log.With("remote", s.remote.String(), "proxy", peer.String())
	} else {
		s.log = s.log.With("proxy_header", "local")
	}
	rest, _ := br.Peek(br.Buffered())
	return bytes.Clone(rest), true
}

// prefixed reads rest, then r.
func prefixed(rest []byte, r wire.NowReader) wire.NowReader {
	if len(rest) == 0 {
		return r
	}
	return &prefixReader{rest: rest, r: r}
}

type prefixReader struct {
	rest []byte
	r    wire.NowReader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.rest) == 0 {
		return p.r.Read(b)
	}
	n := copy(b, p.rest)
	p.rest = p.rest[n:]
	return n, nil
}

func (p *prefixReader) ReadNow(b []byte) (int, error) {
	if len(p.rest) == 0 {
		return p.r.ReadNow(b)
	}
	return p.Read(b)
}
