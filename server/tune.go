package server

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

// SetSocketOptions sets "socket options" on a connection or a listening
// socket, as rsync's set_socket_options does; IP_TOS values are also set
// as the IPv6 traffic class on IPv6 sockets, where IP_TOS only covers
// IPv4-mapped peers. Every failure is returned, after trying them all.
func SetSocketOptions(c syscall.Conn, opts []modules.SocketOption) error {
	if len(opts) == 0 {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("socket options: %w", err)
	}
	var errs []error
	cerr := rc.Control(func(fd uintptr) {
		v6 := false
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			_, v6 = sa.(*unix.SockaddrInet6)
		}
		for _, o := range opts {
			if err := unix.SetsockoptInt(int(fd), o.Level, o.Opt, o.Value); err != nil {
				errs = append(errs, fmt.Errorf("failed to set socket option %s: %w", o.Name, err))
			}
			if v6 && o.Level == unix.IPPROTO_IP && o.Opt == unix.IP_TOS {
				if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_TCLASS, o.Value); err != nil {
					errs = append(errs, fmt.Errorf("failed to set socket option %s (IPV6_TCLASS): %w", o.Name, err))
				}
			}
		}
	})
	if cerr != nil {
		errs = append(errs, fmt.Errorf("socket options: %w", cerr))
	}
	return errors.Join(errs...)
}

// SetBacklog sets the accept queue length of a listening TCP socket
// ("listen backlog"): listen(2) again on a listening socket changes it on
// Linux. The kernel caps it at net.core.somaxconn. n <= 0 keeps Go's
// (the kernel's maximum).
func SetBacklog(l net.Listener, n int) error {
	if n <= 0 {
		return nil
	}
	sc, ok := l.(syscall.Conn)
	if !ok {
		return fmt.Errorf("listen backlog: %s is not a socket", l.Addr())
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("listen backlog: %w", err)
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = unix.Listen(int(fd), n) }); err != nil {
		return fmt.Errorf("listen backlog: %w", err)
	}
	if lerr != nil {
		return fmt.Errorf("listen backlog %d on %s: %w", n, l.Addr(), lerr)
	}
	return nil
}

// tuneConn sets the configured socket options on an accepted connection;
// a failure is logged and the connection served anyway, as rsyncd does.
func (s *conn) tuneConn() {
	if len(s.cfg.SocketOptions) == 0 {
		return
	}
	sc, ok := s.c.(syscall.Conn)
	if !ok {
		return // a pipe (remote shell mode) or a test's net.Pipe
	}
	if err := SetSocketOptions(sc, s.cfg.SocketOptions); err != nil {
		s.log.Warn("socket options", "err", err)
	}
}

// quickAck acknowledges a TCP peer's segments at once while the session
// exchanges short messages. rsync's client writes some of them in pieces
// (the daemon arguments one by one, the checksum list after its length),
// and with Nagle's algorithm each later piece waits for the ACK of the
// first, which a Linux receiver in interactive mode delays by some 40 ms:
// twice per connection before any file moves. TCP_QUICKACK does not stick,
// so it is set again before each read that follows a short one; bulk reads
// (a full buffer) skip it.
type quickAck struct {
	rc    syscall.RawConn // nil: not TCP, nothing to do
	short bool            // the last read was short
}

func newQuickAck(c net.Conn) quickAck {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return quickAck{}
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return quickAck{}
	}
	return quickAck{rc: rc, short: true}
}

// before runs before a read of the connection.
func (q *quickAck) before() {
	if q.rc == nil || !q.short {
		return
	}
	_ = q.rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}

// after notes what a read returned.
func (q *quickAck) after(n int) { q.short = n < 4096 }
