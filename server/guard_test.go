package server

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// fakeConn records whether the guard closed it.
type fakeConn struct {
	net.Conn
	closed bool
}

func (c *fakeConn) Close() error { c.closed = true; return nil }

func TestGuardHandshakes(t *testing.T) {
	var g guard
	a := netip.MustParseAddr("127.0.0.2")
	t0 := time.Unix(1700000000, 0)
	var conns []*fakeConn
	// A burst of fresh handshakes is let through up to the hard cap.
	for i := range hardHandshakesPerAddr {
		c := &fakeConn{}
		conns = append(conns, c)
		if !g.enter(a, c, t0) {
			t.Fatalf("handshake %d of a fresh burst refused", i)
		}
	}
	if g.enter(a, &fakeConn{}, t0) {
		t.Fatal("a handshake past the hard cap was accepted")
	}
	if !g.enter(netip.MustParseAddr("127.0.0.3"), &fakeConn{}, t0) {
		t.Fatal("another address refused")
	}
	// Once the old ones are stale, each newcomer pushes out the oldest.
	later := t0.Add(staleHandshake + time.Second)
	if !g.enter(a, &fakeConn{}, later) {
		t.Fatal("a newcomer was refused although stale handshakes could go")
	}
	if !conns[0].closed || conns[1].closed {
		t.Fatalf("evicted: first %v, second %v; want only the oldest", conns[0].closed, conns[1].closed)
	}
	g.leave(a, conns[0]) // the evicted session ends: no double count
	g.leave(a, conns[1])
	if n := len(g.handshakes[a]); n != hardHandshakesPerAddr-1 {
		t.Fatalf("%d handshakes counted, want %d", n, hardHandshakesPerAddr-1)
	}
}

func TestGuardAuthDelay(t *testing.T) {
	var g guard
	a := netip.MustParseAddr("::1")
	now := time.Unix(1700000000, 0)
	want := []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, w := range want {
		if d := g.authFailed(a, now); d != w {
			t.Errorf("failure %d: delay %v, want %v", i+1, d, w)
		}
	}
	if d := g.authFailed(a, now.Add(failureMemory+time.Second)); d != 0 {
		t.Errorf("after a quiet spell: delay %v, want 0", d)
	}
	g.authFailed(a, now)
	g.authOK(a)
	if d := g.authFailed(a, now); d != 0 {
		t.Errorf("after a success: delay %v, want 0", d)
	}
}

// TestGuardProgress: a handshake that keeps sending lines is never stale;
// the one that went silent first is pushed out instead.
func TestGuardProgress(t *testing.T) {
	var g guard
	a := netip.MustParseAddr("127.0.0.4")
	t0 := time.Unix(1700000000, 0)
	var conns []*fakeConn
	for range softHandshakesPerAddr {
		c := &fakeConn{}
		conns = append(conns, c)
		g.enter(a, c, t0)
	}
	later := t0.Add(staleHandshake + time.Second)
	g.progress(a, conns[0], later) // the oldest is busy, not silent
	if !g.enter(a, &fakeConn{}, later) {
		t.Fatal("newcomer refused")
	}
	if conns[0].closed || !conns[1].closed {
		t.Fatalf("evicted: busy %v, silent %v; want only the silent one", conns[0].closed, conns[1].closed)
	}
	if n := len(g.handshakes[a]); n != softHandshakesPerAddr {
		t.Fatalf("%d handshakes counted, want %d", n, softHandshakesPerAddr)
	}
}
