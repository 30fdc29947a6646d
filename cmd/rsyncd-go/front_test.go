package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/instances"
)

// syslogSink is a unixgram socket standing for /dev/log.
func syslogSink(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "log.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return p, c
}

func readDatagram(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no syslog datagram: %v", err)
	}
	return string(buf[:n])
}

// TestSyslogLogger: the facility and tag of the instance reach syslog,
// each level at its priority: <PRI> is facility*8+severity.
func TestSyslogLogger(t *testing.T) {
	sock, c := syslogSink(t)
	t.Setenv(envSyslogSocket, sock)
	tests := []struct {
		name     string
		inst     *instances.Instance
		dr       *daemonRun
		wantInfo string // prefix of the info record's datagram
		wantWarn string
	}{
		{"yaml with facility and tag", &instances.Instance{SyslogFacility: "local5", SyslogTag: "backupd"}, nil,
			"<174>", "<172>"},
		{"yaml with tag only", &instances.Instance{SyslogTag: "t1"}, nil, "<30>", "<28>"},
		{"detached --daemon defaults", &instances.Instance{}, &daemonRun{detached: true}, "<30>", "<28>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, closeLog, err := tc.dr.logger(tc.inst, slog.LevelInfo)
			if err != nil {
				t.Fatal(err)
			}
			defer closeLog()
			_, _, tag := tc.inst.Syslog()
			log.Info("hello", "k", "v")
			got := readDatagram(t, c)
			want := fmt.Sprintf("%s[%d]: level=INFO msg=hello k=v", tag, os.Getpid())
			if !strings.HasPrefix(got, tc.wantInfo) || !strings.HasSuffix(strings.TrimSuffix(got, "\n"), want) {
				t.Errorf("info datagram %q, want %s...%s", got, tc.wantInfo, want)
			}
			log.Warn("careful")
			if got := readDatagram(t, c); !strings.HasPrefix(got, tc.wantWarn) || !strings.Contains(got, "level=WARN msg=careful") {
				t.Errorf("warn datagram %q, want prefix %s", got, tc.wantWarn)
			}
		})
	}
}

// TestNoSyslogWithoutAsking: a YAML instance without syslog keys logs to
// stderr, as before.
func TestNoSyslogWithoutAsking(t *testing.T) {
	sock, c := syslogSink(t)
	t.Setenv(envSyslogSocket, sock)
	log, closeLog, err := (*daemonRun)(nil).logger(&instances.Instance{}, slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	log.Info("to stderr, not syslog")
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 100)); err == nil {
		t.Errorf("a datagram of %d bytes reached syslog", n)
	}
}
