package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// statusEvery is how often STATUS= reports the number of sessions.
const statusEvery = 5 * time.Second

// notifier speaks sd_notify(3) to systemd for Type=notify units; every
// method is a no-op without $NOTIFY_SOCKET.
type notifier struct {
	log *slog.Logger
	on  bool
}

func newNotifier(log *slog.Logger) *notifier {
	return &notifier{log: log, on: os.Getenv("NOTIFY_SOCKET") != ""}
}

func (n *notifier) send(state string) {
	if !n.on {
		return
	}
	// A lost notification must not stop the daemon, but is worth a line.
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify", "state", state, "err", err)
	}
}

// run sends READY=1, then STATUS= with the session count every statusEvery
// and WATCHDOG=1 at half the watchdog interval, until ctx is done.
func (n *notifier) run(ctx context.Context, active func() int) {
	if !n.on {
		return
	}
	last := active()
	n.send(daemon.SdNotifyReady + "\nSTATUS=" + status(last))
	var wd <-chan time.Time
	if iv, err := daemon.SdWatchdogEnabled(false); err != nil {
		n.log.Warn("watchdog", "err", err)
	} else if iv > 0 {
		t := time.NewTicker(iv / 2)
		defer t.Stop()
		wd = t.C
		n.send(daemon.SdNotifyWatchdog)
	}
	st := time.NewTicker(statusEvery)
	defer st.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wd:
			n.send(daemon.SdNotifyWatchdog)
		case <-st.C:
			if a := active(); a != last {
				last = a
				n.send("STATUS=" + status(a))
			}
		}
	}
}

func status(active int) string {
	if active == 1 {
		return "1 active session"
	}
	return fmt.Sprintf("%d active sessions", active)
}
