package server

import (
	"net/netip"
	"sync"
	"time"
)

// Per-address defences of the daemon front: a cap on handshakes in
// progress, and a growing delay after failed authentications.
const (
	maxHandshakesPerAddr = 16
	failureMemory        = 10 * time.Minute
	maxAuthDelay         = 8 * time.Second
	maxTrackedAddrs      = 65536
)

type failures struct {
	count int
	last  time.Time
}

type guard struct {
	mu         sync.Mutex
	handshakes map[netip.Addr]int
	failed     map[netip.Addr]*failures
}

// enter counts a handshake from addr; false means addr has too many in
// progress and the connection should be dropped.
func (g *guard) enter(addr netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.handshakes == nil {
		g.handshakes = map[netip.Addr]int{}
	}
	if g.handshakes[addr] >= maxHandshakesPerAddr {
		return false
	}
	g.handshakes[addr]++
	return true
}

// leave ends a handshake counted by enter.
func (g *guard) leave(addr netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.handshakes[addr] <= 1 {
		delete(g.handshakes, addr)
	} else {
		g.handshakes[addr]--
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
