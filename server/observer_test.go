package server

import (
	"testing"

	"github.com/rsyncd-go/rsyncd-go/metrics"
)

// The metrics package implements Observer and knows every reason server
// passes (an unknown one would be counted as "other").
var _ Observer = (*metrics.Metrics)(nil)

func TestRefusalReasons(t *testing.T) {
	for _, c := range []struct{ server, metrics string }{
		{refusedUnknownModule, metrics.ReasonUnknownModule},
		{refusedAccessDenied, metrics.ReasonAccessDenied},
		{refusedMaxConnections, metrics.ReasonMaxConnections},
		{refusedLockFile, metrics.ReasonLockFile},
		{refusedModulePath, metrics.ReasonModulePath},
		{refusedArguments, metrics.ReasonArguments},
	} {
		if c.server != c.metrics {
			t.Errorf("server reason %q, metrics %q", c.server, c.metrics)
		}
	}
}
