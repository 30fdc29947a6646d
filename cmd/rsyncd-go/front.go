package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"log/syslog"
	"net"
	"os"

	"github.com/rsyncd-go/rsyncd-go/instances"
	"github.com/rsyncd-go/rsyncd-go/modules"
	"github.com/rsyncd-go/rsyncd-go/server"
)

// envSyslogSocket names a unixgram socket to log to instead of the
// system's (/dev/log): for tests, which assert what syslog receives.
const envSyslogSocket = "RSYNCD_GO_SYSLOG_SOCKET"

// dialSyslog opens the system logger, or $RSYNCD_GO_SYSLOG_SOCKET.
func dialSyslog(prio syslog.Priority, tag string) (*syslog.Writer, error) {
	if p := os.Getenv(envSyslogSocket); p != "" {
		return syslog.Dial("unixgram", p, prio, tag)
	}
	return syslog.New(prio, tag)
}

// syslogLevels sends each record of a text handler (one Write each) at
// the syslog priority of its level, within the writer's facility.
type syslogLevels struct{ w *syslog.Writer }

func (s syslogLevels) Write(p []byte) (int, error) {
	msg := string(bytes.TrimSuffix(p, []byte("\n")))
	var err error
	switch {
	case bytes.HasPrefix(p, []byte("level=ERROR")):
		err = s.w.Err(msg)
	case bytes.HasPrefix(p, []byte("level=WARN")):
		err = s.w.Warning(msg)
	case bytes.HasPrefix(p, []byte("level=DEBUG")):
		err = s.w.Debug(msg)
	default:
		err = s.w.Info(msg)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// dropTime leaves the time stamp to syslog, so records start with their
// level (which syslogLevels reads).
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// tuneListeners applies "listen backlog" and "socket options" to the
// listening sockets, as rsync's open_socket_in and listen(2) do (accepted
// connections inherit the options; the server sets them again on each).
func tuneListeners(lns []net.Listener, inst *instances.Instance) error {
	opts, err := modules.ParseSocketOptions(inst.SocketOptions)
	if err != nil {
		return fmt.Errorf("socket_options: %w", err)
	}
	for _, l := range lns {
		if err := server.SetBacklog(l, inst.ListenBacklog); err != nil {
			return err
		}
		if tl, ok := l.(*net.TCPListener); ok {
			if err := server.SetSocketOptions(tl, opts); err != nil {
				return fmt.Errorf("listening on %s: %w", l.Addr(), err)
			}
		}
	}
	return nil
}
