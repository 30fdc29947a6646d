package protocol

import (
	"context"
	"net"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
)

// Bounds of drainUntilDeath: the client is done sending once it paused for
// drainLull; without an I/O timeout the whole drain takes at most
// drainMax.
const (
	drainLull = 2 * time.Second
	drainMax  = 10 * time.Second
)

// drainUntilDeath is rsync's noop_io_until_death after a fatal error of the
// receiving side (cleanup.c: the receiver of every protocol does it): it
// reads and discards what the client still sends, so that the client
// finishes writing and then sees the connection close, as stock's does
// once its receiver gives up (exit 12, "connection unexpectedly closed"),
// rather than a reset under its writes (exit 10, "write error: Broken
// pipe"): before protocol 31 the client has no MSG_ERROR_EXIT to end on.
// It stops at the end of the input, after drainLull without input, or
// after the session's I/O timeout (drainMax without one): never forever.
func (s *Session) drainUntilDeath(ctx context.Context, err error) {
	c := s.Conn
	// From protocol 31 the client ends on the MSG_ERROR_EXIT it was sent
	// and stock answers its reply by closing, which the connection's close
	// does here.
	if c == nil || s.Protocol >= 31 || ctx.Err() != nil {
		return
	}
	switch rerr.Code(err) {
	case rerr.SocketIO, rerr.StreamIO, rerr.Timeout:
		return // rsync does not wait on a dead or silent peer either
	}
	limit := drainMax
	if s.Timeout > 0 {
		limit = s.Timeout
	}
	drain(c, drainLull, limit)
}

// drain reads c until it ends, pauses for lull, or limit passes, and leaves
// c without a read deadline.
func drain(c net.Conn, lull, limit time.Duration) {
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	end := time.Now().Add(limit)
	buf := make([]byte, 32*1024)
	for {
		next := time.Now().Add(lull)
		if next.After(end) {
			next = end
		}
		if err := c.SetReadDeadline(next); err != nil {
			return
		}
		// An error is the end of the input or a lull (the client waits for
		// us), or the limit: either way, done.
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}
