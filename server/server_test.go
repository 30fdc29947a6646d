package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

func TestParseGreeting(t *testing.T) {
	cases := []struct {
		line    string
		proto   int
		digests string
		list    bool
		err     string
	}{
		{"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4", 32, "sha512 sha256 sha1 md5 md4", true, ""},
		{"@RSYNCD: 31.0 md5", 31, "md5", true, ""},
		{"@RSYNCD: 31.0", 31, "", false, ""},
		{"@RSYNCD: 30.0", 30, "", false, ""},
		{"@RSYNCD: 29", 29, "", false, ""},
		{"@RSYNCD: 27", 27, "", false, ""},
		{"@RSYNCD: 33.0 md5", 32, "md5", true, ""},
		{"@RSYNCD: 32.1 md5", 31, "md5", true, ""}, // a pre-release sub-protocol steps down
		{"@RSYNCD: 26", 0, "", false, "not supported"},
		{"@RSYNCD: 31", 0, "", false, "omitted the subprotocol"},
		{"@RSYNCD: 32.0", 0, "", false, "omitted the digest name list"},
		{"HELLO", 0, "", false, "protocol startup error"},
		{"@RSYNCD: x.0", 0, "", false, "protocol startup error"},
		{"@RSYNCD: -1.0 md5", 0, "", false, "protocol startup error"},
	}
	for _, c := range cases {
		g, err := parseGreeting(c.line)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || g.protocol != c.proto || g.digests != c.digests || g.listSent != c.list {
			t.Errorf("%q = %+v, %v; want proto %d digests %q list %v", c.line, g, err, c.proto, c.digests, c.list)
		}
	}
}

func TestStripModule(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"--server", "-logDtpre.iLsfxC", ".", "backup/"}, []string{"--server", "-logDtpre.iLsfxC", ".", "."}},
		{[]string{"--server", ".", "backup/sub/dir"}, []string{"--server", ".", "sub/dir"}},
		{[]string{"--server", ".", "backup"}, []string{"--server", ".", "."}},
		{[]string{"--server", ".", "backupx/y"}, []string{"--server", ".", "backupx/y"}},
	}
	for _, c := range cases {
		got := stripModule(c.in, "backup")
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("stripModule(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// handshake runs one session over a pipe: it writes in and returns what the
// daemon answered.
func handshake(t testing.TB, cfg *Config, in string) string {
	t.Helper()
	srv := New(cfg, slog.New(slog.DiscardHandler))
	client, daemon := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeConn(daemon)
	}()
	go func() {
		_, _ = io.WriteString(client, in)
	}()
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, _ := io.ReadAll(bufio.NewReader(client))
	client.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the session did not end; input %q", in)
	}
	return string(out)
}

func testConfig(t testing.TB) *Config {
	dir := t.TempDir()
	secrets := dir + "/secrets"
	if err := os.WriteFile(secrets, []byte("u:p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := modules.New("backup", dir)
	m.ReadOnly = false
	m.Comment = "the backups"
	m.AuthUsers = []string{"u"}
	m.SecretsFile = secrets
	h := modules.New("hidden", dir)
	h.List = false
	return &Config{Modules: []modules.Module{m, h}, HandshakeTimeout: 3 * time.Second}
}

func TestHandshakeReplies(t *testing.T) {
	cfg := testConfig(t)
	cases := []struct{ in, want string }{
		{"@RSYNCD: 31.0 md5\n#list\n", "backup         \tthe backups\n@RSYNCD: EXIT\n"},
		{"@RSYNCD: 31.0 md5\n\n", "backup         \tthe backups\n@RSYNCD: EXIT\n"},
		{"@RSYNCD: 31.0 md5\nnope\n", "@ERROR: Unknown module 'nope'\n"},
		{"@RSYNCD: 31.0 md5\n#stats\n", "@ERROR: Unknown command '#stats'\n"},
		{"garbage\n", "@ERROR: protocol startup error\n"},
		{"@RSYNCD: 31.0 md5\nbackup\nu wrong\n", "@ERROR: auth failed on module backup\n"},
		{"@RSYNCD: 32.0 nothing-known\nbackup\n", "@ERROR: your client does not support one of our daemon-auth checksums"},
	}
	for _, c := range cases {
		out := handshake(t, cfg, c.in)
		greet := "@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"
		if !strings.HasPrefix(out, greet) {
			t.Fatalf("%q: no greeting in %q", c.in, out)
		}
		rest := strings.TrimPrefix(out, greet)
		if strings.HasPrefix(rest, "@RSYNCD: AUTHREQD ") {
			rest = rest[strings.IndexByte(rest, '\n')+1:]
		}
		if !strings.HasPrefix(rest, c.want) {
			t.Errorf("%q: reply %q, want %q", c.in, rest, c.want)
		}
		if strings.Contains(rest, "hidden") {
			t.Errorf("%q: the unlisted module shows: %q", c.in, rest)
		}
	}
}

// FuzzHandshake feeds arbitrary bytes to the daemon front: every session
// must end (no hang past the handshake deadline) without a panic.
func FuzzHandshake(f *testing.F) {
	for _, s := range []string{
		"@RSYNCD: 31.0 md5\n#list\n",
		"@RSYNCD: 32.0 sha512\nbackup\nu 9xYz\n",
		"@RSYNCD: 29\nbackup\nu abc\n--server\n.\n\n",
		"@RSYNCD: 31.0\x00\n\xff\xfe\n",
		"\n\n\n",
	} {
		f.Add(s)
	}
	cfg := testConfig(f)
	cfg.HandshakeTimeout = 500 * time.Millisecond
	f.Fuzz(func(t *testing.T, in string) {
		handshake(t, cfg, in)
	})
}

func TestCheckSupported(t *testing.T) {
	m := modules.New("backup", "/backup")
	if err := CheckSupported([]modules.Module{m}); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	m.HostsAllow = []string{"10.0.0.0/8 192.168.1.0/255.255.255.0", "::1", "fe80::1%eth0"}
	m.HostsDeny = []string{"*"}
	if err := CheckSupported([]modules.Module{m}); err != nil {
		t.Fatalf("address lists refused: %v", err)
	}
	// The data-path policies are carried out.
	m.IncomingChmod, m.OutgoingChmod = "Du+w", "Fgo-w"
	m.MungeSymlinks, m.IgnoreNonreadable = true, true
	if err := CheckSupported([]modules.Module{m}); err != nil {
		t.Fatalf("data-path policies refused: %v", err)
	}
	// Host names and patterns are looked up (lookup.go).
	m.HostsAllow = append(m.HostsAllow, "*.example.com", "backup.example.com")
	if err := CheckSupported([]modules.Module{m}); err != nil {
		t.Fatalf("host names refused: %v", err)
	}
	// Another uid is carried out only by a daemon running as root.
	m.UID = "nobody"
	err := CheckSupported([]modules.Module{m})
	if os.Geteuid() == 0 {
		if err != nil {
			t.Fatalf("uid refused under root: %v", err)
		}
		m.UID = ""
		m.GID = "no-such-group-w3"
		if err = CheckSupported([]modules.Module{m}); err != nil {
			t.Fatalf("gid checked by CheckSupported under root (Validate does): %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), `module "backup": uid "nobody": rsyncd-go acts as a module's user only when it runs as root`) {
		t.Fatalf("got %v, want the uid refused", err)
	}
	for _, key := range []string{"chmod", "munge", "nonreadable"} {
		if strings.Contains(err.Error(), key) {
			t.Errorf("%s refused: %v", key, err)
		}
	}
}
