// Package server accepts rsync daemon connections: listeners, the daemon
// handshake (greeting, module, auth, arguments), limits and shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

// Config is one instance's serving policy, as plain values.
type Config struct {
	Modules        []modules.Module
	MaxConnections int           // 0: no limit
	Timeout        time.Duration // idle I/O timeout of a session, 0: none
	// HandshakeTimeout bounds the time from accept to the end of the
	// arguments, so idle sockets cannot hold slots. Default 60s.
	HandshakeTimeout time.Duration
	Motd             string
	Umask            uint32
	// ProxyProtocol: every connection starts with a PROXY protocol v1 or
	// v2 header ("proxy protocol"), accepted only from a peer matching
	// ProxyProtocolHosts ("proxy protocol hosts", hosts-allow syntax);
	// the client address it carries stands for the peer's everywhere.
	ProxyProtocol      bool
	ProxyProtocolHosts []string
	// LockFile ("lock_file"): when set, MaxConnections and the modules'
	// limits are also counted in this file's locks, across processes.
	LockFile string
	// Resolver looks up client and hosts-list names (lookup.go); nil is
	// net.DefaultResolver.
	Resolver Resolver
	// SocketOptions ("socket_options") are set on every connection.
	SocketOptions []modules.SocketOption
	// Bwlimit is the daemon's --bwlimit in KiB/s, the most any session
	// sends at (a client's lower --bwlimit wins); 0 = none.
	Bwlimit int64
}

// Server serves rsync daemon connections for one instance.
type Server struct {
	Log *slog.Logger
	// Observer, when set before Serve, is told of connections, refusals
	// and transfers (metrics).
	Observer Observer

	cfg     atomic.Pointer[Config]
	mu      sync.Mutex
	lns     map[net.Listener]struct{}
	conns   map[net.Conn]struct{}
	active  int
	perMod  map[string]int
	guard   guard // per-address handshake cap and auth throttling
	lookups lookupCache
	wg      sync.WaitGroup
	closing atomic.Bool
	ctx     context.Context
	cancel  context.CancelFunc
}

// New returns a server for cfg.
func New(cfg *Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		Log:    log,
		lns:    map[net.Listener]struct{}{},
		conns:  map[net.Conn]struct{}{},
		perMod: map[string]int{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cfg.Store(cfg)
	return s
}

// SetConfig replaces the configuration; connections that are past their
// handshake keep the one they started with.
func (s *Server) SetConfig(cfg *Config) { s.cfg.Store(cfg) }

// Config returns the current configuration.
func (s *Server) Config() *Config { return s.cfg.Load() }

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.lns[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, l)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.Log.Warn("accept failed; retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.ServeConn(c)
		}()
	}
}

// ServeConn serves one connection to its end and closes it.
func (s *Server) ServeConn(c net.Conn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	obs := s.observer()
	obs.ConnOpened()
	defer obs.ConnClosed()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	sess := &conn{srv: s, c: c, cfg: s.cfg.Load(), remote: remoteAddr(c)}
	sess.log = s.Log.With("remote", sess.remote.String())
	sess.serve(s.ctx)
}

// Shutdown stops accepting, waits for sessions to end until ctx is done,
// then cuts the rest off; temp files of cut transfers are removed by the
// engine as their connections fail.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	for l := range s.lns {
		l.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// Active returns the number of sessions past their handshake.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// claim takes a connection slot for module m, checking the instance and
// module limits, in this process and, with cfg.LockFile, in the lock file
// shared with other processes. It returns the limit that was hit, or 0 and
// the lock file slots to hand back to release.
func (s *Server) claim(cfg *Config, m *modules.Module) (*slotLock, int, error) {
	s.mu.Lock()
	if m.MaxConnections > 0 && s.perMod[m.Name] >= m.MaxConnections {
		s.mu.Unlock()
		return nil, m.MaxConnections, nil
	}
	if cfg.MaxConnections > 0 && s.active >= cfg.MaxConnections {
		s.mu.Unlock()
		return nil, cfg.MaxConnections, nil
	}
	s.active++
	s.perMod[m.Name]++
	s.mu.Unlock()
	// Outside the mutex: a file system call must not stall other handshakes.
	l, limit, err := claimLockFile(cfg, m.Name, m.MaxConnections)
	if err != nil || limit != 0 {
		s.release(m, nil)
		return nil, limit, err
	}
	return l, 0, nil
}

// release hands back what claim took.
func (s *Server) release(m *modules.Module, l *slotLock) {
	if err := l.Close(); err != nil {
		s.Log.Warn("closing the lock file", "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	s.perMod[m.Name]--
}

func remoteAddr(c net.Conn) netip.AddrPort {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
