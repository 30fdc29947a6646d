package options

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAgainstStockDaemon sends argument vectors to a real rsync 3.5.0
// daemon on loopback, one module per refuse-options policy, and checks
// that Parse with the same policy rejects the same vectors with the same
// message ("rsync: ..." as the client would print it).

var daemonModules = []struct {
	name    string
	refuse  string
	charset bool
}{
	{"plain", "", false},
	{"charset", "", true},
	{"del", "delete", false},
	{"delwild", "delete-* !delete-during", false},
	{"star", "* !a !v !compress* !e", false},
	{"archive", "a", false},
	{"D", "D", false},
	{"cz", "c z", false},
	{"partial", "partial progress", false},
	{"inplace", "inplace", false},
	{"before", "delete-before", false},
	{"both", "delete-before delete-during", false},
	{"devices", "!copy-devices !write-devices", false},
	{"aliases", "del existing cc no-iconv", true},
	{"classes", "[[:upper:]] no-* x? \\d*", false},
	{"logfile", "!log-file* !insecure-links !iconv", false},
}

func startStockDaemon(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mod := filepath.Join(dir, "mod")
	if err := os.Mkdir(mod, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(mod, 0o777); err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "use chroot = no\npid file = %s/pid\nlog file = %s/log\n", dir, dir)
	for _, m := range daemonModules {
		fmt.Fprintf(&conf, "[%s]\npath = %s\nread only = no\n", m.name, mod)
		if m.refuse != "" {
			fmt.Fprintf(&conf, "refuse options = %s\n", m.refuse)
		}
		if m.charset {
			conf.WriteString("charset = utf-8\n")
		}
	}
	cfgPath := filepath.Join(dir, "rsyncd.conf")
	if err := os.WriteFile(cfgPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	ln.Close()
	cmd := exec.Command(stockRsync, "--daemon", "--no-detach", "--config="+cfgPath, "--address=127.0.0.1", "--port="+port)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("stock daemon did not start")
	return ""
}

// daemonOutcome returns "ok" or "err: <text after rsync: >".
func daemonOutcome(addr, module string, args []string) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"); err != nil {
		return "write: " + err.Error()
	}
	if _, err := br.ReadString('\n'); err != nil {
		return "greeting: " + err.Error()
	}
	if _, err := io.WriteString(c, module+"\n"); err != nil {
		return "write: " + err.Error()
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "handshake: " + err.Error()
		}
		if line == "@RSYNCD: OK\n" {
			break
		}
		if strings.HasPrefix(line, "@ERROR") {
			return "handshake: " + line
		}
	}
	var b bytes.Buffer
	for _, a := range args {
		b.WriteString(a)
		b.WriteByte(0)
	}
	b.WriteByte(0)
	if _, err := c.Write(b.Bytes()); err != nil {
		return "write: " + err.Error()
	}
	_ = c.(*net.TCPConn).CloseWrite()
	out, _ := io.ReadAll(br)
	i := bytes.Index(out, []byte("rsync: "))
	switch {
	case i >= 0:
		msg, _, _ := strings.Cut(string(out[i+len("rsync: "):]), "\n")
		return "err: " + msg
	case len(out) >= 5:
		// compat flags and checksum seed: the options were accepted and
		// the transfer began.
		return "ok"
	}
	// The daemon ended before it could send anything (a usage error, or
	// a message it only logs).
	return "silent"
}

func ourDaemonOutcome(args []string, refuse string, charset bool) string {
	cfg := &Config{Charset: charset, Now: time.Now}
	if refuse != "" {
		cfg.Refuse = []string{refuse}
	}
	_, err := Parse(args, cfg)
	var oe *OptionError
	switch {
	case errors.As(err, &oe) && (oe.Code == ExitSyntax || strings.HasPrefix(oe.Msg, "unknown checksum name") ||
		strings.HasPrefix(oe.Msg, "unknown compress name") || strings.Contains(oe.Msg, "was refused by the server")):
		// rsyncd writes these to its log before the connection can carry
		// them; the client only sees the connection end.
		return "silent"
	case err != nil:
		return "err: " + err.Error()
	}
	return "ok"
}

// daemonSkip lists options a daemon vector must not carry: the second,
// secluded list is not sent, and the rest act before or beyond parsing.
// Also, rsyncd loses its own refusal of --crtimes and its errors for
// --stop-at/--stop-after: their side effects (preserve_crtimes set, a stop
// time reached) end the connection before the message goes out; the
// remote-shell test covers those.
var daemonSkip = map[string]bool{
	"secluded-args": true, "protect-args": true, "s": true,
	"help": true, "version": true, "V": true, "info": true, "debug": true,
	"files-from": true, "h": true, "human-readable": true,
	"crtimes": true, "no-crtimes": true, "N": true, "no-N": true,
	"stop-at": true, "stop-after": true, "time-limit": true,
	// rsyncd adopts a --protocol value as its own protocol version, and a
	// bad one ends the session before the message is sent.
	"protocol": true,
}

func daemonVector(rnd *rand.Rand) []string {
	for {
		v := genVector(rnd)
		ok := true
		for i, a := range v {
			// No 'v' capability: the daemon would wait for the client's
			// checksum and compression lists before it reports an error.
			v[i] = strings.ReplaceAll(a, "CIvu", "CIu")
			switch {
			case a == "":
				ok = false // an empty element ends the list on the wire
			case strings.Contains(a, "choice") || strings.HasPrefix(a, "--cc") || strings.HasPrefix(a, "--zc"):
				// rsyncd keeps a refused or rejected option's value and
				// checks a stored choice again on its way to report the
				// first error, which then hides it.
				ok = false
			case strings.HasPrefix(a, "--"):
				name, _, _ := strings.Cut(a[2:], "=")
				if daemonSkip[name] || skipLong[name] && name != "server" {
					ok = false
				}
			case strings.HasPrefix(a, "-"):
				for j := 1; j < len(a); j++ {
					if daemonSkip[string(a[j])] {
						ok = false
					}
					if i := byShort[a[j]]; i >= 0 && (table[i].typ == argString || table[i].typ == argInt) {
						break
					}
				}
			}
		}
		if ok {
			return v
		}
	}
}

var daemonCurated = [][]string{
	{"--server", "-logDtprze.iLsfxCIu", "--delete", ".", "mod/"},
	{"--server", "-vlogDtprze.iLsfxCI", "--delete-excluded", ".", "mod/"},
	{"--server", "--sender", "-logDtpre.iLsfxCI", "--remove-source-files", ".", "mod/"},
	{"--server", "-logDtpre.iLsfxCI", "--delete-missing-args", ".", "mod/"},
	{"--server", "-a", ".", "mod/"},
	{"--server", "-P", ".", "mod/"},
	{"--server", "--inplace", ".", "mod/"},
	{"--server", "--append", ".", "mod/"},
	{"--server", "--write-devices", ".", "mod/"},
	{"--server", "--sender", "--copy-devices", ".", "mod/"},
	{"--server", "--log-file=/tmp/x", ".", "mod/"},
	{"--server", "--log-file-format=%n", ".", "mod/"},
	{"--server", "--insecure-links", ".", "mod/"},
	{"--server", "--iconv=utf8", ".", "mod/"},
	{"--server", "--no-iconv", ".", "mod/"},
	{"--server", "-c", ".", "mod/"},
	{"--server", "--checksum-choice=md5", ".", "mod/"},
	{"--server", "--cc=md5", ".", "mod/"},
	{"--server", "--compress-level=3", ".", "mod/"},
	{"--server", "--zc=zlib", ".", "mod/"},
	{"--server", "--existing", ".", "mod/"},
	{"--server", "--ignore-non-existing", ".", "mod/"},
	{"--server", "--del", ".", "mod/"},
	{"--server", "-r", "--delete", ".", "mod/"},
	{"--server", "-r", "--delete-during", ".", "mod/"},
	{"--server", "-r", "--delete-after", ".", "mod/"},
	{"--server", "--daemon", ".", "mod/"},
	{"--server", "--config=x", ".", "mod/"},
	{"--server", "-D", ".", "mod/"},
	{"--server", "-x", ".", "mod/"},
	{"--server", "-d", ".", "mod/"},
	{"--server", "--no-d", ".", "mod/"},
	{"--server", "--suffix=a\\ b", ".", "mod/"},
	{"--server", "--suffix=a\\/b", ".", "mod/"},
	{"--server", "--suffix=x\\", ".", "mod/"},
	{"--server", "--backup-dir", "\\.", ".", "mod/"},
	{"--server", "--timeout=1\\0", ".", "mod/"},
	{"--server", "--timeout=10", ".", "mod/", "--timeout=x"},
	{"--server", "--confine-root=rel", ".", "mod/"},
	{"--server", "--munge-links", ".", "mod/"},
	{"--server", "--no-such", ".", "mod/"},
	{"--no-such", "--server", ".", "mod/"},
	{"--server", "-e.iLsfxCI", "--rsh=x", ".", "mod/"},
	{"--server", "--from0", ".", "mod/"},
	{"--server", "-n", ".", "mod/"},
	{"--server", "--checksum-seed=1", ".", "mod/"},
	{"--server", "--out-format=%i", ".", "mod/"},
	{"--server", "--log-format=%i", ".", "mod/"},
}

func TestAgainstStockDaemon(t *testing.T) {
	needStockRsync(t)
	addr := startStockDaemon(t)
	n := 150
	if s := os.Getenv("OPTIONS_STOCK_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	seed := uint64(1)
	if s := os.Getenv("OPTIONS_STOCK_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rnd := rand.New(rand.NewPCG(seed, 3))
	type job struct {
		args []string
		mod  int
	}
	var jobs []job
	for _, v := range daemonCurated {
		for m := range daemonModules {
			if !refusesMissingArgs(v, m) {
				jobs = append(jobs, job{v, m})
			}
		}
	}
	for range n {
		j := job{daemonVector(rnd), rnd.IntN(len(daemonModules))}
		if !refusesMissingArgs(j.args, j.mod) {
			jobs = append(jobs, j)
		}
	}
	type result struct {
		job
		stock, ours string
	}
	results := make([]result, len(jobs))
	var wg sync.WaitGroup
	// rsyncd sleeps 400ms after reporting an option error; overlap them.
	sem := make(chan struct{}, 48)
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m := daemonModules[j.mod]
			results[i] = result{j, daemonOutcome(addr, m.name, j.args), ourDaemonOutcome(j.args, m.refuse, m.charset)}
		}()
	}
	wg.Wait()
	bad := 0
	for _, r := range results {
		if r.stock != r.ours {
			bad++
			if bad <= 40 {
				t.Errorf("module %s (%q) %q:\n stock: %s\n ours:  %s", daemonModules[r.mod].name, daemonModules[r.mod].refuse, r.args, r.stock, r.ours)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d vectors differ", bad, len(results))
	}
}

// refusesMissingArgs spots the one deliberate difference: rsyncd lets a
// refused --delete-missing-args or --ignore-missing-args through (popt
// never reports a refused POPT_BIT_SET row), this package refuses it.
func refusesMissingArgs(args []string, mod int) bool {
	m := daemonModules[mod]
	refused := refusals(&Config{Refuse: []string{m.refuse}, Charset: m.charset}, nil)
	for _, a := range args {
		for _, name := range []string{"delete-missing-args", "ignore-missing-args"} {
			if strings.Contains(a, name) && refused[byLong[name]] {
				return true
			}
		}
	}
	return false
}
