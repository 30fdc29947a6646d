package server

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestAddrsOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:873", "127.0.0.1:873", true},
		{"0.0.0.0:873", "127.0.0.1:873", true},
		{"127.0.0.1:873", "0.0.0.0:873", true},
		{":873", "[::1]:873", true},
		{"[::]:873", "10.0.0.1:873", true},
		{"localhost:873", "127.0.0.1:873", true},
		{"localhost:873", "[::1]:873", true},
		{"[::ffff:127.0.0.1]:873", "127.0.0.1:873", true},
		{"127.0.0.1:873", "127.0.0.2:873", false},
		{"127.0.0.1:873", "127.0.0.1:874", false},
		{"0.0.0.0:873", "0.0.0.0:874", false},
		{"127.0.0.1:0", "127.0.0.1:0", false}, // port 0: the kernel picks two
		{"nohost", "127.0.0.1:873", false},
		{"127.0.0.1:x", "127.0.0.1:873", false},
		{"example.com:873", "0.0.0.0:873", false},
		{"0.0.0.0:873", "[::1]:873", false}, // 0.0.0.0 is IPv4 only
		{"0.0.0.0:873", "[::]:873", true},
		{":873", "0.0.0.0:873", true},
		{":873", "127.0.0.1:873", true},
	}
	for _, tc := range tests {
		if got := AddrsOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("AddrsOverlap(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestListenConfig(t *testing.T) {
	tests := []struct {
		addr   string
		others []string
		net    string
		v6only bool
	}{
		{"0.0.0.0:873", nil, "tcp4", false},
		{"[::]:873", nil, "tcp", false},
		{":873", nil, "tcp", false},
		{"[::]:873", []string{"10.0.0.1:873"}, "tcp6", true},
		{":873", []string{"0.0.0.0:873"}, "tcp6", true},
		{"[::]:873", []string{"10.0.0.1:874"}, "tcp", false},
		{"[::]:873", []string{"[::1]:873"}, "tcp", false},
		{"127.0.0.1:873", []string{"0.0.0.0:873"}, "tcp", false},
	}
	for _, tc := range tests {
		network, lc := listenConfig(tc.addr, append([]string{tc.addr}, tc.others...))
		if network != tc.net || (lc.Control != nil) != tc.v6only {
			t.Errorf("listenConfig(%q, +%q) = %s, v6only %v; want %s, %v", tc.addr, tc.others, network, lc.Control != nil, tc.net, tc.v6only)
		}
	}
}

func TestListenAllOrNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	lns, err := Listen([]string{"127.0.0.1:0", busy.Addr().String()})
	if err == nil {
		closeAll(lns)
		t.Fatal("Listen on a busy address succeeded")
	}
	lns, activated, err := Listeners([]string{"127.0.0.1:0", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(lns)
	if activated || len(lns) != 2 {
		t.Fatalf("Listeners without LISTEN_FDS: %d listeners, activated %v; want 2, false", len(lns), activated)
	}
}

// TestActivation runs this test binary as a child that systemd-style gets
// fd 3 and LISTEN_FDS=1, LISTEN_PID=its pid (set by the shell before exec).
func TestActivation(t *testing.T) {
	if os.Getenv("RSYNCD_GO_ACTIVATION_CHILD") != "" {
		lns, activated, err := Listeners([]string{"127.0.0.1:1"})
		if err != nil {
			os.Stdout.WriteString("error: " + err.Error() + "\n")
			return
		}
		for _, l := range lns {
			os.Stdout.WriteString("listener " + l.Addr().String() + "\n")
		}
		if activated && os.Getenv("LISTEN_FDS") == "" {
			os.Stdout.WriteString("env consumed\n")
		}
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lf, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cf, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()

	child := func(f *os.File) string {
		cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -test.run=^TestActivation$`, os.Args[0])
		cmd.Env = append(os.Environ(), "RSYNCD_GO_ACTIVATION_CHILD=1")
		cmd.ExtraFiles = []*os.File{f}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return string(out)
	}
	out := child(lf)
	for _, want := range []string{"listener " + l.Addr().String(), "env consumed"} {
		if !strings.Contains(out, want) {
			t.Errorf("passed a listener: output lacks %q:\n%s", want, out)
		}
	}
	out = child(cf)
	if !strings.Contains(out, "error: socket activation: fd 3") || !strings.Contains(out, "not a listening socket") {
		t.Errorf("passed a connection: want a not-listening error, got:\n%s", out)
	}
}
