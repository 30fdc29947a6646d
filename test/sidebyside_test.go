package test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sideConf is the ONE rsyncd.conf that stock rsyncd and rsyncd-go both
// serve in TestSideBySide: the seed's (the backup host's) parameters plus
// what issue 4 adds. Only {{DIR}} (each daemon's own directory), {{PORT}}
// and {{PROXY}} (the same for both daemons of a pair) are filled in.
//
// Departures from the seed, each needed by both daemons alike:
//   - uid/gid are root: the test runs as root, and rsyncd-go accepts only
//     the identity it runs as (it does not switch users);
//   - "ignore errors = yes": the seed's bare "ignore errors" line is
//     ignored by stock rsyncd with a warning (so it does not set the
//     parameter) and refused by rsyncd-go at start as badly formed;
//   - "reverse lookup = no": rsyncd-go does no reverse DNS lookups, so
//     both must show the client as UNDETERMINED in %h, logs and hooks;
//   - address and port: each daemon on its own free loopback port.
const sideConf = `# The backup host's rsyncd.conf, as in the seed, plus filters, chmod,
# refuse options, a write-only module, a transfer log format and hooks.
uid = root
gid = root
use chroot = no
max connections = 200
timeout = 300
pid file = {{DIR}}/rsyncd.pid
lock file = {{DIR}}/rsync.lock
log file = {{DIR}}/rsyncd.log
address = 127.0.0.1
port = {{PORT}}
reverse lookup = no
transfer logging = yes
log format = %o %h [%a] %m (%u) %f %l|%i|%n%L|%b|%M|%B|%U|%G|%P|%-12n|%'l|%%
{{PROXY}}
[backup]
	path = {{DIR}}/backup
	ignore errors = yes
	read only = false
	list = false
	hosts allow = 127.0.0.1/8
	hosts deny = 0.0.0.0/32
	auth users = rsync_backup
	secrets file = {{DIR}}/rsync.password
	filter = - *.tmp
	include = keep.bak
	exclude = cache/ *.bak
	incoming chmod = Dg+s,Fo-w
	outgoing chmod = Fg-w
	refuse options = delete-after checksum
	pre-xfer exec = {{DIR}}/hook pre
	post-xfer exec = {{DIR}}/hook post

[dropbox]
	path = {{DIR}}/dropbox
	comment = write-only drop box
	read only = false
	write only = yes
	hosts allow = 127.0.0.1/8
	auth users = rsync_backup
	secrets file = {{DIR}}/rsync.password
	early exec = {{DIR}}/hook early
	post-xfer exec = {{DIR}}/hook post

[closed]
	path = {{DIR}}/backup
	comment = refused by its pre-xfer exec
	read only = false
	pre-xfer exec = {{DIR}}/hook pre
	post-xfer exec = {{DIR}}/hook post
`

// sideProxy is {{PROXY}} of the pair behind a PROXY-protocol forwarder.
const sideProxy = "proxy protocol = yes\nproxy protocol hosts = 127.0.0.1\n"

// sideHook is every exec hook ("hook early", "hook pre", "hook post"): it
// saves its RSYNC_* environment as hooks/MODULE.KIND, and as pre-xfer
// exec it refuses module "closed" with a message.
const sideHook = `#!/bin/sh
env | grep '^RSYNC_' | sort > "{{DIR}}/hooks/$RSYNC_MODULE_NAME.tmp"
mv "{{DIR}}/hooks/$RSYNC_MODULE_NAME.tmp" "{{DIR}}/hooks/$RSYNC_MODULE_NAME.$1"
if [ "$1" = pre ] && [ "$RSYNC_MODULE_NAME" = closed ]; then
	echo "closed for maintenance"
	exit 3
fi
echo "never shown"
`

// sideDaemon is one daemon of a pair: stock rsyncd or rsyncd-go serving
// sideConf from its own directory.
type sideDaemon struct {
	who    string // "stock rsyncd" or "rsyncd-go"
	dir    string
	addr   string
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

// startSide writes sideConf, the hooks and the secrets into a fresh dir and
// starts bin --daemon --no-detach on it; it is stopped (SIGTERM by PID)
// when the test ends.
func startSide(t *testing.T, who, bin, proxy string) *sideDaemon {
	t.Helper()
	d := &sideDaemon{who: who, dir: t.TempDir()}
	port := freePort(t)
	d.addr = fmt.Sprintf("127.0.0.1:%d", port)
	r := strings.NewReplacer("{{DIR}}", d.dir, "{{PORT}}", strconv.Itoa(port), "{{PROXY}}", proxy)
	// The modules' roots get one fixed old time, so both daemons' first
	// push itemizes the root's time alike whichever second each was made.
	old := time.Unix(1600000000, 0)
	for _, sub := range []string{"backup", "dropbox", "hooks"} {
		must(t, os.Mkdir(filepath.Join(d.dir, sub), 0o755))
		must(t, os.Chtimes(filepath.Join(d.dir, sub), old, old))
	}
	must(t, os.WriteFile(filepath.Join(d.dir, "rsync.password"), []byte(testUser+":"+testPassword+"\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(d.dir, "client.password"), []byte(testPassword+"\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(d.dir, "wrong.password"), []byte("not-the-password\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(d.dir, "hook"), []byte(r.Replace(sideHook)), 0o755))
	conf := filepath.Join(d.dir, "rsyncd.conf")
	must(t, os.WriteFile(conf, []byte(r.Replace(sideConf)), 0o644))

	d.cmd = exec.Command(bin, "--daemon", "--no-detach", "--config="+conf)
	d.cmd.Stdout, d.cmd.Stderr = &d.stderr, &d.stderr
	must(t, d.cmd.Start())
	t.Cleanup(func() { d.stop(t) })
	// Ready when the log says it listens: a probing connection would
	// add a line to one log (and break the PROXY pair's).
	ready := regexp.MustCompile(`rsyncd(-go)? version .* starting, listening on port`)
	deadline := time.Now().Add(20 * time.Second)
	for !ready.MatchString(d.log()) {
		if time.Now().After(deadline) || d.cmd.ProcessState != nil {
			t.Fatalf("%s did not start listening on %s\nstderr:\n%s\nlog:\n%s", who, d.addr, d.stderr.String(), d.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

func (d *sideDaemon) log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "rsyncd.log"))
	return string(b)
}

// stop ends the daemon this test started, by its PID.
func (d *sideDaemon) stop(t *testing.T) {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
	if l := d.log(); strings.Contains(l, "panic:") || strings.Contains(d.stderr.String(), "panic:") {
		t.Errorf("%s panicked:\n%s\n%s", d.who, d.stderr.String(), l)
	}
	d.cmd = nil
}

// sideStep is one client command run against both daemons.
type sideStep struct {
	name  string
	args  func(d *sideDaemon, url, local string) []string // url: rsync://HOST:PORT, local: a per-daemon scratch dir
	hooks []string                                        // hook files this step leaves (waited for)
	code  int                                             // stock's exit code, to keep the test honest
	via   func(int) []byte                                // PROXY header the forwarder sends, if any
}

// sideOutcome is what a step did on one daemon, normalised for comparison.
type sideOutcome struct {
	code           int
	stdout, stderr string
	hooks          map[string]string // file -> normalised environment
}

// TestSideBySide runs the same rsyncd.conf under stock rsync --daemon and
// rsyncd-go --daemon, drives both with the same stock client commands and
// asserts the same outcome: exit codes, client output, trees, hook
// environments and log lines (issue 4's "done means").
func TestSideBySide(t *testing.T) {
	rsyncBin(t)
	stock := startSide(t, "stock rsyncd", rsyncBin(t), "")
	ours := startSide(t, "rsyncd-go", daemonBin, "")
	pair := [2]*sideDaemon{stock, ours}

	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, 4)
	for name, data := range map[string]string{
		"scratch.tmp": "filtered out", "cache/c1": "excluded dir", "keep.bak": "included",
		"drop.bak": "excluded", "dir0/sub.tmp": "filtered out too",
	} {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755))
		must(t, os.WriteFile(filepath.Join(src, name), []byte(data), 0o666))
	}
	pw := func(d *sideDaemon) string { return "--password-file=" + filepath.Join(d.dir, "client.password") }
	user := func(url, module string) string {
		return strings.Replace(url, "rsync://", "rsync://"+testUser+"@", 1) + "/" + module
	}
	steps := []sideStep{
		{name: "push -az", code: 23, hooks: []string{"backup.pre", "backup.post"},
			args: func(d *sideDaemon, url, _ string) []string {
				return []string{pw(d), "-az", src + "/", user(url, "backup/")}
			}},
		{name: "push changes with --delete", code: 23, hooks: []string{"backup.pre", "backup.post"},
			args: func(d *sideDaemon, url, _ string) []string {
				return []string{pw(d), "-ai", "--delete", src + "/", user(url, "backup/")}
			}},
		{name: "pull", code: 0, hooks: []string{"backup.pre", "backup.post"},
			args: func(d *sideDaemon, url, local string) []string {
				return []string{pw(d), "-ai", user(url, "backup/"), local + "/pulled/"}
			}},
		{name: "module listing", code: 0,
			args: func(_ *sideDaemon, url, _ string) []string { return []string{url + "/"} }},
		{name: "file listing", code: 0, hooks: []string{"backup.pre", "backup.post"},
			args: func(d *sideDaemon, url, _ string) []string {
				return []string{pw(d), "-r", user(url, "backup/dir0/")}
			}},
		{name: "refused option", code: 4, hooks: []string{"backup.pre", "backup.post"},
			args: func(d *sideDaemon, url, _ string) []string {
				return []string{pw(d), "-a", "--delete-after", src + "/", user(url, "backup/")}
			}},
		{name: "write-only push", code: 0, hooks: []string{"dropbox.early", "dropbox.post"},
			args: func(d *sideDaemon, url, _ string) []string {
				return []string{pw(d), "-ai", src + "/dir0/", user(url, "dropbox/in/")}
			}},
		{name: "write-only pull", code: 1, hooks: []string{"dropbox.early", "dropbox.post"},
			args: func(d *sideDaemon, url, local string) []string {
				return []string{pw(d), "-a", user(url, "dropbox/"), local + "/dropbox/"}
			}},
		{name: "pre-xfer exec refuses", code: 4, hooks: []string{"closed.pre", "closed.post"},
			args: func(_ *sideDaemon, url, _ string) []string {
				return []string{"-a", src + "/dir0/", url + "/closed/"}
			}},
		{name: "wrong password", code: 5,
			args: func(d *sideDaemon, url, _ string) []string {
				return []string{"--password-file=" + filepath.Join(d.dir, "wrong.password"), "-a", src + "/", user(url, "backup/")}
			}},
		{name: "unknown module", code: 5,
			args: func(_ *sideDaemon, url, _ string) []string { return []string{"-a", src + "/", url + "/nosuch/"} }},
	}
	locals := [2]string{t.TempDir(), t.TempDir()}
	for i, st := range steps {
		if i == 1 {
			// A day of changes at the source, and a file the daemon's
			// filter protects from --delete on both daemons.
			mutateTree(t, src)
			for _, d := range pair {
				old := filepath.Join(d.dir, "backup", "old.tmp")
				must(t, os.WriteFile(old, []byte("kept"), 0o644))
				must(t, os.Chtimes(old, time.Unix(1700000000, 0), time.Unix(1700000000, 0)))
			}
		}
		runSideStep(t, st, pair, locals)
		switch st.name {
		case "push changes with --delete":
			compareSideTrees(t, st.name, filepath.Join(stock.dir, "backup"), filepath.Join(ours.dir, "backup"), src)
		case "write-only push":
			// Not dropbox itself: its own mtime is when "in" was made.
			compareSideTrees(t, st.name, filepath.Join(stock.dir, "dropbox/in"), filepath.Join(ours.dir, "dropbox/in"), filepath.Join(src, "dir0"))
		case "pull":
			compareSideTrees(t, st.name, filepath.Join(locals[0], "pulled"), filepath.Join(locals[1], "pulled"), "")
		}
	}
	compareSideLogs(t, pair)

	// The same through a PROXY-protocol forwarder, v1 and v2, from a
	// claimed address hosts allow takes and one it does not.
	pstock := startSide(t, "stock rsyncd", rsyncBin(t), sideProxy)
	pours := startSide(t, "rsyncd-go", daemonBin, sideProxy)
	ppair := [2]*sideDaemon{pstock, pours}
	v1 := func(a string) func(int) []byte { return func(p int) []byte { return proxyV1(a, p) } }
	v2 := func(a string) func(int) []byte { return func(p int) []byte { return proxyV2(a, p) } }
	push := func(d *sideDaemon, url, _ string) []string {
		return []string{pw(d), "-a", src + "/dir0/", user(url, "backup/proxied/")}
	}
	// The seed's ACL lets in every address but the one "hosts deny"
	// names: with both lists set, rsyncd allows a client that matches
	// neither. So 127.0.0.5 and 198.51.100.9 get in, 0.0.0.0 does not.
	psteps := []sideStep{
		{name: "PROXY v1 allowed", via: v1("127.0.0.5"), code: 23, hooks: []string{"backup.pre", "backup.post"}, args: push},
		{name: "PROXY v2 allowed", via: v2("127.0.0.5"), code: 23, hooks: []string{"backup.pre", "backup.post"}, args: push},
		{name: "PROXY v1 neither list", via: v1("198.51.100.9"), code: 23, hooks: []string{"backup.pre", "backup.post"}, args: push},
		{name: "PROXY v1 denied", via: v1("0.0.0.0"), code: 5, args: push},
		{name: "PROXY v2 denied", via: v2("0.0.0.0"), code: 5, args: push},
	}
	for _, st := range psteps {
		runSideStep(t, st, ppair, locals)
		if st.code != 5 {
			compareSideTrees(t, st.name, filepath.Join(pstock.dir, "backup/proxied"), filepath.Join(pours.dir, "backup/proxied"), filepath.Join(src, "dir0"))
		}
	}
	compareSideLogs(t, ppair)
}

// runSideStep runs st against both daemons of pair and compares what the
// client saw and what the hooks recorded.
func runSideStep(t *testing.T, st sideStep, pair [2]*sideDaemon, locals [2]string) {
	t.Helper()
	var out [2]sideOutcome
	for i, d := range pair {
		addr := d.addr
		if st.via != nil {
			addr = startForwarder(t, d.addr, st.via)
		}
		res := runCmd(t, 2*time.Minute, rsyncBin(t), st.args(d, "rsync://"+addr, locals[i])...)
		norm := strings.NewReplacer(addr, "HOST:PORT", d.dir, "DIR", locals[i], "LOCAL")
		out[i] = sideOutcome{code: res.Code, stdout: deletionsFirst(norm.Replace(res.Stdout)),
			stderr: sideStderr(norm.Replace(res.Stderr)),
			hooks:  readSideHooks(t, d, st.hooks)}
	}
	known := sideKnownDiffs[st.name]
	report := func(what, format string, args ...any) {
		if known[what] {
			t.Logf("known difference (reported, not fixed yet): "+format, args...)
			return
		}
		t.Errorf(format, args...)
	}
	s, o := out[0], out[1]
	if s.code != st.code {
		t.Errorf("%s: stock rsyncd gives exit %d, the test expects %d (the test is wrong)\n%s", st.name, s.code, st.code, s.stderr)
	}
	if s.code != o.code {
		t.Errorf("%s: exit code: stock %d, rsyncd-go %d", st.name, s.code, o.code)
	}
	if s.stdout != o.stdout {
		report("stdout", "%s: client stdout differs\nstock:\n%s\nrsyncd-go:\n%s", st.name, s.stdout, o.stdout)
	} else if known["stdout"] {
		t.Errorf("%s: stdout is the same now: remove it from sideKnownDiffs", st.name)
	}
	if s.stderr != o.stderr {
		report("stderr", "%s: client stderr differs\nstock:\n%s\nrsyncd-go:\n%s", st.name, s.stderr, o.stderr)
	} else if known["stderr"] {
		t.Errorf("%s: stderr is the same now: remove it from sideKnownDiffs", st.name)
	}
	for _, f := range union(s.hooks, o.hooks) {
		if s.hooks[f] != o.hooks[f] {
			t.Errorf("%s: hook environment %s differs\nstock:\n%s\nrsyncd-go:\n%s", st.name, f, s.hooks[f], o.hooks[f])
		}
	}
}

// sideStderr is the ONE normalisation of the client's stderr, for what
// differs by nature:
//   - the end of an "rsync error:" line, where in its source the reporting
//     program failed ("at main.c(951) [sender=3.5.0]"; rsyncd-go says
//     "at rsyncd-go [sender]");
//   - how the client saw the connection end after a daemon refused its
//     arguments: "read error: Connection reset by peer" or "write error:
//     Broken pipe" depends on whether the client was still writing when
//     the daemon closed, which varies from run to run with either daemon.
func sideStderr(s string) string {
	s = errWhereRE.ReplaceAllString(s, "$1 at WHERE")
	return connEndRE.ReplaceAllString(s, "$1 CONNECTION ENDED")
}

var (
	errWhereRE = regexp.MustCompile(`(?m)^(rsync error: .*) at .*$`)
	connEndRE  = regexp.MustCompile(`(?m)^(rsync: \[\w+\]) (read error: Connection reset by peer \(104\)|write error: Broken pipe \(32\))$`)
)

// sideKnownDiffs are differences of client output that are bugs of
// rsyncd-go, not inherent ones, reported and not fixed yet: the test
// logs them instead of failing, and fails once they are gone so the entry
// is removed. None is left.
var sideKnownDiffs = map[string]map[string]bool{}

// readSideHooks waits (10s at most) for the hook files a step leaves, then
// reads and removes every file in d's hooks dir, with the environment
// normalised: the daemon's dir as DIR, RSYNC_PID's number as PID.
func readSideHooks(t *testing.T, d *sideDaemon, want []string) map[string]string {
	t.Helper()
	dir := filepath.Join(d.dir, "hooks")
	deadline := time.Now().Add(10 * time.Second)
	for _, f := range want {
		for {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	pidRE := regexp.MustCompile(`(?m)^RSYNC_PID=\d+$`)
	ents, err := os.ReadDir(dir)
	must(t, err)
	out := map[string]string{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		must(t, err)
		must(t, os.Remove(p))
		s := strings.ReplaceAll(string(b), d.dir, "DIR")
		out[e.Name()] = pidRE.ReplaceAllString(s, "RSYNC_PID=PID")
	}
	return out
}

// compareSideTrees compares the trees two daemons hold after the same
// commands: type, permissions, mtime (to the nanosecond), contents and
// symlink targets.
//
// Where the mtimes of a directory differ and rsyncd-go's equals the
// source's (src), the difference is stock's and only logged: stock 3.5.0
// (incremental recursion) leaves some directories with the time of the
// transfer instead of the source's: seen where the push refused or
// deleted entries. With src "" (a pull) directory times are not compared:
// the stock client leaves some pulled directories with the time of the
// pull, from either daemon, run by run.
func compareSideTrees(t *testing.T, step, stockDir, oursDir, src string) {
	t.Helper()
	a, b := snapshot(t, stockDir), snapshot(t, oursDir)
	c := map[string]entry{}
	if src != "" {
		c = snapshot(t, src)
	}
	var diffs []string
	for _, p := range unionEntries(a, b) {
		ea, okA := a[p]
		eb, okB := b[p]
		switch {
		case !okA:
			diffs = append(diffs, p+": only in rsyncd-go's tree")
			continue
		case !okB && stockQuirkDir(stockDir, p, ea):
			continue
		case !okB:
			diffs = append(diffs, p+": missing in rsyncd-go's tree")
			continue
		}
		if ea.mode != eb.mode {
			diffs = append(diffs, fmt.Sprintf("%s: mode stock %v, rsyncd-go %v", p, ea.mode, eb.mode))
		}
		if ea.mode&fs.ModeSymlink == 0 && !ea.mtime.Equal(eb.mtime) && (src != "" || !ea.mode.IsDir()) {
			msg := fmt.Sprintf("%s: mtime stock %v, rsyncd-go %v", p, ea.mtime, eb.mtime)
			if ec, ok := c[p]; ok && ea.mode.IsDir() && ec.mtime.Equal(eb.mtime) {
				// Stock's receiver can set a directory's time before its
				// last file lands there, on a loaded machine. Its tree is
				// mended, or the next push itemizes a time change that
				// rsyncd-go rightly does not.
				t.Logf("%s: stock rsyncd's directory time is not the source's (mended): %s", step, msg)
				must(t, os.Chtimes(filepath.Join(stockDir, p), ec.mtime, ec.mtime))
			} else {
				diffs = append(diffs, msg)
			}
		}
		if stockTarget(ea.target) != eb.target {
			diffs = append(diffs, fmt.Sprintf("%s: symlink stock -> %q, rsyncd-go -> %q", p, ea.target, eb.target))
		}
		if ea.size != eb.size || !bytes.Equal(ea.data, eb.data) {
			diffs = append(diffs, fmt.Sprintf("%s: contents differ (stock %d bytes, rsyncd-go %d)", p, ea.size, eb.size))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("%s: trees differ (stock %s, rsyncd-go %s):\n  %s", step, stockDir, oursDir, strings.Join(diffs, "\n  "))
	}
}

// stockTarget undoes stock rsyncd's symlink munging: with "use chroot =
// no" and "munge symlinks" unset, stock stores every received symlink
// target behind "/rsyncd-munged/"; rsyncd-go confines the module with
// os.Root instead and stores targets as sent (docs/rsyncd-conf.md). Both
// give the client the same target back on a pull.
func stockTarget(s string) string {
	return strings.TrimPrefix(s, "/rsyncd-munged/")
}

// stockQuirkDir reports an empty mode-0700 directory that stock rsyncd
// 3.5.0 leaves where its daemon filter refused a directory of an
// incremental-recursion push ("daemon refused to receive directory");
// without incremental recursion it creates nothing, nor does rsyncd-go.
func stockQuirkDir(root, p string, e entry) bool {
	if !e.mode.IsDir() || e.mode.Perm() != 0o700 {
		return false
	}
	ents, err := os.ReadDir(filepath.Join(root, p))
	return err == nil && len(ents) == 0
}

func unionEntries(a, b map[string]entry) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// compareSideLogs compares the two daemons' log files line by line, each
// normalised by sideLogLines.
func compareSideLogs(t *testing.T, pair [2]*sideDaemon) {
	t.Helper()
	var lines [2][]string
	for i, d := range pair {
		lines[i] = sideLogLines(strings.ReplaceAll(d.log(), d.dir, "DIR"), i == 0)
	}
	if len(lines[0]) < 5 {
		t.Fatalf("stock rsyncd logged too few lines (the test is wrong):\n%s", strings.Join(lines[0], "\n"))
	}
	count := map[string]int{}
	for _, l := range lines[0] {
		count[l]++
	}
	for _, l := range lines[1] {
		count[l]--
	}
	var onlyStock, onlyOurs []string
	for _, l := range append(lines[0], lines[1]...) {
		switch n := count[l]; {
		case n > 0:
			onlyStock = append(onlyStock, fmt.Sprintf("%dx %s", n, l))
		case n < 0:
			onlyOurs = append(onlyOurs, fmt.Sprintf("%dx %s", -n, l))
		}
		delete(count, l)
	}
	if len(onlyStock)+len(onlyOurs) > 0 {
		onlyStock, onlyOurs = append(onlyStock, "(end)"), append(onlyOurs, "(end)")
		t.Errorf("log lines differ\nonly stock rsyncd's:\n  %s\nonly rsyncd-go's:\n  %s",
			strings.Join(onlyStock, "\n  "), strings.Join(onlyOurs, "\n  "))
	}
}

// sideLogLines is the ONE place where the two daemons' logs are made
// comparable. Both write rsyncd's lines ("DATE TIME [PID] message";
// rsyncd-go's log_format rsyncd, the default for an rsyncd.conf). What
// differs by nature is dropped or rewritten here, and nowhere else:
//   - the prefix (date, time, pid) of every line;
//   - the daemon's start line ("rsyncd version 3.5.0 starting, ..." and
//     "rsyncd-go version V starting, ...");
//   - where an "rsync error:" line says the error arose ("at main.c(951)
//     [sender=3.5.0]"; rsyncd-go's "at rsyncd-go [sender]"), as for the
//     client's stderr (sideStderr);
//   - the byte counts of a "sent N bytes  received N bytes" line;
//   - stock's symlink munging (see stockTarget): the "/rsyncd-munged/"
//     of a received symlink's target (%L), and, where its sender reads
//     a munged symlink from disk, the 15 bytes of that prefix in the
//     symlink's %l and in its session's "total size".
//
// The lines are sorted: a session's last lines and the next session's
// first may interleave differently in the two daemons.
func sideLogLines(log string, stock bool) []string {
	bytesRE := regexp.MustCompile(`^sent \d+ bytes  received \d+ bytes`)
	pidRE := regexp.MustCompile(`^\S+ \S+ \[(\d+)\] `)
	sentLinkRE := regexp.MustCompile(`^(send .* )(\d+)(\|[c.]L[^|]*\|.*\|)(\d+)(\|%)$`)
	totalRE := regexp.MustCompile(`^(sent N bytes  received N bytes  total size )(\d+)$`)
	const munged = len("/rsyncd-munged/")
	minus := func(n string, by int) string {
		v, _ := strconv.Atoi(n)
		return strconv.Itoa(v - by)
	}
	mungedSent := map[string]int{} // stock session -> munged symlinks its sender read
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if l == "" {
			continue
		}
		if !stockPrefixRE.MatchString(l) {
			out = append(out, "unparsed: "+l)
			continue
		}
		pid := pidRE.FindStringSubmatch(l)[1]
		l = stockPrefixRE.ReplaceAllString(l, "")
		if stock {
			l = strings.ReplaceAll(l, " -> /rsyncd-munged/", " -> ")
			if m := sentLinkRE.FindStringSubmatch(l); m != nil {
				mungedSent[pid]++
				l = m[1] + minus(m[2], munged) + m[3] + minus(m[4], munged) + m[5]
			}
		}
		if strings.HasPrefix(l, "rsyncd version ") || strings.HasPrefix(l, "rsyncd-go version ") {
			continue
		}
		l = errWhereRE.ReplaceAllString(l, "$1 at WHERE")
		l = bytesRE.ReplaceAllString(l, "sent N bytes  received N bytes")
		if m := totalRE.FindStringSubmatch(l); m != nil && stock {
			l = m[1] + minus(m[2], munged*mungedSent[pid])
		}
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// deletionsFirst moves the client's "*deleting" lines, in their order,
// before its other lines, in theirs. The daemon's generator reports
// deletions while the client's sender itemizes what it sends; how the two
// interleave on the client's stdout depends on timing, with stock rsyncd
// too.
func deletionsFirst(out string) string {
	var del, rest []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(l, "*deleting ") {
			del = append(del, l)
		} else {
			rest = append(rest, l)
		}
	}
	return strings.Join(del, "") + strings.Join(rest, "")
}
