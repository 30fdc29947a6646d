package modules

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSocketOptions(t *testing.T) {
	tests := []struct {
		in      string
		want    []SocketOption
		wantErr []string // substrings of the error
	}{
		{"", nil, nil},
		{"SO_KEEPALIVE", []SocketOption{{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1}}, nil},
		{"TCP_NODELAY=0, SO_SNDBUF=262144\tSO_RCVBUF=131072", []SocketOption{
			{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 0},
			{"SO_SNDBUF", unix.SOL_SOCKET, unix.SO_SNDBUF, 262144},
			{"SO_RCVBUF", unix.SOL_SOCKET, unix.SO_RCVBUF, 131072},
		}, nil},
		{"IPTOS_LOWDELAY IPTOS_THROUGHPUT", []SocketOption{
			{"IPTOS_LOWDELAY", unix.IPPROTO_IP, unix.IP_TOS, 0x10},
			{"IPTOS_THROUGHPUT", unix.IPPROTO_IP, unix.IP_TOS, 0x08},
		}, nil},
		{"SO_REUSEADDR SO_BROADCAST SO_RCVLOWAT=10", []SocketOption{
			{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
			{"SO_BROADCAST", unix.SOL_SOCKET, unix.SO_BROADCAST, 1},
			{"SO_RCVLOWAT", unix.SOL_SOCKET, unix.SO_RCVLOWAT, 10},
		}, nil},
		{"SO_NOSUCH", nil, []string{`unknown socket option "SO_NOSUCH"`}},
		{"so_keepalive", nil, []string{"case-sensitive: SO_KEEPALIVE"}},
		{"IPTOS_LOWDELAY=1", nil, []string{"does not take a value"}},
		{"SO_SNDBUF", nil, []string{"needs a value"}},
		{"SO_SNDBUF=big SO_RCVBUF=-1", nil, []string{`value "big"`, `value "-1"`}},
		{"SO_SNDTIMEO=5", nil, []string{"SO_SNDTIMEO is not supported"}},
		{"SO_SNDLOWAT=5", nil, []string{"SO_SNDLOWAT is not supported"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSocketOptions(tc.in)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("option %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestExpandPath(t *testing.T) {
	vars := ConnVars{User: "alice", Module: "home", HostAddr: "192.0.2.7", HostName: "ws1.example.com"}
	tests := []struct {
		path string
		vars ConnVars
		want string // "" = ErrPathVar
	}{
		{"/srv/plain", vars, "/srv/plain"},
		{"/home/%RSYNC_USER_NAME%", vars, "/home/alice"},
		{"/srv/%RSYNC_MODULE_NAME%/%RSYNC_HOST_NAME%-%RSYNC_HOST_ADDR%/", vars, "/srv/home/ws1.example.com-192.0.2.7/"},
		{"/srv/%HOME%/%RSYNC_USER_NAME%", vars, "/srv/%HOME%/alice"},
		{"/srv/100%/%RSYNC_USER_NAME%", vars, "/srv/100%/alice"},
		{"/home/%RSYNC_USER_NAME%", ConnVars{User: "../etc"}, ""},
		{"/home/%RSYNC_USER_NAME%", ConnVars{User: ".."}, ""},
		{"/home/%RSYNC_USER_NAME%", ConnVars{User: "."}, ""},
		{"/home/%RSYNC_USER_NAME%", ConnVars{User: ""}, ""},
		{"/home/%RSYNC_USER_NAME%", ConnVars{User: "a\x00b"}, ""},
		{"/home/%RSYNC_USER_NAME%/../x", vars, ""},
	}
	for _, tc := range tests {
		m := New("home", tc.path)
		got, err := m.ExpandPath(tc.vars)
		if tc.want == "" {
			if !errors.Is(err, ErrPathVar) {
				t.Errorf("%s with %+v: got %q, %v; want ErrPathVar", tc.path, tc.vars, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

func TestCheckPathVars(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		path  string
		users []string
		want  string // "" = valid
	}{
		{dir + "/%RSYNC_USER_NAME%", []string{"alice"}, ""},
		{dir + "/u-%RSYNC_USER_NAME%/data", []string{"alice"}, ""},
		{dir + "/%RSYNC_HOST_ADDR%", nil, ""},
		{dir + "/%RSYNC_USER_NAME%", nil, "needs auth_users"},
		{dir + "/%RSYNC_PID%", nil, "%RSYNC_PID% is not known"},
		{"rel/%RSYNC_HOST_ADDR%", nil, "not an absolute path"},
		{filepath.Join(dir, "missing") + "/%RSYNC_HOST_ADDR%", nil, "directory before the first"},
	}
	for _, tc := range tests {
		m := New("m", tc.path)
		m.AuthUsers = tc.users
		err := m.checkPath()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: got %v, want %q", tc.path, err, tc.want)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := (&Module{Path: filepath.Join(dir, "x")}).checkPath(); err != nil {
		t.Errorf("plain path: %v", err)
	}
}

func TestAccessHostName(t *testing.T) {
	client := netip.MustParseAddr("192.0.2.7")
	resolve := func(host string) ([]netip.Addr, error) {
		switch host {
		case "ws1.example.com":
			return []netip.Addr{netip.MustParseAddr("192.0.2.7")}, nil
		case "other.example.com":
			return []netip.Addr{netip.MustParseAddr("192.0.2.8")}, nil
		}
		return nil, errors.New("no such host")
	}
	tests := []struct {
		name        string
		allow, deny []string
		reverse     bool
		forward     bool
		host        string // the reverse name given, "" for none
		wantOK      bool
		wantHost    string
	}{
		{"wildcard matches reverse name", []string{"*.example.com"}, nil, true, true, "WS1.example.com", true, "WS1.example.com"},
		{"question mark", []string{"ws?.example.com"}, nil, true, true, "ws1.example.com", true, "ws1.example.com"},
		{"wildcard misses", []string{"*.example.org"}, nil, true, true, "ws1.example.com", false, "ws1.example.com"},
		{"UNKNOWN for failed reverse", []string{"unknown"}, nil, true, false, "", true, ""},
		{"forward lookup admits", []string{"ws1.example.com"}, nil, true, true, "UNKNOWN", true, "UNKNOWN"},
		{"forward lookup names UNDETERMINED client", []string{"ws1.example.com"}, nil, false, true, "UNDETERMINED", true, "ws1.example.com"},
		{"forward lookup off", []string{"ws1.example.com"}, nil, false, false, "UNDETERMINED", false, "UNDETERMINED"},
		{"forward other address", []string{"other.example.com"}, nil, false, true, "UNDETERMINED", false, "UNDETERMINED"},
		{"deny name that does not resolve fails closed", nil, []string{"gone.example.com"}, false, true, "UNDETERMINED", false, "UNDETERMINED"},
		{"allow name that does not resolve", []string{"gone.example.com"}, []string{"*"}, false, true, "UNDETERMINED", false, "UNDETERMINED"},
		{"deny by wildcard name", nil, []string{"*.example.com"}, true, true, "ws1.example.com", false, "ws1.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New("m", "/")
			m.HostsAllow, m.HostsDeny = tc.allow, tc.deny
			m.ReverseLookup, m.ForwardLookup = tc.reverse, tc.forward
			ok, host := m.Access(client, tc.host, resolve)
			if ok != tc.wantOK || host != tc.wantHost {
				t.Errorf("got %v %q, want %v %q", ok, host, tc.wantOK, tc.wantHost)
			}
		})
	}
}

func TestHostListHasNames(t *testing.T) {
	for in, want := range map[string]bool{
		"10.0.0.0/8 ::1": false, "*": false, "": false, "10.0.0.1 *.lan": true, "backup": true, "host?": true,
	} {
		l, err := ParseHosts([]string{in})
		if err != nil {
			t.Fatal(err)
		}
		if l.HasNames() != want {
			t.Errorf("%q: HasNames %v, want %v", in, !want, want)
		}
	}
}
