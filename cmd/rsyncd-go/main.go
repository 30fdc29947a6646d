// Command rsyncd-go is an rsync daemon: it serves the modules of one
// instance config to stock rsync clients.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-multierror"
	"github.com/spf13/cobra"

	"github.com/rsyncd-go/rsyncd-go/instances"
	"github.com/rsyncd-go/rsyncd-go/rsyncdlog"
	"github.com/rsyncd-go/rsyncd-go/server"
)

func main() {
	stopProfiling := startProfiling()
	err := newRootCmd().Execute()
	stopProfiling()
	if err != nil {
		// One line per problem: a config with five mistakes shows five
		// lines, each with its file and line, not multierror's bullet list.
		for _, e := range problems(err) {
			fmt.Fprintln(os.Stderr, "rsyncd-go:", e)
		}
		os.Exit(1)
	}
}

type flags struct {
	instance  string
	configDir string
	config    string
	logLevel  string
	grace     time.Duration
	inetd     bool
	d         daemonFlags // rsync's --daemon command line (daemon.go)
	dmn       *daemonRun  // set in --daemon mode
}

func newRootCmd() *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:   "rsyncd-go",
		Short: "An rsync daemon for stock rsync clients",
		Long: `rsyncd-go serves rsync daemon modules (rsync://host/module) to stock rsync
clients. With no arguments it serves an embedded default instance on
127.0.0.1:8730 with a writable module "backup" and prints the client command
that pushes to it.

An instance is one YAML file, NAME.yaml in the config dir. Its keys are
rsyncd.conf's parameter names with underscores: listen, max_connections,
lock_file (count connection limits across processes, as with --inetd),
metrics_listen (serve Prometheus metrics at http://ADDR/metrics), timeout,
modules (a list: name, path, read_only, auth_users, secrets_file,
hosts_allow, ...). See README.md, installed in /usr/share/doc/rsyncd-go with
example configs. systemd runs the hidden command "rsyncd-go
systemd-generator" at boot to write each instance's unit drop-ins.`,
		Args:          daemonArgs(&f.d),
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.d.daemon || f.d.server {
				return runDaemon(cmd, &f, args)
			}
			return run(cmd.Context(), &f)
		},
	}
	addDaemonFlags(cmd, &f.d)
	fl := cmd.Flags()
	fl.StringVar(&f.instance, "instance", "", "serve instance `NAME` (NAME.yaml in the config dir)")
	cmd.PersistentFlags().StringVar(&f.configDir, "config-dir", "", "config `DIR` (default $RSYNCD_GO_CONFIG_DIR, else /etc/rsyncd-go)")
	fl.StringVar(&f.config, "config", "", "serve the instance config `FILE`")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.DurationVar(&f.grace, "shutdown-grace", 30*time.Second, "how long transfers may run on after SIGTERM")
	fl.BoolVar(&f.inetd, "inetd", false, "serve the one connection on stdin/stdout, then exit (inetd, systemd Accept=yes)")
	cmd.AddCommand(newInstancesCmd(&f), newCheckCmd(&f))
	cmd.AddCommand(newGeneratorCmd(&f))
	cmd.AddCommand(newImportCmd())
	cmd.AddCommand(newManCmd())
	return cmd
}

func run(ctx context.Context, f *flags) error {
	start := time.Now() // temp files older than this are stale
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}

	var info *instances.DefaultInfo
	var load func() (*instances.Instance, error)
	switch {
	case f.dmn != nil:
		load = f.dmn.load
	case f.config != "" && f.instance != "":
		return errors.New("--config and --instance exclude each other")
	case f.config != "":
		load = func() (*instances.Instance, error) { return instances.Load(f.config) }
	case f.instance != "":
		load = func() (*instances.Instance, error) {
			path, err := instances.Find(instances.ConfigDir(f.configDir), f.instance)
			if err != nil {
				return nil, err
			}
			return instances.Load(path)
		}
	default:
		load = func() (*instances.Instance, error) {
			inst, di, err := instances.Default()
			info = &di
			return inst, err
		}
	}
	// loadChecked is the whole validation, at start and on every reload.
	loadChecked := func() (*instances.Instance, *server.Config, error) {
		inst, err := load()
		if err != nil {
			return nil, nil, err
		}
		if errs := unsupported(inst); len(errs) > 0 {
			return nil, nil, multierror.Append(nil, errs...)
		}
		motd, err := readMotd(inst.Motd)
		if err != nil {
			return nil, nil, err
		}
		cfg := &server.Config{
			Modules:        inst.Modules,
			MaxConnections: inst.MaxConnections,
			Timeout:        inst.Timeout,
			Motd:           motd,
			LockFile:       inst.LockFile,
			// PROXY protocol headers (instance keys proxy_protocol*).
			ProxyProtocol:      inst.ProxyProtocol,
			ProxyProtocolHosts: inst.ProxyProtocolHosts,
		}
		if err := f.dmn.front(inst, cfg); err != nil { // socket options, --bwlimit
			return nil, nil, err
		}
		return inst, cfg, nil
	}
	inst, cfg, err := loadChecked()
	if err != nil {
		return err
	}
	log, closeLog, err := f.dmn.logger(inst, level)
	if err != nil {
		return err
	}
	defer closeLog()
	log = log.With("instance", inst.Name)

	srv := server.New(cfg, log)
	if f.inetd || f.dmn.oneConn() {
		c, err := f.dmn.conn()
		if err != nil {
			return err
		}
		log.Debug("serving one connection (--inetd)", "remote", c.RemoteAddr().String())
		return serveOne(ctx, srv, c, f.grace)
	}
	ms, err := startMetrics(inst, srv, log)
	if err != nil {
		return err
	}
	defer ms.stop()
	lns, activated, stopListen, err := listen(f.dmn, inst)
	if err != nil {
		return err
	}
	defer stopListen() // removes the pid file
	if activated {
		log.Info("using the sockets systemd passed instead of the config's listen addresses",
			"ignored", strings.Join(inst.Listen, ","))
	}
	errc := make(chan error, len(lns))
	for _, l := range lns {
		if activated {
			log.Info("listening", "from", "systemd", "addr", l.Addr().String(), startLine(l))
		} else {
			log.Info("listening", "addr", l.Addr().String(), startLine(l))
		}
		go func() { errc <- srv.Serve(l) }()
	}
	f.dmn.listening()
	if info != nil && len(lns) > 0 {
		printDefaultHelp(lns[0].Addr().String(), info)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	nctx, nstop := context.WithCancel(ctx)
	defer nstop()
	sd := newNotifier(log)
	go sd.run(nctx, srv.Active)
	// Temp files a killed or crashed predecessor left in the modules go,
	// in the background. Not with --inetd, whose siblings may be writing.
	go server.CleanStaleTemps(nctx, cfg.Modules, start, log)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			break wait
		case <-hup:
			sd.send(daemon.SdNotifyReloading)
			reload(log, srv, inst, ms.watch(loadChecked))
			sd.send(daemon.SdNotifyReady + "\nSTATUS=" + status(srv.Active()))
		}
	}
	sd.send(daemon.SdNotifyStopping + "\nSTATUS=stopping: " + status(srv.Active()))
	log.Info("shutting down", "grace", f.grace)
	sctx, cancel := context.WithTimeout(context.Background(), f.grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// serveOne serves c to its end. On SIGTERM the transfer gets grace to
// finish, then its connection is cut so the engine fails it and removes its
// temp file instead of dying with it in place.
func serveOne(ctx context.Context, srv *server.Server, c net.Conn, grace time.Duration) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan struct{})
	go func() {
		srv.ServeConn(c)
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	srv.Log.Info("shutting down", "grace", grace)
	select {
	case <-done:
	case <-time.After(grace):
		c.Close()
		<-done
	}
	return nil
}

func printDefaultHelp(addr string, info *instances.DefaultInfo) {
	var b strings.Builder
	fmt.Fprintf(&b, "rsyncd-go: serving the default instance: module %q at %s\n", info.Module, info.ModulePath)
	fmt.Fprintf(&b, "push to it with:\n\n    rsync -az /data/ --delete rsync://%s@%s/%s/ --password-file=%s\n\n",
		info.User, addr, info.Module, info.PasswordFile)
	fmt.Fprint(os.Stderr, b.String())
}

// instanceLogger logs as the instance asks: text, JSON or stock rsyncd's
// lines ("log_format"), to
// stderr (the journal) or appended to "log_file".
func instanceLogger(inst *instances.Instance, level slog.Level) (*slog.Logger, func(), error) {
	var w io.Writer = os.Stderr
	closeFn := func() {}
	if inst.LogFile != "" {
		f, err := os.OpenFile(inst.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("log_file: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	}
	opts := &slog.HandlerOptions{Level: level}
	if inst.LogFormat == "rsyncd" {
		return slog.New(rsyncdlog.NewHandler(w, &rsyncdlog.Options{Level: level})), closeFn, nil
	}
	if inst.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), closeFn, nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), closeFn, nil
}

// startLine is rsyncd's "rsyncd version V starting, listening on port N"
// for the log in rsyncd's words, naming this daemon.
func startLine(l net.Listener) slog.Attr {
	port := 0
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	return rsyncdlog.Line(fmt.Sprintf("rsyncd-go version %s starting, listening on port %d", version, port))
}

// maxMotd bounds the message of the day sent to every client.
const maxMotd = 64 << 10

// readMotd reads "motd_file" once at start.
func readMotd(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("motd_file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMotd+1))
	if err != nil {
		return "", fmt.Errorf("motd_file: %w", err)
	}
	if len(b) > maxMotd {
		return "", fmt.Errorf("motd_file %s: larger than %d bytes", path, maxMotd)
	}
	return string(b), nil
}

// reload applies a re-read config to new connections; sessions in flight
// keep the one they started with. A config that fails validation is not
// applied: every error is logged and the old config stays.
func reload(log *slog.Logger, srv *server.Server, running *instances.Instance, loadChecked func() (*instances.Instance, *server.Config, error)) {
	inst, cfg, err := loadChecked()
	if err != nil {
		for _, e := range problems(err) {
			log.Error("reload: config refused; the old one stays in force", "err", e)
		}
		return
	}
	srv.SetConfig(cfg)
	names := make([]string, len(inst.Modules))
	for i, m := range inst.Modules {
		names[i] = m.Name
	}
	log.Info("config reloaded", "modules", strings.Join(names, ","))
	if strings.Join(inst.Listen, ",") != strings.Join(running.Listen, ",") {
		log.Warn("reload: listen addresses changed; they take effect on restart", "listen", strings.Join(inst.Listen, ","))
	}
}
