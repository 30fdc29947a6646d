package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/instances"
	"github.com/rsyncd-go/rsyncd-go/modules"
	"github.com/rsyncd-go/rsyncd-go/server"
)

// daemonFlags are rsync's --daemon command line.
type daemonFlags struct {
	daemon, server bool
	noDetach       bool
	address        string
	port           int
	dparams        []string
	bwlimit        string
	bwlimitKiB     int64 // --bwlimit, checked
	sockopts       string
	logFile        string
	ipv4, ipv6     bool
}

func addDaemonFlags(cmd *cobra.Command, d *daemonFlags) {
	fl := cmd.Flags()
	fl.BoolVar(&d.daemon, "daemon", false, "run as rsync --daemon does: rsyncd.conf (--config, default /etc/rsyncd.conf), detached unless --no-detach; inetd mode when stdin is a socket")
	fl.BoolVar(&d.server, "server", false, "with --daemon: serve one daemon session on stdin/stdout (rsync -e SHELL host::module runs \"rsync --server --daemon .\")")
	fl.BoolVar(&d.noDetach, "no-detach", false, "with --daemon: stay in the foreground")
	fl.StringVar(&d.address, "address", "", "with --daemon: listen on `ADDR` only (overrides rsyncd.conf's address)")
	fl.IntVar(&d.port, "port", 0, "with --daemon: listen on port `N` (overrides rsyncd.conf's port; default 873)")
	fl.StringArrayVarP(&d.dparams, "dparam", "M", nil, "with --daemon: override a global rsyncd.conf parameter, `NAME=VALUE`")
	fl.StringVar(&d.bwlimit, "bwlimit", "", "with --daemon: send at most `KBPS` KiB per second in every transfer (a client's lower --bwlimit wins)")
	fl.StringVar(&d.sockopts, "sockopts", "", "with --daemon: socket `OPTIONS` (overrides rsyncd.conf's socket options), e.g. SO_KEEPALIVE,SO_SNDBUF=262144")
	fl.StringVar(&d.logFile, "log-file", "", "with --daemon: log to `FILE` (overrides every log file of rsyncd.conf)")
	fl.BoolVarP(&d.ipv4, "ipv4", "4", false, "with --daemon: listen on IPv4 only")
	fl.BoolVarP(&d.ipv6, "ipv6", "6", false, "with --daemon: listen on IPv6 only")
}

// daemonArgs accepts positional arguments only in --server mode, where
// rsync passes ".".
func daemonArgs(d *daemonFlags) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if d.server {
			return nil
		}
		return cobra.NoArgs(cmd, args)
	}
}

// daemonRun is what --daemon changes in run(); a nil *daemonRun is the
// ordinary instance mode.
type daemonRun struct {
	d        *daemonFlags
	config   string
	pipe     bool     // --server --daemon: one session on stdin/stdout pipes
	detached bool     // the child of a detaching parent
	ready    *os.File // the child's stderr to the parent, until ready
}

const (
	// envDetached marks the re-executed child of a detaching --daemon.
	envDetached = "RSYNCD_GO_DETACHED"
	// readyMarker is the line the child writes when it listens.
	readyMarker = "\x00rsyncd-go ready"
	sysConfig   = "/etc/rsyncd.conf"
	userConfig  = "rsyncd.conf" // rsync's default in --server --daemon mode when not root
)

// runDaemon is rsync --daemon: it checks the command line, detaches
// (re-executing itself, as Go cannot fork) and runs the instance of the
// rsyncd.conf.
func runDaemon(cmd *cobra.Command, f *flags, args []string) error {
	d := &f.d
	switch {
	case d.server && !d.daemon:
		return errors.New("--server: rsyncd-go only serves daemon sessions (--server --daemon)")
	case d.server && (len(args) != 1 || args[0] != "."):
		return fmt.Errorf("--server --daemon: want the single argument \".\", got %q", args)
	case f.instance != "":
		return errors.New("--daemon and --instance exclude each other (use --config)")
	case d.ipv4 && d.ipv6:
		return errors.New("--ipv4 and --ipv6 exclude each other")
	case d.port < 0 || d.port > 65535:
		return fmt.Errorf("--port: %d is not a port number", d.port)
	}
	if d.bwlimit != "" {
		// An integer of KiB/s, as rsync's daemon --bwlimit (POPT_ARG_INT).
		n, err := strconv.ParseInt(d.bwlimit, 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("--bwlimit: %q is not a whole number of KiB per second", d.bwlimit)
		}
		d.bwlimitKiB = n
	}
	if d.sockopts != "" {
		if _, err := modules.ParseSocketOptions(d.sockopts); err != nil {
			return fmt.Errorf("--sockopts: %w", err)
		}
	}
	dr := &daemonRun{d: d, config: f.config, pipe: d.server}
	if dr.config == "" {
		dr.config = sysConfig
		if d.server && os.Geteuid() != 0 {
			dr.config = userConfig
		}
	}
	if !d.server && isSocket(0) {
		f.inetd = true // inetd mode, as rsync's daemon_main does
	}
	if os.Getenv(envDetached) != "" {
		os.Unsetenv(envDetached)
		dr.detached = true
		dr.ready = os.Stderr
	} else if !d.noDetach && !d.server && !f.inetd {
		return detach(dr)
	}
	f.dmn = dr
	return run(cmd.Context(), f)
}

// detach re-executes this program as a new session without a terminal and
// exits 0 once it listens; its startup errors are printed here and end
// this process with its status. Stock rsync's parent exits at once, before
// the child binds; waiting lets a failure to start reach the caller.
func detach(dr *daemonRun) error {
	// The config is checked here first, as rsync does before it forks.
	if _, err := dr.load(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--daemon: finding this program to detach: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("--daemon: %w", err)
	}
	c := exec.Command(self, os.Args[1:]...)
	c.Env = append(os.Environ(), envDetached+"=1")
	c.Stderr = pw
	c.SysProcAttr = &unix.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("--daemon: starting the detached daemon: %w", err)
	}
	pw.Close()
	ready := false
	br := bufio.NewReader(pr)
	for {
		line, err := br.ReadString('\n')
		if strings.TrimSuffix(line, "\n") == readyMarker {
			ready = true
		} else if line != "" {
			fmt.Fprint(os.Stderr, line)
		}
		if err != nil {
			break
		}
	}
	pr.Close()
	if ready {
		os.Exit(0) // the child goes on serving
	}
	err = c.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode())
	}
	if err == nil {
		return errors.New("--daemon: the detached daemon exited before listening")
	}
	return fmt.Errorf("--daemon: %w", err)
}

// load reads the rsyncd.conf (or instance YAML) with the command line's
// overrides.
func (dr *daemonRun) load() (*instances.Instance, error) {
	d := dr.d
	fam := ""
	if d.ipv4 {
		fam = "4"
	} else if d.ipv6 {
		fam = "6"
	}
	if !instances.IsConf(dr.config) {
		if len(d.dparams) > 0 || d.address != "" || d.port != 0 {
			return nil, errors.New("--dparam, --address and --port apply to an rsyncd.conf, not to instance YAML")
		}
		inst, err := instances.Load(dr.config)
		if err == nil && d.logFile != "" {
			inst.LogFile = d.logFile
		}
		return dr.override(inst), err
	}
	inst, err := instances.LoadConf(dr.config, instances.ConfOptions{
		Dparams: d.dparams, Address: d.address, Port: d.port, Family: fam, LogFile: d.logFile,
	})
	return dr.override(inst), err
}

// override applies the command line's --sockopts, which replaces the
// config's "socket options" as in rsync.
func (dr *daemonRun) override(inst *instances.Instance) *instances.Instance {
	if inst != nil && dr.d.sockopts != "" {
		inst.SocketOptions = dr.d.sockopts
	}
	return inst
}

// front fills in the server settings of the daemon front: socket options
// and the daemon's --bwlimit. dr is nil outside --daemon mode.
func (dr *daemonRun) front(inst *instances.Instance, cfg *server.Config) error {
	opts, err := modules.ParseSocketOptions(inst.SocketOptions)
	if err != nil {
		return fmt.Errorf("socket_options: %w", err) // the loader checked it
	}
	cfg.SocketOptions = opts
	if dr != nil {
		cfg.Bwlimit = dr.d.bwlimitKiB
	}
	return nil
}

// logger logs where a daemon without a terminal can: the log file, else
// syslog with the instance's "syslog facility" and "syslog tag" (rsyncd's
// daemon and rsyncd by default). An instance that sets either of those
// and no log file logs to syslog in every mode.
func (dr *daemonRun) logger(inst *instances.Instance, level slog.Level) (*slog.Logger, func(), error) {
	use, facility, tag := inst.Syslog()
	if inst.LogFile == "" && dr != nil && (dr.detached || dr.pipe) {
		use = true
	}
	if !use {
		return instanceLogger(inst, level)
	}
	w, err := dialSyslog(facility|syslog.LOG_INFO, tag)
	if err != nil {
		if dr.pipe {
			// stderr would reach the client's terminal; stay quiet.
			return slog.New(slog.DiscardHandler), func() {}, nil
		}
		return nil, nil, fmt.Errorf("--daemon: no log file is set and syslog is unavailable (%w); set \"log file\" or --log-file", err)
	}
	return slog.New(slog.NewTextHandler(syslogLevels{w}, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime})), func() { w.Close() }, nil
}

// conn is the one connection of inetd or remote-shell mode.
func (dr *daemonRun) conn() (net.Conn, error) {
	if dr == nil || !dr.pipe {
		return server.StdioConn()
	}
	return pipeConn()
}

// oneConn tells run() to serve a single session on standard input.
func (dr *daemonRun) oneConn() bool { return dr != nil && dr.pipe }

// listen writes the instance's pid file (before binding, as rsyncd does)
// and opens its listeners; stop removes the pid file.
func listen(dr *daemonRun, inst *instances.Instance) (lns []net.Listener, activated bool, stop func(), err error) {
	var pf *pidFile
	if inst.PidFile != "" {
		if pf, err = createPidFile(inst.PidFile); err != nil {
			return nil, false, nil, err
		}
	}
	stop = func() { pf.remove() }
	if dr != nil && dr.d.ipv6 {
		lns, err = listen6(inst.Listen)
	} else {
		lns, activated, err = server.Listeners(inst.Listen)
	}
	if err == nil && !activated {
		// systemd's sockets keep the unit's Backlog= and options.
		err = tuneListeners(lns, inst)
	}
	if err != nil {
		stop()
		return nil, false, nil, err
	}
	return lns, activated, stop, nil
}

// listen6 listens IPv6-only on wildcard addresses (--ipv6): rsync sets
// IPV6_V6ONLY on its sockets, and Go does for "tcp6".
func listen6(addrs []string) ([]net.Listener, error) {
	var lns []net.Listener
	for _, a := range addrs {
		l, err := net.Listen("tcp6", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("listen: %w", err)
		}
		lns = append(lns, l)
	}
	return lns, nil
}

// listening tells a detaching parent that the daemon serves, and stops
// writing to the parent's pipe (stderr becomes /dev/null, as rsync's
// become_daemon does).
func (dr *daemonRun) listening() {
	if dr == nil || dr.ready == nil {
		return
	}
	fmt.Fprintln(dr.ready, readyMarker)
	if null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
		_ = unix.Dup2(int(null.Fd()), 2)
		null.Close()
	}
	dr.ready = nil
}

func isSocket(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK
}

// pidFile is a locked pid file, removed when the daemon stops.
type pidFile struct {
	f    *os.File
	path string
}

// createPidFile writes this process's pid to path under an fcntl lock, as
// rsyncd does: a pid file whose lock another live daemon holds is refused,
// a stale one is overwritten, and a non-regular file in its place (a
// symlink) is removed first rather than followed.
func createPidFile(path string) (*pidFile, error) {
	fail := func(what string, err error) (*pidFile, error) {
		return nil, fmt.Errorf("failed to %s pid file %s: %w", what, path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("open the directory of", err)
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		if err := unix.Unlinkat(dfd, base, 0); err != nil {
			return fail("unlink", err)
		}
	}
	fd, err := unix.Openat(dfd, base, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o664)
	if err != nil {
		return fail("create", err)
	}
	f := os.NewFile(uintptr(fd), path)
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: 0, Len: 4}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
		f.Close()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			err = fmt.Errorf("%w (another daemon holds it)", err)
		}
		return fail("lock", err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return fail("truncate", err)
	}
	if _, err := f.WriteString(strconv.Itoa(os.Getpid()) + "\n"); err != nil {
		f.Close()
		return fail("write", err)
	}
	return &pidFile{f: f, path: path}, nil
}

// remove deletes the pid file and drops its lock.
func (p *pidFile) remove() {
	if p == nil {
		return
	}
	os.Remove(p.path)
	p.f.Close()
}

// stdioPipe is one daemon session over a remote shell's stdin/stdout pipes.
type stdioPipe struct {
	r, w   *os.File
	remote net.Addr
}

func (c *stdioPipe) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *stdioPipe) Write(b []byte) (int, error) { return c.w.Write(b) }
func (c *stdioPipe) Close() error                { return errors.Join(c.r.Close(), c.w.Close()) }
func (c *stdioPipe) LocalAddr() net.Addr         { return &net.UnixAddr{Name: "stdio", Net: "unix"} }
func (c *stdioPipe) RemoteAddr() net.Addr        { return c.remote }
func (c *stdioPipe) SetDeadline(t time.Time) error {
	return errors.Join(c.r.SetReadDeadline(t), c.w.SetWriteDeadline(t))
}
func (c *stdioPipe) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *stdioPipe) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

// pipeConn takes descriptors 0 and 1 as the session (non-blocking, so
// timeouts work) and points them at /dev/null, as StdioConn does. The
// client's address comes from the remote shell's environment, as rsync
// takes it; 0.0.0.0 when there is none.
func pipeConn() (net.Conn, error) {
	var files [2]*os.File
	for i, name := range []string{"stdin", "stdout"} {
		fd, err := unix.FcntlInt(uintptr(i), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, fmt.Errorf("--server --daemon: %s: %w", name, err)
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("--server --daemon: %s: %w", name, err)
		}
		files[i] = os.NewFile(uintptr(fd), name)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("--server --daemon: %w", err)
	}
	defer null.Close()
	for _, fd := range []int{0, 1} {
		if err := unix.Dup2(int(null.Fd()), fd); err != nil {
			return nil, fmt.Errorf("--server --daemon: redirecting fd %d: %w", fd, err)
		}
	}
	return &stdioPipe{r: files[0], w: files[1], remote: shellClient()}, nil
}

// shellClient is the client address a remote shell left in the
// environment (REMOTE_HOST, SSH_CONNECTION, SSH_CLIENT, SSH2_CLIENT: the
// first word), as rsync's client_addr reads it.
func shellClient() *net.TCPAddr {
	for _, k := range []string{"REMOTE_HOST", "SSH_CONNECTION", "SSH_CLIENT", "SSH2_CLIENT"} {
		v, ok := os.LookupEnv(k)
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if a, err := netip.ParseAddr(first); err == nil {
			return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a.Unmap(), 0))
		}
		break // rsync takes the first variable set, whatever it holds
	}
	return &net.TCPAddr{IP: net.IPv4zero}
}
