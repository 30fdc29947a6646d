package server

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestQuickAck: before a read that follows a short one, the connection is
// put in quick-ACK mode (so a client's Nagle-held piece is not left
// waiting for a delayed ACK); after a full-buffer read it is left alone;
// a connection that is not TCP is left alone.
func TestQuickAck(t *testing.T) {
	_, c := loopbackPair(t)
	q := newQuickAck(c)
	if q.rc == nil {
		t.Fatal("no raw connection for a TCP connection")
	}
	state := func() int {
		var v int
		var gerr error
		if err := q.rc.Control(func(fd uintptr) {
			v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK)
		}); err != nil {
			t.Fatal(err)
		}
		if gerr != nil {
			t.Fatal(gerr)
		}
		return v
	}
	clear := func() {
		if err := q.rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0)
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		lastRead int
		want     int
	}{
		{lastRead: 12, want: 1},    // a handshake line: ACK at once
		{lastRead: 65536, want: 0}, // bulk data: the kernel decides
		{lastRead: 0, want: 1},
	} {
		clear()
		q.after(tt.lastRead)
		q.before()
		if got := state(); got != tt.want {
			t.Errorf("after a read of %d bytes: TCP_QUICKACK %d, want %d", tt.lastRead, got, tt.want)
		}
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if p := newQuickAck(a); p.rc != nil {
		t.Error("a pipe got a TCP raw connection")
	}
}

// loopbackPair returns the two ends of a TCP connection on 127.0.0.1,
// closed when the test ends.
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// TestReadNow: the session's connection says, without waiting, what has
// arrived (nothing, then the bytes, then the end), even past its read
// deadline; bytes read with a PROXY header come first.
func TestReadNow(t *testing.T) {
	client, srv := loopbackPair(t)
	dc := newDeadlineConn(srv)
	r := prefixed([]byte("early"), dc)
	buf := make([]byte, 16)
	read := func() string {
		t.Helper()
		n, err := r.ReadNow(buf)
		if err != nil {
			t.Fatalf("ReadNow: %v", err)
		}
		return string(buf[:n])
	}
	if got := read(); got != "early" {
		t.Errorf("first ReadNow %q, want the bytes read with the header", got)
	}
	if got := read(); got != "" {
		t.Errorf("ReadNow before the client wrote: %q, want nothing", got)
	}
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	got := ""
	for got == "" && time.Now().Before(deadline) {
		got = read()
	}
	if got != "hello" {
		t.Errorf("ReadNow after the client wrote: %q, want %q", got, "hello")
	}
	// A passed read deadline bounds waiting, not looking.
	if err := srv.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "" {
		t.Errorf("ReadNow past the deadline: %q, want nothing", got)
	}
	client.Close()
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = r.ReadNow(buf)
	}
	if err != io.EOF {
		t.Errorf("ReadNow after the client closed: %v, want EOF", err)
	}

	// A connection that is not a descriptor never reports input.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go b.Write([]byte("x"))
	if n, err := newDeadlineConn(a).ReadNow(buf); n != 0 || err != nil {
		t.Errorf("ReadNow on a pipe: %d, %v; want 0, nil", n, err)
	}
}
