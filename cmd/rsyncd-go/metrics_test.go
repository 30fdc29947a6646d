package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/instances"
	"github.com/rsyncd-go/rsyncd-go/modules"
	"github.com/rsyncd-go/rsyncd-go/server"
)

func instWith(listen string, names ...string) *instances.Instance {
	inst := &instances.Instance{MetricsListen: listen}
	for _, n := range names {
		inst.Modules = append(inst.Modules, modules.New(n, "/nonexistent"))
	}
	return inst
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestStartMetrics: metrics_listen serves /metrics, hooks the server, takes
// a reloaded config's module names as labels, and stops with the daemon.
func TestStartMetrics(t *testing.T) {
	srv := server.New(&server.Config{}, nil)
	if ms, err := startMetrics(instWith(""), srv, srv.Log); ms != nil || err != nil || srv.Observer != nil {
		t.Fatalf("no metrics_listen: %v %v %v", ms, err, srv.Observer)
	}
	ms, err := startMetrics(instWith("127.0.0.1:0", "old"), srv, srv.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.stop()
	if srv.Observer == nil {
		t.Fatal("the server has no observer")
	}
	srv.Observer.Connection("new")
	load := ms.watch(func() (*instances.Instance, *server.Config, error) {
		return instWith("127.0.0.1:0", "old", "new"), &server.Config{}, nil
	})
	if _, _, err := load(); err != nil {
		t.Fatal(err)
	}
	srv.Observer.Connection("new")
	code, body := get(t, "http://"+ms.addr+"/metrics")
	for _, want := range []string{`rsyncd_go_connections_total{module="new"} 1`, `rsyncd_go_connections_total{module="unknown"} 1`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /metrics: %d, lacks %q:\n%.2000s", code, want, body)
		}
	}
	if code, _ := get(t, "http://"+ms.addr+"/"); code != 404 {
		t.Errorf("GET /: %d, want 404", code)
	}
	ms.stop()
	if _, err := http.Get("http://" + ms.addr + "/metrics"); err == nil {
		t.Error("the metrics server still answers after stop")
	}

	// A busy address is an error at start.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ms, err := startMetrics(instWith(l.Addr().String()), srv, srv.Log); err == nil || !strings.Contains(err.Error(), "metrics_listen") {
		ms.stop()
		t.Errorf("a busy address: %v", err)
	}
}
