package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCounters(t *testing.T) {
	m := New([]string{"backup", "www"})
	m.ConnOpened()
	m.ConnOpened()
	m.ConnClosed()
	m.Connection("backup")
	m.Connection("backup")
	m.Connection(ModuleList)
	m.Connection("nope")
	m.AuthFailed("backup")
	m.Refused("nope", ReasonUnknownModule)
	m.Refused("www", ReasonMaxConnections)
	m.Refused("www", "made up")
	m.Transfer("backup", "receive", 1000, 20, 1500*time.Millisecond, false)
	m.Transfer("backup", "receive", 500, 10, time.Second, true)
	m.Transfer("www", "send", 30, 4000, time.Millisecond, false)
	m.Transfer("www", "sideways", 0, 0, 0, false)

	cases := []struct {
		name string
		got  float64
		want float64
	}{
		{"active", testutil.ToFloat64(m.active), 1},
		{"connections backup", testutil.ToFloat64(m.conns.WithLabelValues("backup")), 2},
		{"connections list", testutil.ToFloat64(m.conns.WithLabelValues("")), 1},
		{"connections unknown", testutil.ToFloat64(m.conns.WithLabelValues("unknown")), 1},
		{"auth failures", testutil.ToFloat64(m.authFail.WithLabelValues("backup")), 1},
		{"unknown module", testutil.ToFloat64(m.errors.WithLabelValues("unknown", ReasonUnknownModule)), 1},
		{"max connections", testutil.ToFloat64(m.errors.WithLabelValues("www", ReasonMaxConnections)), 1},
		{"other reason", testutil.ToFloat64(m.errors.WithLabelValues("www", "other")), 1},
		{"transfer errors", testutil.ToFloat64(m.errors.WithLabelValues("backup", ReasonTransfer)), 1},
		{"transfers receive", testutil.ToFloat64(m.transfers.WithLabelValues("backup", "receive")), 2},
		{"transfers send", testutil.ToFloat64(m.transfers.WithLabelValues("www", "send")), 1},
		{"bad direction is receive", testutil.ToFloat64(m.transfers.WithLabelValues("www", "receive")), 1},
		{"bytes received", testutil.ToFloat64(m.received.WithLabelValues("backup")), 1500},
		{"bytes sent", testutil.ToFloat64(m.sent.WithLabelValues("www")), 4000},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 3 {
		t.Errorf("%d duration series, want 3", n)
	}
}

// TestLabelsBounded: names a client makes up never become label values;
// after SetModules the new names do.
func TestLabelsBounded(t *testing.T) {
	m := New([]string{"backup"})
	for i := range 1000 {
		name := fmt.Sprintf("evil-%d", i)
		m.Connection(name)
		m.Refused(name, ReasonUnknownModule)
		m.AuthFailed(name)
		m.Transfer(name, fmt.Sprint(i), 1, 1, time.Second, true)
	}
	for name, c := range map[string]int{
		"conns": testutil.CollectAndCount(m.conns), "errors": testutil.CollectAndCount(m.errors),
		"auth": testutil.CollectAndCount(m.authFail), "transfers": testutil.CollectAndCount(m.transfers),
	} {
		if c > 2 {
			t.Errorf("%s: %d series from 1000 made-up names", name, c)
		}
	}
	m.SetModules([]string{"backup", "evil-1"})
	m.Connection("evil-1")
	if got := testutil.ToFloat64(m.conns.WithLabelValues("evil-1")); got != 1 {
		t.Errorf("after SetModules: %v", got)
	}
}

func TestHandler(t *testing.T) {
	m := New([]string{"backup"})
	m.Transfer("backup", "send", 10, 20, time.Second, false)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	cases := []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/metrics", 200, `rsyncd_go_bytes_sent_total{module="backup"} 20`},
		{"GET", "/metrics", 200, `rsyncd_go_transfer_duration_seconds_count{direction="send",module="backup"} 1`},
		{"GET", "/metrics", 200, "go_goroutines"},
		{"HEAD", "/metrics", 200, ""},
		{"POST", "/metrics", 405, ""},
		{"GET", "/", 404, ""},
		{"GET", "/debug/pprof/", 404, ""},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, srv.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.body) {
			t.Errorf("%s %s: %d, want %d with %q:\n%.500s", c.method, c.path, resp.StatusCode, c.code, c.body, b)
		}
	}
}

// TestTwoInstances: two Metrics in one process register without clashing.
func TestTwoInstances(t *testing.T) {
	a, b := New([]string{"x"}), New([]string{"x"})
	a.Connection("x")
	if testutil.ToFloat64(b.conns.WithLabelValues("x")) != 0 || testutil.ToFloat64(a.conns.WithLabelValues("x")) != 1 {
		t.Error("the two instances share counters")
	}
}
