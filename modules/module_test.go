package modules

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"backup", true},
		{"Backup-2024_x.y", true},
		{"my module", true}, // rsyncd.conf keeps one internal space
		{"", false},
		{"a/b", false},
		{"a]b", false},
		{" lead", false},
		{"trail ", false},
		{"two  spaces", false},
		{"tab\there", false},
		{"new\nline", false},
		{"#list", false},
		{"global", false},
		{"GLOBAL", false},
		{"globals", true},
		{"a#b", true},
	}
	for _, tt := range tests {
		if err := CheckName(tt.name); (err == nil) != tt.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// fields returns the sorted Field of every *FieldError in err.
func fields(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	for _, e := range flatten(err) {
		if e == nil {
			continue
		}
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a *FieldError", e)
		}
		out = append(out, fe.Field)
	}
	sort.Strings(out)
	return out
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	open := filepath.Join(dir, "open-secrets")
	file := filepath.Join(dir, "file")
	for p, mode := range map[string]os.FileMode{secrets: 0o600, open: 0o644, file: 0o644} {
		if err := os.WriteFile(p, []byte("u:p\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		edit func(m *Module)
		want []string // fields with errors, sorted
	}{
		{"defaults", func(m *Module) {}, nil},
		{"full good", func(m *Module) {
			m.ReadOnly, m.WriteOnly = true, true // legal in rsyncd: no transfer either way
			m.AuthUsers = []string{"rsync_backup", "@staff:ro"}
			m.SecretsFile = secrets
			m.AuthDigest = "sha256"
			m.HostsAllow = []string{"172.16.1.0/24", "::1"}
			m.HostsDeny = []string{"*"}
			m.MaxConnections = -1 // rsyncd.conf(5): a negative value disables the module
			m.Timeout = 300 * time.Second
			m.IncomingChmod = "Du=rwx,go=rx,Fu=rw,go=r"
			m.OutgoingChmod = "D755,F644,a+X,g=u,o-w"
			m.UID, m.GID = "0", "* 0"
			m.IncludeFrom, m.ExcludeFrom = file, file
			m.Comment = "backup of the storage servers"
		}, nil},
		{"empty name", func(m *Module) { m.Name = "" }, []string{"name"}},
		{"missing path", func(m *Module) { m.Path = "" }, []string{"path"}},
		{"relative path", func(m *Module) { m.Path = "backup" }, []string{"path"}},
		{"path does not exist", func(m *Module) { m.Path = filepath.Join(dir, "nope") }, []string{"path"}},
		{"path is a file", func(m *Module) { m.Path = file }, []string{"path"}},
		{"auth users without secrets file", func(m *Module) { m.AuthUsers = []string{"u"} }, []string{"auth_users"}},
		{"secrets file missing", func(m *Module) {
			m.AuthUsers, m.SecretsFile = []string{"u"}, filepath.Join(dir, "none")
		}, []string{"secrets_file"}},
		{"secrets file other-readable", func(m *Module) { m.AuthUsers, m.SecretsFile = []string{"u"}, open }, []string{"secrets_file"}},
		{"secrets file other-readable, strict modes off", func(m *Module) {
			m.AuthUsers, m.SecretsFile, m.StrictModes = []string{"u"}, open, false
		}, nil},
		{"secrets file without auth users is ignored", func(m *Module) { m.SecretsFile = filepath.Join(dir, "none") }, nil},
		{"bad digest", func(m *Module) { m.AuthDigest = "crc32" }, []string{"auth_digest"}},
		{"bad hosts, every token", func(m *Module) {
			m.HostsAllow = []string{"10.0.0.0/33", "ok.lan 1.2.3.4.5"}
			m.HostsDeny = []string{"@ng"}
		}, []string{"hosts_allow", "hosts_allow", "hosts_deny"}},
		{"negative timeout", func(m *Module) { m.Timeout = -time.Second }, []string{"timeout"}},
		{"negative max verbosity", func(m *Module) { m.MaxVerbosity = -1 }, []string{"max_verbosity"}},
		{"bad chmod", func(m *Module) { m.IncomingChmod, m.OutgoingChmod = "u+q", "DF644" }, []string{"incoming_chmod", "outgoing_chmod"}},
		{"include from relative", func(m *Module) { m.IncludeFrom = "rules" }, []string{"include_from"}},
		{"exclude from is a dir", func(m *Module) { m.ExcludeFrom = dir }, []string{"exclude_from"}},
		{"unknown user and group", func(m *Module) {
			m.UID, m.GID = "no-such-user-xyzzy", "0 no-such-group-xyzzy"
		}, []string{"gid", "uid"}},
		{"star gid not first", func(m *Module) { m.GID = "0 *" }, []string{"gid"}},
		{"var reference", func(m *Module) { m.UID = "%RSYNC_USER_NAME%" }, []string{"uid"}},
		{"comment with newline", func(m *Module) { m.Comment = "a\nfake\tmodule" }, []string{"comment"}},
		{"control char in rule", func(m *Module) { m.Exclude = []string{"*.tmp\x00"} }, []string{"exclude"}},
		{"everything at once", func(m *Module) {
			m.Name = "a/b"
			m.Path = "rel"
			m.AuthUsers = []string{"u"}
			m.HostsDeny = []string{"300.1.1.1"}
			m.Timeout = -1
		}, []string{"auth_users", "hosts_deny", "name", "path", "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("backup", dir)
			tt.edit(&m)
			err := m.Validate()
			got := fields(t, err)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("error fields = %v, want %v\n%v", got, tt.want, err)
			}
			if err != nil && !strings.Contains(err.Error(), `module "`+m.Name+`"`) {
				t.Errorf("error does not name the module: %v", err)
			}
		})
	}
}

func TestCheckChmod(t *testing.T) {
	tests := []struct {
		s  string
		ok bool
	}{
		{"u+rwx", true},
		{"Dg+s,Fo-w", true},
		{"a=rX", true},
		{"+x", true},
		{"u=", true},
		{"g=u", true},
		{"D755,F644", true},
		{"07777", true},
		{"0000644", true},
		{"uD+t", true},
		{"", false},
		{"u+r,", false},
		{",u+r", false},
		{"u", false},
		{"u+r-w", false},
		{"g=ur", false},
		{"g=uo", false},
		{"u644", false},
		{"10000", false},
		{"648", false},
		{"DF+r", false},
		{"u+q", false},
		{"z+r", false},
	}
	for _, tt := range tests {
		if err := checkChmod(tt.s); (err == nil) != tt.ok {
			t.Errorf("checkChmod(%q) = %v, want ok=%v", tt.s, err, tt.ok)
		}
	}
}

func TestSplitGID(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"rsync", []string{"rsync"}},
		{"* a,b  c", []string{"*", "a", "b", "c"}},
		{", Some Group , other,,", []string{"Some Group", "other"}},
		{"  ", nil},
	}
	for _, tt := range tests {
		if got := SplitGID(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("SplitGID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
