package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

const (
	benchUser     = "rsync_backup"
	benchPassword = "bench-pass"
)

// daemon is one of the two servers under test.
type daemon struct {
	Name   string // "stock" or "rsyncd-go"
	Stock  bool
	Addr   string // 127.0.0.1:PORT
	Data   string // the backup module's directory
	PwFile string // the client's --password-file
	Pid    int
	cg     *cpuGroup // the daemon's cgroup, if one could be made
	cgCPU  bool      // CPU time from cg, else from /proc in clock ticks
	cmd    *exec.Cmd
	done   chan error
}

// URL is the rsync:// address of path inside the backup module.
func (d *daemon) URL(path string) string {
	return "rsync://" + benchUser + "@" + d.Addr + "/backup/" + path
}

// dirs makes the daemon's module directory and its auth files under dir.
func newDaemon(name, dir string, stock bool) (*daemon, string, error) {
	d := &daemon{Name: name, Stock: stock, Data: filepath.Join(dir, "backup"), PwFile: filepath.Join(dir, "rsync.password")}
	secrets := filepath.Join(dir, "rsyncd.secrets")
	if err := os.MkdirAll(d.Data, 0o755); err != nil {
		return nil, "", fmt.Errorf("making %s: %w", d.Data, err)
	}
	if err := os.WriteFile(secrets, []byte(benchUser+":"+benchPassword+"\n"), 0o600); err != nil {
		return nil, "", fmt.Errorf("writing secrets: %w", err)
	}
	if err := os.WriteFile(d.PwFile, []byte(benchPassword+"\n"), 0o600); err != nil {
		return nil, "", fmt.Errorf("writing password file: %w", err)
	}
	return d, secrets, nil
}

// startStock runs `rsync --daemon --no-detach` on a free loopback port.
func startStock(dir string) (*daemon, error) {
	d, secrets, err := newDaemon("stock", dir, true)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// listen backlog: rsyncd's default of 5 would make the concurrent
	// workload measure SYN retries; Go listens with the kernel's maximum.
	// reverse lookup: rsyncd-go looks no names up, and DNS time for
	// 127.0.0.x (-spread) is not the engine's.
	conf := "use chroot = no\nuid = root\ngid = root\nlisten backlog = 1024\nreverse lookup = no\n" +
		"pid file = " + filepath.Join(dir, "pid") + "\nlock file = " + filepath.Join(dir, "lock") + "\n" +
		"[backup]\n\tpath = " + d.Data + "\n\tread only = false\n\tauth users = " + benchUser +
		"\n\tsecrets file = " + secrets + "\n"
	cfg := filepath.Join(dir, "rsyncd.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("writing rsyncd.conf: %w", err)
	}
	d.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	d.cmd = exec.Command("rsync", "--daemon", "--no-detach", "--config="+cfg,
		"--address=127.0.0.1", fmt.Sprintf("--port=%d", port), "--log-file="+filepath.Join(dir, "log"))
	if err := d.begin(); err != nil {
		return nil, err
	}
	if err := waitListening(d.Addr); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

var listenRE = regexp.MustCompile(`msg=listening .*addr=(\S+)`)

// startGo runs the rsyncd-go binary with an equivalent module.
func startGo(bin, dir string) (*daemon, error) {
	d, secrets, err := newDaemon("rsyncd-go", dir, false)
	if err != nil {
		return nil, err
	}
	conf := "listen: 127.0.0.1:0\nmodules:\n  - name: backup\n    path: " + d.Data +
		"\n    read_only: false\n    auth_users: [" + benchUser + "]\n    secrets_file: " + secrets + "\n"
	cfg := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("writing rsyncd-go config: %w", err)
	}
	d.cmd = exec.Command(bin, "--config", cfg)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("rsyncd-go stderr: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, fmt.Errorf("creating rsyncd-go log: %w", err)
	}
	if err := d.begin(); err != nil {
		logf.Close()
		return nil, err
	}
	addrc := make(chan string, 1)
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(logf, stderr)
	}()
	select {
	case d.Addr = <-addrc:
	case err := <-d.done:
		return nil, fmt.Errorf("rsyncd-go exited before listening (%v); log in %s", err, logf.Name())
	case <-time.After(20 * time.Second):
		d.Stop()
		return nil, fmt.Errorf("rsyncd-go did not listen within 20s; log in %s", logf.Name())
	}
	return d, nil
}

// cpuFallbackLogged: the benchmark said once why it reads CPU in ticks.
var cpuFallbackLogged bool

// begin starts the daemon in its own process group, so that Stop can end
// it and the children it forked, and nothing else.
func (d *daemon) begin() error {
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", d.Name, err)
	}
	d.Pid = d.cmd.Process.Pid
	if cg, err := newCPUGroup(fmt.Sprintf("rsyncd-go-bench-%d", d.Pid), d.Pid); err == nil {
		d.cg = cg
	} else if !cpuFallbackLogged {
		cpuFallbackLogged = true
		logf("CPU times in clock ticks from /proc (10 ms): %v", err)
	}
	d.done = make(chan error, 1)
	go func() { d.done <- d.cmd.Wait() }()
	return nil
}

// Stop ends the daemon's process group (SIGTERM, then SIGKILL after 10s).
func (d *daemon) Stop() {
	if d == nil || d.Pid == 0 {
		return
	}
	_ = syscall.Kill(-d.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-d.Pid, syscall.SIGKILL)
		<-d.done
	}
	// Children left in the group (a stock session still running) go too.
	_ = syscall.Kill(-d.Pid, syscall.SIGKILL)
	d.Pid = 0
	if d.cg != nil {
		// The killed children leave the group a moment after the signal.
		for i := 0; i < 100 && d.cg.remove() != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		d.cg = nil
	}
}

// settle waits (bounded) until a stock daemon has reaped every session
// child, so that their CPU time shows in its cutime/cstime.
func (d *daemon) settle() {
	if !d.Stock {
		return
	}
	for i := 0; i < 250 && len(descendants(d.Pid)) > 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(addr string) error {
	for i := 0; i < 500; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			return c.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("nothing listens on " + addr)
}
