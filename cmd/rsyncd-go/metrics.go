package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/rsyncd-go/rsyncd-go/instances"
	"github.com/rsyncd-go/rsyncd-go/metrics"
	"github.com/rsyncd-go/rsyncd-go/server"
)

// metricsServer serves an instance's Prometheus metrics on metrics_listen.
type metricsServer struct {
	m    *metrics.Metrics
	srv  *http.Server
	addr string // the address bound, port 0 resolved
}

func moduleNames(inst *instances.Instance) []string {
	names := make([]string, len(inst.Modules))
	for i, m := range inst.Modules {
		names[i] = m.Name
	}
	return names
}

// startMetrics listens on inst.MetricsListen, hooks the collectors into srv
// and serves GET /metrics until stop. Without metrics_listen it does
// nothing and returns nil.
func startMetrics(inst *instances.Instance, srv *server.Server, log *slog.Logger) (*metricsServer, error) {
	if inst.MetricsListen == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", inst.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen: %w", err)
	}
	ms := &metricsServer{m: metrics.New(moduleNames(inst)), addr: l.Addr().String()}
	ms.srv = &http.Server{
		Handler:           ms.m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.Observer = ms.m
	log.Info("metrics listening", "addr", ms.addr)
	go func() {
		if err := ms.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return ms, nil
}

// watch wraps a reload's loader: the module names of a config that loads
// become the label values.
func (ms *metricsServer) watch(load func() (*instances.Instance, *server.Config, error)) func() (*instances.Instance, *server.Config, error) {
	return func() (*instances.Instance, *server.Config, error) {
		inst, cfg, err := load()
		if err == nil && ms != nil {
			ms.m.SetModules(moduleNames(inst))
		}
		return inst, cfg, err
	}
}

// stop closes the metrics listener, letting a scrape in flight finish.
func (ms *metricsServer) stop() {
	if ms == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = ms.srv.Shutdown(ctx)
}
