package instances

import (
	"fmt"
	"log/syslog"
	"path/filepath"
	"strings"
	"testing"
)

// TestFrontKeys: socket_options, listen_backlog, syslog_facility and
// syslog_tag load, and each bad value is reported on its line.
func TestFrontKeys(t *testing.T) {
	_, write := fixture(t)
	good := write("good.yaml", `socket_options: SO_KEEPALIVE,SO_SNDBUF=262144 TCP_NODELAY
listen_backlog: 64
syslog_facility: LOCAL5
syslog_tag: backupd
modules:
  - name: backup
    path: @DIR@/backup
`)
	inst, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if inst.SocketOptions != "SO_KEEPALIVE,SO_SNDBUF=262144 TCP_NODELAY" || inst.ListenBacklog != 64 {
		t.Errorf("got %q %d", inst.SocketOptions, inst.ListenBacklog)
	}
	use, fac, tag := inst.Syslog()
	if !use || fac != syslog.LOG_LOCAL5 || tag != "backupd" {
		t.Errorf("Syslog() = %v %v %q", use, fac, tag)
	}

	tests := []struct {
		name, yaml string
		want       []string // "LINE: text"
	}{
		{"unknown socket option", "socket_options: SO_KEEPALIVE SO_BOGUS\n", []string{`1: socket_options: unknown socket option "SO_BOGUS"`}},
		{"socket option value", "socket_options: SO_SNDBUF=lots\n", []string{`1: socket_options: socket option SO_SNDBUF: value "lots"`}},
		{"negative backlog", "listen_backlog: -1\n", []string{"1: listen_backlog: want 0"}},
		{"unknown facility", "syslog_facility: local9\n", []string{`1: syslog_facility: unknown syslog facility "local9"`}},
		{"tag with space", "syslog_tag: my tag\n", []string{`1: syslog_tag: "my tag" holds a space`}},
		{"tag with connection variable", "syslog_tag: rsyncd.%RSYNC_USER_NAME%\n", []string{"1: syslog_tag: %RSYNC_...% values are not supported"}},
		{"syslog and log file", "log_file: @DIR@/log\nsyslog_tag: x\n", []string{"2: syslog_tag: has no effect with log_file set"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := write("bad.yaml", tc.yaml+"modules:\n  - name: backup\n    path: @DIR@/backup\n")
			_, err := Load(p)
			if err == nil {
				t.Fatal("loaded")
			}
			got := problems(t, err, p)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				if s := fmt.Sprintf("%d: %v", got[i].Line, got[i].Err); !strings.HasPrefix(s, w) {
					t.Errorf("got %q, want prefix %q", s, w)
				}
			}
		})
	}
}

func TestParseSyslogFacility(t *testing.T) {
	for in, want := range map[string]syslog.Priority{
		"": syslog.LOG_DAEMON, "daemon": syslog.LOG_DAEMON, "Local5": syslog.LOG_LOCAL5,
		"security": syslog.LOG_AUTH, "168": syslog.LOG_LOCAL5, "authpriv": syslog.LOG_AUTHPRIV,
	} {
		if got, err := ParseSyslogFacility(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"local8", "7", "0", "-8", "daemons"} {
		if _, err := ParseSyslogFacility(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestConfFront: the rsyncd.conf parameters map to the keys, and their
// errors point at the rsyncd.conf's lines.
func TestConfFront(t *testing.T) {
	conf := `listen backlog = 32
socket options = SO_KEEPALIVE, IPTOS_LOWDELAY
syslog facility = local3
syslog tag = rsyncd-backup
[home]
	path = {{D}}/%RSYNC_USER_NAME%
	auth users = u
	secrets file = {{D}}/secrets
[m]
	path = {{D}}/m
`
	dir := confDir(t, map[string]string{"r.conf": conf})
	file := filepath.Join(dir, "r.conf")
	c, err := ConvertConf(file, ConfOptions{})
	if err != nil || len(c.Problems) > 0 {
		t.Fatalf("%v %v", err, c.Problems)
	}
	for _, w := range []string{"listen_backlog: 32", "socket_options: SO_KEEPALIVE, IPTOS_LOWDELAY", "syslog_facility: local3", "syslog_tag: rsyncd-backup", "path: " + dir + "/%RSYNC_USER_NAME%"} {
		if !strings.Contains(string(c.YAML), w) {
			t.Errorf("YAML lacks %q:\n%s", w, c.YAML)
		}
	}
	inst, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if inst.ListenBacklog != 32 || inst.SocketOptions == "" || inst.SyslogFacility != "local3" || inst.SyslogTag != "rsyncd-backup" {
		t.Errorf("instance %+v", inst)
	}

	// A log file makes the syslog parameters moot, as in rsyncd.
	dir = confDir(t, map[string]string{"r.conf": "log file = {{D}}/log\nsyslog facility = local3\n[m]\npath = {{D}}/m\n"})
	inst, err = Load(filepath.Join(dir, "r.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if use, _, _ := inst.Syslog(); use || inst.SyslogFacility != "" {
		t.Errorf("syslog with a log file: %v %q", use, inst.SyslogFacility)
	}

	// Bad values: file:line of the rsyncd.conf.
	dir = confDir(t, map[string]string{"r.conf": "socket options = SO_KEEPALIVE SO_NOPE\nlisten backlog = -5\n[m]\npath = {{D}}/m\nsyslog tag = a b\n"})
	file = filepath.Join(dir, "r.conf")
	_, err = Load(file)
	if err == nil {
		t.Fatal("loaded")
	}
	msg := err.Error()
	for _, w := range []string{file + `:1: socket_options: unknown socket option "SO_NOPE"`, file + ":2: listen_backlog: want 0", file + `:5: syslog_tag: "a b" holds a space`} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in\n%s", w, msg)
		}
	}
}
