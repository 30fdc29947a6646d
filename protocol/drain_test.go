package protocol

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
)

// TestDrain checks the three ends of drain: the client closes, the client
// goes quiet after sending (all it sent is read, so its writes never
// block), the client never stops (the limit).
func TestDrain(t *testing.T) {
	const lull, limit = 100 * time.Millisecond, 600 * time.Millisecond
	for _, c := range []struct {
		name     string
		peer     func(c net.Conn, stop <-chan struct{}) // the client's side
		min, max time.Duration                          // how long drain may take
	}{
		{"closes", func(c net.Conn, _ <-chan struct{}) {
			_, _ = c.Write(make([]byte, 100<<10))
			c.Close()
		}, 0, lull / 2},
		{"goes quiet", func(c net.Conn, stop <-chan struct{}) {
			_, _ = c.Write(make([]byte, 1<<20))
			<-stop
		}, lull, limit / 2},
		{"never stops", func(c net.Conn, stop <-chan struct{}) {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(make([]byte, 1024)); err != nil {
					return
				}
				time.Sleep(lull / 10)
			}
		}, limit, 2 * limit},
	} {
		t.Run(c.name, func(t *testing.T) {
			ours, client := net.Pipe()
			defer ours.Close()
			defer client.Close()
			stop := make(chan struct{})
			sent := make(chan struct{})
			go func() { c.peer(client, stop); close(sent) }()
			start := time.Now()
			drain(ours, lull, limit)
			took := time.Since(start)
			if took < c.min || took > c.max {
				t.Errorf("drain took %v, want %v to %v", took, c.min, c.max)
			}
			if c.name == "goes quiet" {
				// net.Pipe writes return only once read: the client's
				// megabyte was read whole before drain gave up.
				close(stop)
				select {
				case <-sent:
				case <-time.After(time.Second):
					t.Error("the client's writes were not all read")
				}
				return
			}
			close(stop)
			client.Close()
			<-sent
		})
	}
}

// countConn is a connection whose reads end at once, counting them.
type countConn struct {
	net.Conn
	reads int
}

func (c *countConn) Read([]byte) (int, error)        { c.reads++; return 0, io.EOF }
func (c *countConn) SetReadDeadline(time.Time) error { return nil }

// TestDrainUntilDeath checks when a failed session drains its client:
// before protocol 31, after an error of its own, while not shutting down.
func TestDrainUntilDeath(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name  string
		proto int
		err   error
		ctx   context.Context
		drain bool
	}{
		{"protocol 30, file I/O", 30, rerr.New(rerr.FileIO, "write failed"), context.Background(), true},
		{"protocol 29, protocol error", 29, rerr.New(rerr.Protocol, "bad index"), context.Background(), true},
		{"protocol 27, file I/O", 27, rerr.New(rerr.FileIO, "write failed"), context.Background(), true},
		{"plain error", 30, errors.New("oops"), context.Background(), false}, // a stream error to rerr
		{"protocol 31", 31, rerr.New(rerr.FileIO, "write failed"), context.Background(), false},
		{"protocol 32", 32, rerr.New(rerr.FileIO, "write failed"), context.Background(), false},
		{"socket error", 30, rerr.New(rerr.SocketIO, "reset"), context.Background(), false},
		{"stream error", 30, rerr.New(rerr.StreamIO, "eof"), context.Background(), false},
		{"timeout", 30, rerr.New(rerr.Timeout, "idle"), context.Background(), false},
		{"shutting down", 30, rerr.New(rerr.FileIO, "write failed"), done, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := &countConn{}
			s := &Session{Protocol: c.proto, Conn: conn}
			s.drainUntilDeath(c.ctx, c.err)
			if got := conn.reads > 0; got != c.drain {
				t.Errorf("drained: %v, want %v", got, c.drain)
			}
		})
	}
	(&Session{Protocol: 30}).drainUntilDeath(context.Background(), rerr.New(rerr.FileIO, "x")) // no Conn: nothing
}
