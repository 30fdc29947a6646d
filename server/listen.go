package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// Listeners returns what the daemon should accept on: the listening
// sockets systemd passed (LISTEN_FDS, Accept=no) when there are any,
// otherwise new listeners on addrs. activated tells which; the config's
// addresses are not used at all when systemd passed sockets, as the unit's
// ListenStream= is then the source of truth.
func Listeners(addrs []string) (lns []net.Listener, activated bool, err error) {
	lns, err = ActivatedListeners()
	if err != nil || len(lns) > 0 {
		return lns, err == nil, err
	}
	lns, err = Listen(addrs)
	return lns, false, err
}

// ActivatedListeners returns the listening sockets passed by systemd, or
// nil when none were. It consumes LISTEN_FDS, LISTEN_PID and
// LISTEN_FDNAMES so child processes do not inherit them. A passed socket
// that is not a listening TCP socket (a connection of Accept=yes, a UDP
// socket) is an error naming its descriptor.
func ActivatedListeners() ([]net.Listener, error) {
	files := activation.Files(true)
	var (
		lns  []net.Listener
		errs []error
	)
	for _, f := range files {
		l, err := fileListener(f)
		f.Close() // net.FileListener holds its own dup
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lns = append(lns, l)
	}
	if len(errs) > 0 {
		closeAll(lns)
		return nil, fmt.Errorf("socket activation: %w", errors.Join(errs...))
	}
	return lns, nil
}

func fileListener(f *os.File) (net.Listener, error) {
	fd := int(f.Fd())
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return nil, fmt.Errorf("fd %d (%s): not a socket: %w", fd, f.Name(), err)
	}
	if acc == 0 {
		return nil, fmt.Errorf("fd %d (%s) is not a listening socket (for Accept=yes run rsyncd-go --inetd with StandardInput=socket)", fd, f.Name())
	}
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("fd %d (%s): %w", fd, f.Name(), err)
	}
	if _, ok := l.(*net.TCPListener); !ok {
		l.Close()
		return nil, fmt.Errorf("fd %d (%s) is a %s socket, want TCP", fd, f.Name(), l.Addr().Network())
	}
	return l, nil
}

// Listen listens on every address of addrs, or on none if one fails.
// The wildcards mean what they mean to rsyncd and systemd, not Go's
// default: "0.0.0.0:P" is IPv4 only, "[::]:P" and ":P" are dual-stack,
// except that "[::]:P" is IPv6 only when addrs also hold an IPv4 address
// on port P (a dual-stack socket would take that port from it).
func Listen(addrs []string) ([]net.Listener, error) {
	var lns []net.Listener
	for _, addr := range addrs {
		network, lc := listenConfig(addr, addrs)
		l, err := lc.Listen(context.Background(), network, addr)
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("listen: %w", err)
		}
		lns = append(lns, l)
	}
	return lns, nil
}

// listenConfig returns the network and settings for listening on addr,
// one of addrs.
func listenConfig(addr string, addrs []string) (string, *net.ListenConfig) {
	lc := &net.ListenConfig{}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "tcp", lc // net.Listen reports the error
	}
	switch host {
	case "0.0.0.0":
		return "tcp4", lc
	case "", "::":
		for _, other := range addrs {
			h, p, err := net.SplitHostPort(other)
			if err != nil || p != port {
				continue
			}
			if ip, err := netip.ParseAddr(h); err == nil && ip.Unmap().Is4() {
				lc.Control = func(_, _ string, c syscall.RawConn) error {
					var serr error
					err := c.Control(func(fd uintptr) {
						serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
					})
					return errors.Join(err, serr)
				}
				return "tcp6", lc
			}
		}
	}
	return "tcp", lc
}

func closeAll(lns []net.Listener) {
	for _, l := range lns {
		l.Close()
	}
}

// StdioConn returns the connection inetd or systemd (Accept=yes,
// StandardInput=socket) passed on standard input, and points descriptors
// 0 and 1 at /dev/null so that the connection ends when the returned
// conn is closed, not when the process exits, and no stray write to
// stdout can corrupt the protocol stream.
func StdioConn() (net.Conn, error) {
	c, err := net.FileConn(os.Stdin)
	if err != nil {
		return nil, fmt.Errorf("--inetd: standard input is not a socket: %w", err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("--inetd: %w", err)
	}
	defer null.Close()
	for _, fd := range []int{0, 1} {
		if err := unix.Dup2(int(null.Fd()), fd); err != nil {
			c.Close()
			return nil, fmt.Errorf("--inetd: redirecting fd %d: %w", fd, err)
		}
	}
	return c, nil
}

// AddrsOverlap reports whether listeners on a and b (host:port as in a
// config's listen list) would fight over one port: the same non-zero port
// and addresses that intersect. An empty host and the wildcards 0.0.0.0
// and :: intersect every address (:: may be dual-stack), 0.0.0.0 every
// IPv4 address; "localhost" stands for 127.0.0.1 and ::1. Malformed
// addresses never overlap: the per-file check reports them.
func AddrsOverlap(a, b string) bool {
	ha, pa, ok := splitListen(a)
	if !ok {
		return false
	}
	hb, pb, ok := splitListen(b)
	if !ok || pa != pb || pa == 0 {
		return false
	}
	for _, x := range ha {
		for _, y := range hb {
			if x == y || x == any4 && y.Is4() || y == any4 && x.Is4() || x == any6 || y == any6 {
				return true
			}
		}
	}
	return false
}

var (
	any4 = netip.IPv4Unspecified()
	any6 = netip.IPv6Unspecified()
)

// splitListen returns the addresses a listen entry binds (a wildcard
// address stands for its family, :: for both) and its port.
func splitListen(s string) ([]netip.Addr, uint16, bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, 0, false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, 0, false
	}
	switch host {
	case "":
		return []netip.Addr{any6}, uint16(p), true
	case "localhost":
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}, uint16(p), true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, 0, false
	}
	ip = ip.Unmap().WithZone("")
	return []netip.Addr{ip}, uint16(p), true
}
