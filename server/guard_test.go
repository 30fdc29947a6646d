package server

import (
	"net/netip"
	"testing"
	"time"
)

func TestGuardHandshakes(t *testing.T) {
	var g guard
	a := netip.MustParseAddr("127.0.0.2")
	for i := range maxHandshakesPerAddr {
		if !g.enter(a) {
			t.Fatalf("handshake %d refused", i)
		}
	}
	if g.enter(a) {
		t.Fatal("one handshake too many accepted")
	}
	if !g.enter(netip.MustParseAddr("127.0.0.3")) {
		t.Fatal("another address refused")
	}
	g.leave(a)
	if !g.enter(a) {
		t.Fatal("a freed slot was not reused")
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
