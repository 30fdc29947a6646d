package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stockDaemon runs Debian's rsync --daemon with conf (an rsyncd.conf body;
// {{DATA}} and {{SECRETS}} as for startDaemon) on a free loopback port.
func stockDaemon(t *testing.T, conf string) *daemon {
	t.Helper()
	d, dir := newDaemonDirs(t)
	port := freePort(t)
	conf = "use chroot = no\nuid = root\ngid = root\npid file = " + filepath.Join(dir, "pid") +
		"\nlock file = " + filepath.Join(dir, "lock") + "\n" + conf
	conf = strings.ReplaceAll(conf, "{{DATA}}", d.Data)
	conf = strings.ReplaceAll(conf, "{{SECRETS}}", d.Secrets)
	cfgPath := filepath.Join(dir, "rsyncd.conf")
	must(t, os.WriteFile(cfgPath, []byte(conf), 0o644))
	d.cmd = exec.Command(rsyncBin(t), "--daemon", "--no-detach", "--config="+cfgPath,
		"--address=127.0.0.1", fmt.Sprintf("--port=%d", port), "--log-file="+filepath.Join(dir, "log"))
	must(t, d.cmd.Start())
	t.Cleanup(func() { d.stop(t) })
	d.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, d.Addr)
	return d
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// holdSlot opens a connection to module and stops at the auth challenge,
// holding one of the module's connection slots until the test ends.
func holdSlot(t *testing.T, addr, module string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n%s\n", module)
	line, err := br.ReadString('\n')
	must(t, err)
	if !strings.HasPrefix(line, "@RSYNCD: AUTHREQD") {
		t.Fatalf("expected an auth challenge, got %q", line)
	}
}

// TestRefusals checks each refusal of the daemon front against stock
// rsyncd given the same configuration: same message, same client exit code.
func TestRefusals(t *testing.T) {
	yaml := `
modules:
  - name: backup
    path: {{DATA}}
    read_only: false
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
  - name: ro
    path: {{DATA}}
    read_only: true
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
  - name: denied
    path: {{DATA}}
    hosts_deny: [127.0.0.1]
  - name: hidden
    path: {{DATA}}
    list: false
    hosts_deny: [127.0.0.1]
  - name: nodelete
    path: {{DATA}}
    read_only: false
    refuse_options: [delete]
  - name: one
    path: {{DATA}}
    max_connections: 1
    read_only: false
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
`
	conf := `
[backup]
path = {{DATA}}
read only = false
auth users = rsync_backup
secrets file = {{SECRETS}}
[ro]
path = {{DATA}}
read only = true
auth users = rsync_backup
secrets file = {{SECRETS}}
[denied]
path = {{DATA}}
hosts deny = 127.0.0.1
[hidden]
path = {{DATA}}
list = false
hosts deny = 127.0.0.1
[nodelete]
path = {{DATA}}
read only = false
refuse options = delete
[one]
path = {{DATA}}
max connections = 1
read only = false
auth users = rsync_backup
secrets file = {{SECRETS}}
`
	ours := startDaemon(t, "", yaml)
	stock := stockDaemon(t, conf)
	holdSlot(t, ours.Addr, "one")
	holdSlot(t, stock.Addr, "one")
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644))
	wrongPw := filepath.Join(t.TempDir(), "wrong")
	must(t, os.WriteFile(wrongPw, []byte("wrong\n"), 0o600))

	cases := []struct {
		name string
		args func(d *daemon) []string
		want string // the message both must print
	}{
		{"unknown module", func(d *daemon) []string {
			return []string{"-a", src + "/", "rsync://" + testUser + "@" + d.Addr + "/nope/"}
		}, "@ERROR: Unknown module 'nope'"},
		{"auth failed", func(d *daemon) []string {
			return []string{"--password-file=" + wrongPw, "-a", src + "/", d.URL("backup/")}
		}, "@ERROR: auth failed on module backup"},
		{"access denied", func(d *daemon) []string {
			return []string{"-a", src + "/", "rsync://" + d.Addr + "/denied/"}
		}, "@ERROR: access denied to denied from "},
		{"denied and unlisted", func(d *daemon) []string {
			return []string{"-a", src + "/", "rsync://" + d.Addr + "/hidden/"}
		}, "@ERROR: Unknown module 'hidden'"},
		{"max connections", func(d *daemon) []string {
			return []string{"--password-file=" + d.PwFile, "-a", src + "/", d.URL("one/")}
		}, "@ERROR: max connections (1) reached -- try again later"},
		{"read only", func(d *daemon) []string {
			return []string{"--password-file=" + d.PwFile, "-a", src + "/", d.URL("ro/")}
		}, "ERROR: module is read only"},
		{"refused option", func(d *daemon) []string {
			return []string{"-a", "--delete", src + "/", "rsync://" + d.Addr + "/nodelete/"}
		}, "The server is configured to refuse --delete"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := rsync(t, nil, tc.args(ours)...)
			want := rsync(t, nil, tc.args(stock)...)
			if got.Code != want.Code {
				t.Errorf("exit code %d, stock rsyncd gives %d\nours: %s\nstock: %s", got.Code, want.Code, got.Stderr, want.Stderr)
			}
			if tc.want != "" {
				if !strings.Contains(want.Stderr, tc.want) {
					t.Fatalf("stock rsyncd does not say %q (test is wrong):\n%s", tc.want, want.Stderr)
				}
				if !strings.Contains(got.Stderr, tc.want) {
					t.Errorf("client output lacks %q:\n%s", tc.want, got.Stderr)
				}
			}
			if got.Code == 0 {
				t.Errorf("refusal %q let the push through", tc.name)
			}
		})
	}
}

// TestModuleListing checks #list: listed modules with comments, hidden
// ones absent.
func TestModuleListing(t *testing.T) {
	d := startDaemon(t, "", `
modules:
  - name: backup
    path: {{DATA}}
    comment: backups of the storage servers
  - name: secret
    path: {{DATA}}
    list: false
`)
	res := mustRsync(t, nil, "rsync://"+d.Addr+"/")
	if !strings.Contains(res.Stdout, "backup         \tbackups of the storage servers") {
		t.Errorf("listing lacks the backup module:\n%q", res.Stdout)
	}
	if strings.Contains(res.Stdout, "secret") {
		t.Errorf("listing shows an unlisted module:\n%s", res.Stdout)
	}
}

// TestUnsupportedOptions: options this daemon does not implement are
// refused by name with exit code 4, never ignored.
func TestUnsupportedOptions(t *testing.T) {
	d := startDaemon(t, "", "")
	src := t.TempDir()
	for _, c := range []struct{ opt, want string }{
		{"-A", "The server does not support --acls (-A)"},
		{"-X", "The server does not support --xattrs (-X)"},
		{"--delay-updates", "The server does not support --delay-updates"},
	} {
		res := rsync(t, d, "-a", c.opt, src+"/", d.URL("backup/"))
		if res.Code != 4 || !strings.Contains(res.Stderr, c.want) {
			t.Errorf("%s: exit %d, want 4 with %q:\n%s", c.opt, res.Code, c.want, res.Stderr)
		}
	}
}
