package server

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Per-address defences of the daemon front: a bound on handshakes in
// progress, and a growing delay after failed authentications.
//
// Honest clients send each handshake line within milliseconds, while
// silent ones sit in it until the deadline. So past a soft cap a new
// connection from an address pushes out that address's handshake that has
// been silent longest, if that is over staleHandshake; a burst of honest
// clients (200 pushes started at once from one storage server) is let
// through up to the hard cap. staleHandshake is generous because a client
// on a machine starting 200 rsync processes at once can take seconds to
// answer (2 s dropped honest pushes on a loaded 2-core machine).
const (
	softHandshakesPerAddr = 64
	hardHandshakesPerAddr = 1024
	staleHandshake        = 10 * time.Second
	failureMemory         = 10 * time.Minute
	maxAuthDelay          = 8 * time.Second
	maxTrackedAddrs       = 65536
)

type failures struct {
	count int
	last  time.Time
}

type pendingHandshake struct {
	c     net.Conn
	start time.Time
}

type guard struct {
	mu         sync.Mutex
	handshakes map[netip.Addr][]pendingHandshake // oldest first
	failed     map[netip.Addr]*failures
}

// enter counts c's handshake from addr. Past the soft cap it closes the
// address's oldest handshake when that one is stale; false means the hard
// cap is reached and c should be dropped.
func (g *guard) enter(addr netip.Addr, c net.Conn, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.handshakes == nil {
		g.handshakes = map[netip.Addr][]pendingHandshake{}
	}
	hs := g.handshakes[addr]
	if len(hs) >= softHandshakesPerAddr && now.Sub(hs[0].start) > staleHandshake {
		hs[0].c.Close() // its session ends and calls leave
		hs = hs[1:]
	}
	if len(hs) >= hardHandshakesPerAddr {
		g.handshakes[addr] = hs
		return false
	}
	g.handshakes[addr] = append(hs, pendingHandshake{c: c, start: now})
	return true
}

// progress notes that c's handshake moved on (a whole line arrived): its
// stale clock restarts, so only a handshake that has been silent for
// staleHandshake is pushed out, however long a burst of honest clients on
// a busy machine takes to get through. The list stays oldest first.
func (g *guard) progress(addr netip.Addr, c net.Conn, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	hs := g.handshakes[addr]
	for i := range hs {
		if hs[i].c == c {
			copy(hs[i:], hs[i+1:])
			hs[len(hs)-1] = pendingHandshake{c: c, start: now}
			return
		}
	}
}

// leave ends c's handshake; it is a no-op when enter evicted c already.
func (g *guard) leave(addr netip.Addr, c net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	hs := g.handshakes[addr]
	for i := range hs {
		if hs[i].c == c {
			hs = append(hs[:i:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(g.handshakes, addr)
	} else {
		g.handshakes[addr] = hs
	}
}

// authFailed records a failed authentication from addr and returns how
// long to wait before answering: nothing the first time, then doubling
// from 500 ms up to maxAuthDelay while failures keep coming within
// failureMemory of each other.
func (g *guard) authFailed(addr netip.Addr, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failed == nil {
		g.failed = map[netip.Addr]*failures{}
	}
	f := g.failed[addr]
	if f == nil || now.Sub(f.last) > failureMemory {
		if len(g.failed) >= maxTrackedAddrs {
			g.prune(now)
		}
		f = &failures{}
		g.failed[addr] = f
	}
	f.count++
	f.last = now
	if f.count == 1 {
		return 0
	}
	d := 500 * time.Millisecond << min(f.count-2, 5)
	return min(d, maxAuthDelay)
}

// authOK forgets the failures of addr.
func (g *guard) authOK(addr netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.failed, addr)
}

// prune drops stale failure records, and all of them if every one is
// fresh, so a flood of addresses cannot grow the map without bound.
func (g *guard) prune(now time.Time) {
	for a, f := range g.failed {
		if now.Sub(f.last) > failureMemory {
			delete(g.failed, a)
		}
	}
	if len(g.failed) >= maxTrackedAddrs {
		clear(g.failed)
	}
}
