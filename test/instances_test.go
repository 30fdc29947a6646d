package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// socketActivate returns systemd-socket-activate, failing (never skipping)
// when it is missing.
func socketActivate(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatal("systemd-socket-activate is needed: install Debian's systemd package (apt-get install systemd), or run `make test`, which does")
	}
	return p
}

// writeInstance writes NAME.yaml into dir from a module section as in
// startDaemon ({{DATA}}, {{SECRETS}} of d) with the given listen address.
func writeInstance(t testing.TB, dir, name, listen, mods string, d *daemon) string {
	t.Helper()
	cfg := "listen: " + listen + "\n" + mods
	cfg = strings.ReplaceAll(cfg, "{{DATA}}", d.Data)
	cfg = strings.ReplaceAll(cfg, "{{SECRETS}}", d.Secrets)
	p := filepath.Join(dir, name+".yaml")
	must(t, os.WriteFile(p, []byte(cfg), 0o644))
	return p
}

// startVia runs name with args (a wrapper such as systemd-socket-activate
// around rsyncd-go), logging its stderr into d, and waits for the first
// stderr line matching ready, whose first group becomes d.Addr. d.stop
// (SIGTERM by PID) ends it when the test does.
func (d *daemon) startVia(t testing.TB, ready *regexp.Regexp, name string, args ...string) {
	t.Helper()
	d.cmd = exec.Command(name, args...)
	stderr, err := d.cmd.StderrPipe()
	must(t, err)
	must(t, d.cmd.Start())
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			d.logMu.Lock()
			d.log.WriteString(line + "\n")
			d.logMu.Unlock()
			if m := ready.FindStringSubmatch(line); m != nil {
				addr := m[1]
				if addr == "" && len(m) > 2 {
					// A log in rsyncd's words names the port only; the
					// tests' daemons listen on 127.0.0.1.
					addr = net.JoinHostPort("127.0.0.1", m[2])
				}
				select {
				case addrc <- addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() { d.stop(t) })
	select {
	case d.Addr = <-addrc:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not get ready; log:\n%s", name, d.Log())
	}
}

// TestCheckAll runs `rsyncd-go check --all` on a dir of broken configs: it
// must name every problem with its file and line and exit non-zero.
func TestCheckAll(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "m"), 0o755))
	files := map[string]string{
		"good.yaml":   "listen: 127.0.0.1:9873\nmodules:\n  - name: good\n    path: " + dir + "/m\n",
		"syntax.yaml": "listen: 127.0.0.1:9874\nmodules:\n  - name: [unclosed\n",
		"keys.yaml": "listen: 127.0.0.1:9875\nmax_conections: 3\nmodules:\n  - name: k\n    path: relative/dir\n" +
			"    read_only: maybe\n  - name: k\n    path: " + dir + "/m\n",
		"clash.yaml": "listen:\n  - 127.0.0.1:9876\n  - 0.0.0.0:9873\nmodules:\n  - name: c\n    path: " + dir + "/m\n",
		"uid.yaml":   "listen: 127.0.0.1:9877\nmodules:\n  - name: u\n    path: " + dir + "/m\n    uid: no-such-user-rsyncd-go\n",
	}
	for name, body := range files {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	res := runCmd(t, time.Minute, daemonBin, "check", "--all", "--config-dir", dir)
	if res.Code == 0 {
		t.Fatalf("check --all on broken configs exited 0:\n%s%s", res.Stdout, res.Stderr)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	want := []string{
		f("uid.yaml") + `:5: module "u": uid: unknown user "no-such-user-rsyncd-go"`,
		f("keys.yaml") + `:2: unknown key "max_conections"`,
		f("keys.yaml") + `:5: module "k": path: "relative/dir" is not an absolute path`,
		f("keys.yaml") + `:6: `,
		f("keys.yaml") + `:7: `,
		f("syntax.yaml") + `:`,
	}
	out := res.Stdout
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("check output lacks %q", w)
		}
	}
	// The clash is reported once, on either file, naming both lines.
	clash := 0
	for l := range strings.SplitSeq(out, "\n") {
		if strings.Contains(l, "conflicts with instance") {
			clash++
			if !strings.Contains(l, f("clash.yaml")+":3") || !strings.Contains(l, f("good.yaml")+":1") {
				t.Errorf("conflict line does not name both places: %s", l)
			}
		} else if strings.HasPrefix(l, f("good.yaml")) {
			t.Errorf("check reports a problem in good.yaml: %s", l)
		}
	}
	if clash != 1 {
		t.Errorf("%d conflict lines, want 1", clash)
	}
	if !strings.Contains(res.Stderr, "problems in "+dir) {
		t.Errorf("stderr lacks the summary: %s", res.Stderr)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", res.Stdout, res.Stderr)
	}

	// The daemon itself refuses to start on a bad instance, one line each.
	res = runCmd(t, time.Minute, daemonBin, "--config-dir", dir, "--instance", "keys")
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if res.Code == 0 || len(lines) < 4 {
		t.Fatalf("--instance keys: exit %d, want non-zero and one line per problem:\n%s", res.Code, res.Stderr)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "rsyncd-go: "+f("keys.yaml")+":") {
			t.Errorf("--instance keys: line %q does not name the file and line", l)
		}
	}
}

// TestTwoInstances runs two instances of one config dir side by side: each
// serves its own modules on its own port only.
func TestTwoInstances(t *testing.T) {
	dir := t.TempDir()
	a, _ := newDaemonDirs(t)
	b, _ := newDaemonDirs(t)
	writeInstance(t, dir, "alpha", "127.0.0.1:0", strings.ReplaceAll(defaultModules, "name: backup", "name: alpha-mod"), a)
	writeInstance(t, dir, "beta", "127.0.0.1:0", strings.ReplaceAll(defaultModules, "name: backup", "name: beta-mod"), b)

	res := runCmd(t, time.Minute, daemonBin, "instances", "--config-dir", dir)
	if res.Code != 0 || !regexp.MustCompile(`(?m)^alpha +127\.0\.0\.1:0 +alpha-mod$`).MatchString(res.Stdout) ||
		!regexp.MustCompile(`(?m)^beta +127\.0\.0\.1:0 +beta-mod$`).MatchString(res.Stdout) {
		t.Errorf("instances: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	res = runCmd(t, time.Minute, daemonBin, "check", "--config-dir", dir)
	if res.Code != 0 || res.Stdout != "ok: 2 instances\n" {
		t.Errorf("check: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}

	a.start(t, "--config-dir", dir, "--instance", "alpha")
	b.start(t, "--config-dir", dir, "--instance", "beta")
	if a.Addr == b.Addr {
		t.Fatalf("both instances on %s", a.Addr)
	}
	for _, tc := range []struct {
		d           *daemon
		mine, other string
	}{{a, "alpha-mod", "beta-mod"}, {b, "beta-mod", "alpha-mod"}} {
		list := mustRsync(t, nil, "rsync://"+tc.d.Addr+"/")
		if !strings.Contains(list.Stdout, tc.mine) || strings.Contains(list.Stdout, tc.other) {
			t.Errorf("listing of %s: want %s and not %s:\n%s", tc.d.Addr, tc.mine, tc.other, list.Stdout)
		}
		src := filepath.Join(t.TempDir(), "data")
		makeTree(t, src, 7)
		mustRsync(t, tc.d, "-a", src+"/", tc.d.URL(tc.mine))
		compareTrees(t, src, tc.d.Data, true)
		res := rsync(t, tc.d, "-a", src+"/", tc.d.URL(tc.other))
		if res.Code == 0 || !strings.Contains(res.Stderr, "@ERROR: Unknown module '"+tc.other+"'") {
			t.Errorf("push to %s on %s: exit %d, want Unknown module:\n%s", tc.other, tc.d.Addr, res.Code, res.Stderr)
		}
	}
}

var activateRE = regexp.MustCompile(`^Listening on (\S+) as \d+\.`)

// TestSocketActivation pushes through systemd-socket-activate with
// Accept=no: rsyncd-go serves the passed socket, not its config's address.
func TestSocketActivation(t *testing.T) {
	sa := socketActivate(t)
	d, dir := newDaemonDirs(t)
	unused := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := writeInstance(t, dir, "act", unused, defaultModules, d)
	port := freePort(t)
	d.startVia(t, activateRE, sa, "-l", fmt.Sprintf("127.0.0.1:%d", port), daemonBin, "--config", cfg)

	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 11)
	mustRsync(t, d, "-az", src+"/", "--delete", d.URL("backup"))
	compareTrees(t, src, d.Data, true)
	mutateTree(t, src)
	mustRsync(t, d, "-az", src+"/", "--delete", d.URL("backup"))
	compareTrees(t, src, d.Data, true)

	log := d.Log()
	if !strings.Contains(log, "from=systemd addr="+d.Addr) || !strings.Contains(log, "ignored="+unused) {
		t.Errorf("the log does not say it serves systemd's socket instead of %s:\n%s", unused, log)
	}
	if c, err := net.DialTimeout("tcp", unused, time.Second); err == nil {
		c.Close()
		t.Errorf("something listens on the config's address %s", unused)
	}
}

// TestInetd pushes through systemd-socket-activate --inetd -a (Accept=yes):
// one rsyncd-go --inetd process per connection, on stdin/stdout.
func TestInetd(t *testing.T) {
	sa := socketActivate(t)
	d, dir := newDaemonDirs(t)
	cfg := writeInstance(t, dir, "inetd", "127.0.0.1:1", defaultModules, d)
	port := freePort(t)
	d.startVia(t, activateRE, sa, "--inetd", "-a", "-l", fmt.Sprintf("127.0.0.1:%d", port),
		daemonBin, "--inetd", "--config", cfg, "--log-level", "debug")

	list := mustRsync(t, nil, "rsync://"+d.Addr+"/")
	if !strings.Contains(list.Stdout, "backup") {
		t.Errorf("listing over --inetd lacks backup:\n%s", list.Stdout)
	}
	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 13)
	mustRsync(t, d, "-az", src+"/", "--delete", d.URL("backup"))
	compareTrees(t, src, d.Data, true)
	mutateTree(t, src)
	mustRsync(t, d, "-az", src+"/", "--delete", d.URL("backup"))
	compareTrees(t, src, d.Data, true)
	assertNoTemps(t, d.Data)

	// Each connection had a process of its own that exited with code 0.
	if n := strings.Count(d.Log(), "serving one connection (--inetd)"); n != 3 {
		t.Errorf("%d --inetd processes served, want 3:\n%s", n, d.Log())
	}
	// The last one may still be lingering for the client's close.
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(d.Log(), "died with code 0") < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Count(d.Log(), "died with code 0") < 3 {
		t.Errorf("not every --inetd process exited 0:\n%s", d.Log())
	}
}

// TestLogFormatAndMotd: "log_format: json" with "log_file" writes one JSON
// object per line to the file, and "motd_file" greets clients (the stock
// client prints it above the module list).
func TestLogFormatAndMotd(t *testing.T) {
	dir := t.TempDir()
	motd := filepath.Join(dir, "motd")
	must(t, os.WriteFile(motd, []byte("Welcome to the backup server"), 0o644))
	logFile := filepath.Join(dir, "daemon.log")
	// Logs go to the file, so the harness cannot read the port from stderr:
	// pick one.
	d, _ := newDaemonDirs(t)
	d.Addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf("listen: %s\nlog_format: json\nlog_file: %s\nmotd_file: %s\n%s", d.Addr, logFile, motd,
		strings.NewReplacer("{{DATA}}", d.Data, "{{SECRETS}}", d.Secrets).Replace(defaultModules))
	cfgFile := filepath.Join(dir, "json.yaml")
	must(t, os.WriteFile(cfgFile, []byte(cfg), 0o644))
	d.cmd = exec.Command(daemonBin, "--config", cfgFile)
	must(t, d.cmd.Start())
	t.Cleanup(func() { d.stop(t) })
	waitListening(t, d.Addr)
	res := mustRsync(t, nil, "rsync://"+d.Addr+"/")
	if !strings.Contains(res.Stdout, "Welcome to the backup server") {
		t.Errorf("no motd in the listing:\n%s", res.Stdout)
	}
	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 2)
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	// The daemon may still be writing the line as the client exits.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(logFile)
		must(t, err)
		sawTransfer := false
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line is not JSON: %q", line)
			}
			if rec["msg"] == "transfer done" && rec["module"] == "backup" && rec["user"] == "rsync_backup" {
				sawTransfer = true
			}
		}
		if sawTransfer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no transfer line with module and user in the JSON log:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReload: SIGHUP adds a module while a large push is running; the push
// completes intact under the old config, the new module is served; a broken
// config on SIGHUP is refused (logged) and the old one keeps serving.
func TestReload(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	big := make([]byte, 16<<20)
	for i := range big {
		big[i] = byte(i*17 + i>>9)
	}
	must(t, os.WriteFile(filepath.Join(src, "big"), big, 0o644))
	push := exec.Command(rsyncBin(t), "--password-file="+d.PwFile, "-a", "--bwlimit=4000", src+"/", d.URL("backup/"))
	must(t, push.Start())
	t.Cleanup(func() { _ = push.Process.Kill(); _ = push.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for !hasTemp(t, d.Data) {
		if time.Now().After(deadline) {
			t.Fatal("the push did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	second := filepath.Join(t.TempDir(), "second")
	must(t, os.Mkdir(second, 0o755))
	cfg, err := os.ReadFile(d.config)
	must(t, err)
	newCfg := string(cfg) + "  - name: second\n    path: " + second + "\n    comment: added by reload\n"
	must(t, os.WriteFile(d.config, []byte(newCfg), 0o644))
	must(t, d.cmd.Process.Signal(syscall.SIGHUP))
	waitLog(t, d, "config reloaded")
	res := mustRsync(t, nil, "rsync://"+d.Addr+"/")
	if !strings.Contains(res.Stdout, "added by reload") {
		t.Errorf("the new module is not listed after SIGHUP:\n%s", res.Stdout)
	}
	if err := push.Wait(); err != nil {
		t.Fatalf("the push running across the reload failed: %v", err)
	}
	compareTrees(t, src, d.Data, true)

	must(t, os.WriteFile(d.config, []byte(newCfg+"  - name: broken\n    pathh: /nowhere\n"), 0o644))
	must(t, d.cmd.Process.Signal(syscall.SIGHUP))
	waitLog(t, d, "config refused")
	res = mustRsync(t, nil, "rsync://"+d.Addr+"/")
	if !strings.Contains(res.Stdout, "added by reload") || strings.Contains(res.Stdout, "broken") {
		t.Errorf("after a refused reload the old config should serve:\n%s", res.Stdout)
	}
}

// waitLog waits until the daemon has logged text.
func waitLog(t *testing.T, d *daemon, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.Log(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not log %q:\n%s", text, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
