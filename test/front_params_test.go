package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The daemon front's rsyncd.conf parameters of issue 4: host names in
// hosts allow/deny, socket options, listen backlog, syslog facility and
// tag, %RSYNC_USER_NAME% in path, and --bwlimit.

// frontConf is an rsyncd.conf for both daemons: {{DATA}}, {{SECRETS}} as
// in stockDaemon; "localhost" is resolved through /etc/hosts everywhere.
const frontConf = `[byname]
	path = {{DATA}}
	read only = no
	hosts allow = localhost
	hosts deny = *
[wild]
	path = {{DATA}}
	hosts allow = local*
	hosts deny = *
[other]
	path = {{DATA}}
	hosts allow = *.example.invalid
	hosts deny = *
[denyname]
	path = {{DATA}}
	hosts deny = localhost
`

// oursConf runs rsyncd-go --daemon on conf (with stockDaemon's header)
// on a free loopback port.
func oursConf(t *testing.T, conf string, extra ...string) *daemon {
	t.Helper()
	d, dir := newDaemonDirs(t)
	conf = "use chroot = no\npid file = " + filepath.Join(dir, "pid") + "\n" + conf
	conf = strings.ReplaceAll(conf, "{{DATA}}", d.Data)
	conf = strings.ReplaceAll(conf, "{{SECRETS}}", d.Secrets)
	p := filepath.Join(dir, "rsyncd.conf")
	must(t, os.WriteFile(p, []byte(conf), 0o644))
	port := freePort(t)
	d.start(t, append([]string{"--daemon", "--no-detach", "--config=" + p, "--address=127.0.0.1",
		fmt.Sprintf("--port=%d", port), "--log-level=debug"}, extra...)...)
	return d
}

// TestFrontHostNames: names and patterns in hosts allow/deny admit and
// refuse as in stock rsyncd, which shows the client's name.
func TestFrontHostNames(t *testing.T) {
	ours := oursConf(t, frontConf)
	stock := stockDaemon(t, frontConf)
	for _, tc := range []struct {
		module string
		ok     bool
		msg    string
	}{
		{"byname", true, ""},
		{"wild", true, ""},
		{"other", false, "@ERROR: access denied to other from localhost (127.0.0.1)"},
		{"denyname", false, "@ERROR: access denied to denyname from localhost (127.0.0.1)"},
	} {
		for name, d := range map[string]*daemon{"rsyncd-go": ours, "stock": stock} {
			res := rsync(t, nil, "rsync://"+d.Addr+"/"+tc.module+"/")
			if tc.ok && res.Code != 0 || !tc.ok && (res.Code != 5 || !strings.Contains(res.Stderr, tc.msg)) {
				t.Errorf("%s %s: exit %d, want ok=%v %q\n%s", name, tc.module, res.Code, tc.ok, tc.msg, res.Stderr)
			}
		}
	}
	// A push through the name-admitted module lands.
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, 3)
	mustRsync(t, nil, "-a", src+"/", "rsync://"+ours.Addr+"/byname/")
	compareTrees(t, src, ours.Data, false)
}

// TestFrontHostNameInLogs: with reverse lookup on, %h and RSYNC_HOST_NAME
// are the client's name.
func TestFrontHostNameInLogs(t *testing.T) {
	d := startDaemon(t, "", `
modules:
  - name: backup
    path: {{DATA}}
    read_only: false
    transfer_logging: true
    transfer_log_format: "host=%h addr=%a file=%f"
`)
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	mustRsync(t, nil, "-a", src+"/", "rsync://"+d.Addr+"/backup/")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.Log(), "host=localhost addr=127.0.0.1 file=") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(d.Log(), "host=localhost addr=127.0.0.1 file=") {
		t.Errorf("no transfer record with host=localhost in\n%s", d.Log())
	}
}

// TestFrontBwlimit: a 2 MiB pull at 1000 KiB/s takes about 2 s, whether
// the client or the daemon (--bwlimit) sets the rate; stock alike.
func TestFrontBwlimit(t *testing.T) {
	conf := "[backup]\n\tpath = {{DATA}}\n"
	ours := oursConf(t, conf)
	oursLimited := oursConf(t, conf, "--bwlimit=1000")
	stock := stockDaemon(t, conf)
	for _, d := range []*daemon{ours, oursLimited, stock} {
		must(t, os.WriteFile(filepath.Join(d.Data, "big"), patterned(2<<20, func(i int) byte { return byte(i * 7) }), 0o644))
	}
	pull := func(d *daemon, args ...string) time.Duration {
		dst := t.TempDir()
		start := time.Now()
		mustRsync(t, nil, append(args, "rsync://"+d.Addr+"/backup/big", dst+"/")...)
		el := time.Since(start)
		got, err := os.ReadFile(filepath.Join(dst, "big"))
		must(t, err)
		if len(got) != 2<<20 {
			t.Fatalf("pulled %d bytes", len(got))
		}
		return el
	}
	for _, tc := range []struct {
		name string
		d    *daemon
		args []string
	}{
		{"client --bwlimit", ours, []string{"--bwlimit=1000"}},
		{"daemon --bwlimit", oursLimited, nil},
		{"stock, client --bwlimit", stock, []string{"--bwlimit=1000"}},
	} {
		if el := pull(tc.d, tc.args...); el < 1500*time.Millisecond || el > 20*time.Second {
			t.Errorf("%s: a 2 MiB pull at 1000 KiB/s took %v", tc.name, el)
		}
	}
	if el := pull(ours); el > 1500*time.Millisecond {
		t.Errorf("an unlimited pull took %v", el)
	}
	res := runCmd(t, 30*time.Second, daemonBin, "--daemon", "--no-detach", "--bwlimit=1m", "--config=/nonexistent")
	if res.Code == 0 || !strings.Contains(res.Stderr, `--bwlimit: "1m" is not a whole number`) {
		t.Errorf("--bwlimit=1m: exit %d\n%s", res.Code, res.Stderr)
	}
}

// ssField runs ss with a filter on port and returns the fields of the one
// socket it lists.
func ssLine(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ss", args...).Output()
	if err != nil {
		t.Fatalf("ss (iproute2) is needed: apt-get install iproute2: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func portOf(t *testing.T, addr string) string {
	_, p, err := net.SplitHostPort(addr)
	must(t, err)
	return p
}

// TestFrontListenBacklog: the kernel's accept queue of the listening
// socket is the configured length (ss shows it as Send-Q).
func TestFrontListenBacklog(t *testing.T) {
	d := startDaemon(t, "listen_backlog: 3\n", "")
	f := strings.Fields(ssLine(t, "-Hltn", "sport = :"+portOf(t, d.Addr)))
	if len(f) < 3 || f[2] != "3" {
		t.Errorf("ss -ltn: %q, want Send-Q 3", f)
	}
	// And from an rsyncd.conf.
	ours := oursConf(t, "listen backlog = 11\n[backup]\n\tpath = {{DATA}}\n")
	f = strings.Fields(ssLine(t, "-Hltn", "sport = :"+portOf(t, ours.Addr)))
	if len(f) < 3 || f[2] != "11" {
		t.Errorf("ss -ltn: %q, want Send-Q 11", f)
	}
}

var tbRE = regexp.MustCompile(`tb(\d+)`)

// TestFrontSocketOptions: SO_SNDBUF reaches each connection (the kernel
// doubles it: ss shows tb); a bad option stops the start with file:line.
func TestFrontSocketOptions(t *testing.T) {
	ours := oursConf(t, "socket options = SO_SNDBUF=65536, SO_KEEPALIVE\n[backup]\n\tpath = {{DATA}}\n")
	c, err := net.Dial("tcp", ours.Addr)
	must(t, err)
	defer c.Close()
	buf := make([]byte, 64)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(buf) // the greeting: the options are set before it
	must(t, err)
	line := ssLine(t, "-Htnm", "state", "established", "sport = :"+portOf(t, ours.Addr))
	m := tbRE.FindStringSubmatch(line)
	if m == nil || m[1] != strconv.Itoa(2*65536) {
		t.Errorf("ss -tm of the daemon's end: %q, want tb%d", line, 2*65536)
	}

	d, dir := newDaemonDirs(t)
	p := filepath.Join(dir, "rsyncd.conf")
	must(t, os.WriteFile(p, []byte("socket options = SO_KEEPALIVE SO_FROB\n[backup]\npath = "+d.Data+"\n"), 0o644))
	res := runCmd(t, 30*time.Second, daemonBin, "--daemon", "--no-detach", "--config="+p, "--port=1", "--address=127.0.0.1")
	if res.Code == 0 || !strings.Contains(res.Stderr, p+`:1: socket_options: unknown socket option "SO_FROB"`) {
		t.Errorf("bad socket option: exit %d\n%s", res.Code, res.Stderr)
	}
	res = runCmd(t, 30*time.Second, daemonBin, "--daemon", "--no-detach", "--sockopts=TCP_NODELAY=x", "--config="+p)
	if res.Code == 0 || !strings.Contains(res.Stderr, "--sockopts: socket option TCP_NODELAY") {
		t.Errorf("bad --sockopts: exit %d\n%s", res.Code, res.Stderr)
	}
}

// TestFrontSyslog: syslog_facility and syslog_tag choose where the log
// goes; the test's unixgram socket stands for /dev/log.
func TestFrontSyslog(t *testing.T) {
	d, dir := newDaemonDirs(t)
	sock := filepath.Join(dir, "log.sock")
	sink, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	must(t, err)
	defer sink.Close()
	cfg := filepath.Join(dir, "i.yaml")
	must(t, os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nsyslog_facility: local5\nsyslog_tag: backupd\nmodules:\n  - name: backup\n    path: "+d.Data+"\n    read_only: false\n"), 0o644))
	d.cmd = exec.Command(daemonBin, "--config", cfg)
	d.cmd.Env = append(os.Environ(), "RSYNCD_GO_SYSLOG_SOCKET="+sock)
	must(t, d.cmd.Start())
	t.Cleanup(func() { d.stop(t) })
	listening := regexp.MustCompile(`msg=listening .*addr=(\S+)`)
	buf := make([]byte, 8192)
	deadline := time.Now().Add(20 * time.Second)
	for d.Addr == "" {
		_ = sink.SetReadDeadline(deadline)
		n, err := sink.Read(buf)
		if err != nil {
			t.Fatalf("no listening record on syslog: %v", err)
		}
		msg := string(buf[:n])
		want := "<174>" // local5 (21) * 8 + info (6)
		if !strings.HasPrefix(msg, want) || !strings.Contains(msg, fmt.Sprintf(" backupd[%d]: level=", d.cmd.Process.Pid)) {
			t.Fatalf("datagram %q: want %s and tag backupd[%d]", msg, want, d.cmd.Process.Pid)
		}
		if m := listening.FindStringSubmatch(msg); m != nil {
			d.Addr = m[1]
		}
	}
	res := rsync(t, nil, "rsync://"+d.Addr+"/nope/")
	if res.Code == 0 {
		t.Fatal("an unknown module was served")
	}
	for {
		_ = sink.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := sink.Read(buf)
		if err != nil {
			t.Fatalf("no warning record for the unknown module: %v", err)
		}
		if msg := string(buf[:n]); strings.Contains(msg, "unknown module") {
			if !strings.HasPrefix(msg, "<172>") { // local5 * 8 + warning (4)
				t.Errorf("warning datagram %q, want <172>", msg)
			}
			break
		}
	}
}

// TestFrontPathVars: path = .../%RSYNC_USER_NAME% serves each user their
// own directory, as stock rsyncd does.
func TestFrontPathVars(t *testing.T) {
	conf := "[home]\n\tpath = {{DATA}}/%RSYNC_USER_NAME%\n\tread only = no\n\tmunge symlinks = no\n\tauth users = rsync_backup\n\tsecrets file = {{SECRETS}}\n"
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, 5)
	must(t, os.WriteFile(filepath.Join(src, "marker.txt"), []byte("for rsync_backup\n"), 0o644))
	for i, d := range []*daemon{oursConf(t, conf), stockDaemon(t, conf)} {
		must(t, os.Mkdir(filepath.Join(d.Data, testUser), 0o755))
		mustRsync(t, d, "-a", src+"/", "rsync://"+testUser+"@"+d.Addr+"/home/")
		if i == 0 {
			compareTrees(t, src, filepath.Join(d.Data, testUser), false)
		} else if got, want := mustRead(t, filepath.Join(d.Data, testUser, "marker.txt")), mustRead(t, filepath.Join(src, "marker.txt")); string(got) != string(want) {
			// Stock rsyncd (use chroot = no) rewrites absolute symlinks,
			// so only the files are compared with it.
			t.Errorf("stock: marker.txt differs")
		}
	}
}
