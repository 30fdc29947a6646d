package server

import (
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/xferlog"
)

func TestLimitVerbosity(t *testing.T) {
	for _, tc := range []struct{ v, limit, want int }{
		{3, 1, 1}, {3, 2, 2}, {1, 2, 1}, {2, 0, 0}, {0, 1, 0}, {4, 5, 4}, {9, 6, 9},
	} {
		if got := limitVerbosity(tc.v, tc.limit); got != tc.want {
			t.Errorf("limitVerbosity(%d, %d) = %d, want %d", tc.v, tc.limit, got, tc.want)
		}
	}
}

func TestLoggedItem(t *testing.T) {
	withI, _ := parseLogFormat("%o %f %i")
	withoutI, _ := parseLogFormat("%o %f %l")
	for _, tc := range []struct {
		name   string
		lf     *logFormat
		iflags int
		want   bool
	}{
		{"new dir with %i", withI, xferlog.ItemLocalChange | xferlog.ItemIsNew, true},
		{"time change with %i", withI, xferlog.ItemReportTime, true},
		{"local change only", withI, xferlog.ItemLocalChange, false},
		{"hard link", withI, xferlog.ItemLocalChange | xferlog.ItemXnameFollows, true},
		{"nothing changed", withI, 0, false},
		{"new dir without %i", withoutI, xferlog.ItemLocalChange | xferlog.ItemIsNew, false},
	} {
		if got := loggedItem(tc.lf, tc.iflags); got != tc.want {
			t.Errorf("%s: loggedItem = %v, want %v", tc.name, got, tc.want)
		}
	}
}
