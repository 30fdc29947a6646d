// Package metrics counts what one rsyncd-go instance serves, for Prometheus:
// connections, transfers, bytes, refusals and auth failures by module.
package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values that are not module names. A module name a client sends is
// used as a label only when the instance configures it, so a hostile client
// cannot grow the label set.
const (
	ModuleList    = ""        // a module-list request, or no module named yet
	ModuleUnknown = "unknown" // a name the instance does not configure
)

// Reasons of rsyncd_go_errors_total, a closed set.
const (
	ReasonUnknownModule  = "unknown_module"
	ReasonAccessDenied   = "access_denied"
	ReasonMaxConnections = "max_connections"
	ReasonLockFile       = "lock_file"
	ReasonModulePath     = "module_path"
	ReasonArguments      = "arguments"
	ReasonTransfer       = "transfer"
)

// Metrics is one instance's collectors in a registry of its own (not the
// process-global one), so two servers in one process do not clash. Its
// methods are safe for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	modules   atomic.Pointer[map[string]struct{}]
	conns     *prometheus.CounterVec
	active    prometheus.Gauge
	transfers *prometheus.CounterVec
	received  *prometheus.CounterVec
	sent      *prometheus.CounterVec
	errors    *prometheus.CounterVec
	authFail  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

const ns = "rsyncd_go"

// New returns the collectors, registered with Go runtime and process
// metrics, for an instance whose modules are named modules.
func New(modules []string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "connections_total",
			Help: `Connections by the module they asked for ("" for a module list or none, "unknown" for a module not configured).`},
			[]string{"module"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "connections_active",
			Help: "Connections open now, in the handshake or transferring."}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "transfers_total",
			Help: `Transfers that ran, by module and direction ("receive": a client push, "send": a pull), failed ones included.`},
			[]string{"module", "direction"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bytes_received_total",
			Help: "Bytes read from clients during transfers (on the wire, compressed if -z)."},
			[]string{"module"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bytes_sent_total",
			Help: "Bytes written to clients during transfers (on the wire, compressed if -z)."},
			[]string{"module"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "errors_total",
			Help: "Connections refused or transfers failed, by module and reason."},
			[]string{"module", "reason"}),
		authFail: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "auth_failures_total",
			Help: "Failed authentications by module."},
			[]string{"module"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "transfer_duration_seconds",
			Help:    "Duration of transfers, from the arguments to the end, by module and direction.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, // 10ms to ~44min
			[]string{"module", "direction"}),
	}
	m.reg.MustRegister(m.conns, m.active, m.transfers, m.received, m.sent, m.errors, m.authFail, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.SetModules(modules)
	return m
}

// SetModules replaces the module names used as label values (on reload).
func (m *Metrics) SetModules(names []string) {
	set := make(map[string]struct{}, len(names))
	for _, n := range names {
		set[n] = struct{}{}
	}
	m.modules.Store(&set)
}

// module is the label value for a module name from a client.
func (m *Metrics) module(name string) string {
	if name == ModuleList {
		return ModuleList
	}
	if _, ok := (*m.modules.Load())[name]; ok {
		return name
	}
	return ModuleUnknown
}

// direction keeps the direction label to its two values.
func direction(d string) string {
	if d == "send" {
		return d
	}
	return "receive"
}

// Registry returns the registry holding every collector.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves GET /metrics (and HEAD) in Prometheus' formats; any other
// path or method gets 404 or 405.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// ConnOpened counts a connection accepted.
func (m *Metrics) ConnOpened() { m.active.Inc() }

// ConnClosed counts a connection closed.
func (m *Metrics) ConnClosed() { m.active.Dec() }

// Connection counts a handshake that asked for module (ModuleList for a
// module list).
func (m *Metrics) Connection(module string) { m.conns.WithLabelValues(m.module(module)).Inc() }

// Refused counts a connection refused for reason, one of the Reason
// constants (anything else counts as "other", to bound the label set).
func (m *Metrics) Refused(module, reason string) {
	switch reason {
	case ReasonUnknownModule, ReasonAccessDenied, ReasonMaxConnections, ReasonLockFile,
		ReasonModulePath, ReasonArguments, ReasonTransfer:
	default:
		reason = "other"
	}
	m.errors.WithLabelValues(m.module(module), reason).Inc()
}

// AuthFailed counts a failed authentication.
func (m *Metrics) AuthFailed(module string) { m.authFail.WithLabelValues(m.module(module)).Inc() }

// Transfer counts a transfer that ran: its direction ("send" or
// "receive"), the bytes read and written on the wire, its duration, and
// whether it failed (counted in errors_total too).
func (m *Metrics) Transfer(module, dir string, read, written int64, d time.Duration, failed bool) {
	mod, dir := m.module(module), direction(dir)
	m.transfers.WithLabelValues(mod, dir).Inc()
	m.received.WithLabelValues(mod).Add(float64(max(read, 0)))
	m.sent.WithLabelValues(mod).Add(float64(max(written, 0)))
	m.duration.WithLabelValues(mod, dir).Observe(d.Seconds())
	if failed {
		m.errors.WithLabelValues(mod, ReasonTransfer).Inc()
	}
}
