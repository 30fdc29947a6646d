package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

// fakeResolver answers from maps and counts the questions.
type fakeResolver struct {
	mu       sync.Mutex
	ptr      map[string][]string
	addrs    map[string][]netip.Addr
	reverse  int
	forwards int
}

func (r *fakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reverse++
	if n, ok := r.ptr[addr]; ok {
		return n, nil
	}
	return nil, &net.DNSError{Err: "no PTR", Name: addr, IsNotFound: true}
}

func (r *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forwards++
	var out []netip.Addr
	for _, a := range r.addrs[host] {
		if network == "ip" || (network == "ip4") == a.Is4() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func (r *fakeResolver) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reverse, r.forwards
}

// tcpHandshake serves srv on a loopback listener and asks for module; it
// returns the daemon's first reply after the greeting.
func tcpHandshake(t *testing.T, srv *Server, module string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "@RSYNCD: 32.0 md5\n%s\n", module)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	return strings.TrimSuffix(line, "\n")
}

func TestHostNameAccess(t *testing.T) {
	loop := netip.MustParseAddr("127.0.0.1")
	good := func() *fakeResolver {
		return &fakeResolver{
			ptr:   map[string][]string{"127.0.0.1": {"ws1.example.com.", "alias.example.com."}},
			addrs: map[string][]netip.Addr{"ws1.example.com": {loop}, "lan.example.com": {loop}},
		}
	}
	spoofed := &fakeResolver{
		ptr:   map[string][]string{"127.0.0.1": {"ws1.example.com"}},
		addrs: map[string][]netip.Addr{"ws1.example.com": {netip.MustParseAddr("192.0.2.1")}},
	}
	tests := []struct {
		name        string
		res         *fakeResolver
		allow, deny []string
		reverse     bool
		want        string
		wantReverse int // reverse lookups made
	}{
		{"wildcard admits the checked name", good(), []string{"*.example.com"}, nil, true, "@RSYNCD: OK", 1},
		{"host? pattern", good(), []string{"ws?.example.com"}, nil, true, "@RSYNCD: OK", 1},
		{"spoofed PTR is UNKNOWN", spoofed, []string{"*.example.com"}, nil, true,
			"@ERROR: access denied to m from UNKNOWN (127.0.0.1)", 1},
		{"no PTR is UNKNOWN", &fakeResolver{}, []string{"*.example.com"}, nil, true,
			"@ERROR: access denied to m from UNKNOWN (127.0.0.1)", 1},
		{"deny by name shows the name", good(), nil, []string{"*.example.com"}, true,
			"@ERROR: access denied to m from ws1.example.com (127.0.0.1)", 1},
		{"forward lookup with reverse off", good(), []string{"lan.example.com"}, nil, false, "@RSYNCD: OK", 0},
		{"reverse off shows UNDETERMINED", good(), []string{"10.0.0.0/8"}, nil, false,
			"@ERROR: access denied to m from UNDETERMINED (127.0.0.1)", 0},
		{"addresses only: no lookup", good(), []string{"127.0.0.0/8"}, []string{"*"}, true, "@RSYNCD: OK", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := modules.New("m", t.TempDir())
			m.HostsAllow, m.HostsDeny, m.ReverseLookup = tc.allow, tc.deny, tc.reverse
			srv := New(&Config{Modules: []modules.Module{m}, HandshakeTimeout: 3 * time.Second, Resolver: tc.res}, nil)
			defer srv.Shutdown(context.Background())
			if got := tcpHandshake(t, srv, "m"); got != tc.want {
				t.Errorf("reply %q, want %q", got, tc.want)
			}
			if rev, _ := tc.res.counts(); rev != tc.wantReverse {
				t.Errorf("%d reverse lookups, want %d", rev, tc.wantReverse)
			}
		})
	}
}

// TestLookupCache: a client connecting again costs no new lookup.
func TestLookupCache(t *testing.T) {
	res := &fakeResolver{
		ptr:   map[string][]string{"127.0.0.1": {"ws1.example.com"}},
		addrs: map[string][]netip.Addr{"ws1.example.com": {netip.MustParseAddr("127.0.0.1")}},
	}
	m := modules.New("m", t.TempDir())
	m.HostsAllow = []string{"ws1.example.com"}
	srv := New(&Config{Modules: []modules.Module{m}, HandshakeTimeout: 3 * time.Second, Resolver: res}, nil)
	defer srv.Shutdown(context.Background())
	for i := 0; i < 3; i++ {
		if got := tcpHandshake(t, srv, "m"); got != "@RSYNCD: OK" {
			t.Fatalf("connection %d: %q", i, got)
		}
	}
	if rev, fwd := res.counts(); rev != 1 || fwd != 1 {
		t.Errorf("%d reverse and %d forward lookups for 3 connections, want 1 and 1", rev, fwd)
	}
}

func TestLookupCacheBounded(t *testing.T) {
	var c lookupCache
	for i := 0; i < 3*lookupCacheMax; i++ {
		c.put(fmt.Sprint("k", i), lookupEntry{until: time.Now().Add(time.Hour)})
	}
	if len(c.m) > lookupCacheMax {
		t.Errorf("cache holds %d entries, bound %d", len(c.m), lookupCacheMax)
	}
	c.put("old", lookupEntry{until: time.Now().Add(-time.Second)})
	if _, ok := c.get("old", time.Now()); ok {
		t.Error("an expired entry was returned")
	}
}

func TestEffectiveBwlimit(t *testing.T) {
	for _, c := range []struct{ daemon, client, want int64 }{
		{0, 0, 0}, {0, 100, 100}, {100, 0, 100}, {100, 50, 50}, {100, 500, 100},
	} {
		if got := effectiveBwlimit(c.daemon, c.client); got != c.want {
			t.Errorf("daemon %d client %d: %d, want %d", c.daemon, c.client, got, c.want)
		}
	}
}

// TestBwLimiterPace: on a fake clock, writing 1 MiB at 100 KiB/s sleeps
// about 10 s in all, in pieces of at most an eighth of a second's bytes.
func TestBwLimiterPace(t *testing.T) {
	for _, kib := range []int64{1, 100, 1000} {
		b := newBwLimiter(kib)
		now := time.Unix(1000, 0)
		var slept time.Duration
		b.now = func() time.Time { return now }
		b.sleep = func(d time.Duration) { slept += d; now = now.Add(d) }
		var w countWriter
		total := int(kib) * 1024 * 4 // four seconds' worth
		p := make([]byte, 64<<10)
		for sent := 0; sent < total; {
			n, err := b.write(&w, p[:min(len(p), total-sent)])
			if err != nil {
				t.Fatal(err)
			}
			sent += n
		}
		want := 4 * time.Second
		if slept < want-bwSlack-time.Millisecond || slept > want+time.Millisecond {
			t.Errorf("%d KiB/s: slept %v for 4 s worth of data", kib, slept)
		}
		if w.max > max(512, int(kib)*128) {
			t.Errorf("%d KiB/s: a write of %d bytes", kib, w.max)
		}
	}
	if newBwLimiter(0) != nil {
		t.Error("a limiter for no limit")
	}
}

type countWriter struct{ n, max int }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	w.max = max(w.max, len(p))
	return len(p), nil
}

func TestBwLimiterError(t *testing.T) {
	b := newBwLimiter(1000)
	n, err := b.write(errWriter{}, bytes.Repeat([]byte{1}, 1<<20))
	if n != 0 || err == nil {
		t.Errorf("got %d, %v", n, err)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("broken") }

func TestSetSocketOptions(t *testing.T) {
	c, _ := loopbackPair(t)
	opts, err := modules.ParseSocketOptions("TCP_NODELAY=0 SO_KEEPALIVE SO_RCVBUF=65536 IPTOS_LOWDELAY")
	if err != nil {
		t.Fatal(err)
	}
	if err := SetSocketOptions(c.(*net.TCPConn), opts); err != nil {
		t.Fatal(err)
	}
	get := func(level, opt int) int {
		var v int
		var gerr error
		rc, _ := c.(*net.TCPConn).SyscallConn()
		_ = rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) })
		if gerr != nil {
			t.Fatal(gerr)
		}
		return v
	}
	if v := get(unix.IPPROTO_TCP, unix.TCP_NODELAY); v != 0 {
		t.Errorf("TCP_NODELAY = %d, want 0 (Go's default of 1 overridden)", v)
	}
	if v := get(unix.SOL_SOCKET, unix.SO_KEEPALIVE); v != 1 {
		t.Errorf("SO_KEEPALIVE = %d", v)
	}
	if v := get(unix.SOL_SOCKET, unix.SO_RCVBUF); v < 65536 {
		t.Errorf("SO_RCVBUF = %d, want at least 65536", v)
	}
	if v := get(unix.IPPROTO_IP, unix.IP_TOS); v != 0x10 {
		t.Errorf("IP_TOS = %#x, want IPTOS_LOWDELAY", v)
	}
}

// TestSetBacklog reads the accept queue length back from /proc's view of
// the listening socket (ss shows it as Send-Q): listen(2) again changes it.
func TestSetBacklog(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := SetBacklog(l, 7); err != nil {
		t.Fatal(err)
	}
	if got := backlogOf(t, l); got != 7 {
		t.Errorf("backlog %d, want 7", got)
	}
	if err := SetBacklog(l, 0); err != nil { // keeps the current one
		t.Fatal(err)
	}
	if got := backlogOf(t, l); got != 7 {
		t.Errorf("backlog %d after 0, want 7 kept", got)
	}
}

// backlogOf asks the kernel (sock_diag through ss) for a listener's
// backlog.
func backlogOf(t *testing.T, l net.Listener) int {
	t.Helper()
	port := l.Addr().(*net.TCPAddr).Port
	out, err := execOutput("ss", "-Hltn", fmt.Sprintf("sport = :%d", port))
	if err != nil {
		t.Fatalf("ss (iproute2) is needed for this test: apt-get install iproute2: %v", err)
	}
	f := strings.Fields(out)
	if len(f) < 3 {
		t.Fatalf("ss printed %q", out)
	}
	var n int
	if _, err := fmt.Sscan(f[2], &n); err != nil {
		t.Fatalf("ss printed %q", out)
	}
	return n
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}
