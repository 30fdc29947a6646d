package instances

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
)

// fixture makes a data dir with a module dir, a 0600 secrets file and a
// motd, and returns a function that writes YAML (with @DIR@ replaced by
// the dir) to a file and returns its path.
func fixture(t *testing.T) (dir string, write func(name, yaml string) string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{"backup", "other"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, mode := range map[string]os.FileMode{"secrets": 0o600, "motd": 0o644} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("rsync_backup:pw\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir, func(name, yaml string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(yaml, "@DIR@", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// problems returns each error of a Load as "line: message", checking that
// every one is an *Error naming the file.
func problems(t *testing.T, err error, file string) []*Error {
	t.Helper()
	var me *multierror.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not a *multierror.Error", err, err)
	}
	var out []*Error
	for _, e := range me.Errors {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("%v (%T) is not an *Error", e, e)
		}
		if ce.File != file {
			t.Errorf("%v names file %q, want %q", ce, ce.File, file)
		}
		if !strings.HasPrefix(ce.Error(), file+":") {
			t.Errorf("%q does not start with the file name", ce.Error())
		}
		out = append(out, ce)
	}
	return out
}

func TestLoadGood(t *testing.T) {
	dir, write := fixture(t)
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, inst *Instance)
	}{
		{"design example", `
listen: 0.0.0.0:873          # a string or a list of strings
max_connections: 200
timeout: 300                 # seconds, as rsyncd
modules:
  - name: backup
    path: @DIR@/backup
    comment: backup of the storage servers
    read_only: false
    list: true
    auth_users: [rsync_backup]
    secrets_file: @DIR@/secrets
    strict_modes: true
    hosts_allow: [172.16.1.0/24]
    hosts_deny: ["*"]
    max_connections: 10
    refuse_options: [delete]
    ignore_errors: false
`, func(t *testing.T, inst *Instance) {
			if !slices.Equal(inst.Listen, []string{"0.0.0.0:873"}) || inst.MaxConnections != 200 || inst.Timeout != 300*time.Second {
				t.Errorf("instance = %+v", inst)
			}
			if m, ok := inst.Module("backup"); !ok || m != &inst.Modules[0] {
				t.Errorf("Module(backup) = %v, %v", m, ok)
			}
			if _, ok := inst.Module("Backup"); ok {
				t.Error("Module lookup ignores case")
			}
			if inst.LogFormat != "text" || inst.Name != "cfg" {
				t.Errorf("LogFormat %q Name %q", inst.LogFormat, inst.Name)
			}
			m := inst.Modules[0]
			if m.Name != "backup" || m.Path != dir+"/backup" || m.ReadOnly || !m.List || m.MaxConnections != 10 ||
				!slices.Equal(m.AuthUsers, []string{"rsync_backup"}) || m.SecretsFile != dir+"/secrets" || !m.StrictModes ||
				!slices.Equal(m.HostsAllow, []string{"172.16.1.0/24"}) || !slices.Equal(m.HostsDeny, []string{"*"}) ||
				!slices.Equal(m.RefuseOptions, []string{"delete"}) || m.Timeout != 300*time.Second || m.Comment != "backup of the storage servers" {
				t.Errorf("module = %+v", m)
			}
		}},
		{"rsyncd defaults", `
modules:
  - name: Pub
    path: @DIR@/backup
`, func(t *testing.T, inst *Instance) {
			if !slices.Equal(inst.Listen, []string{DefaultListen}) {
				t.Errorf("Listen = %q", inst.Listen)
			}
			m := inst.Modules[0]
			if m.Name != "Pub" || !m.ReadOnly || m.WriteOnly || !m.List || !m.StrictModes || !m.ForwardLookup ||
				!m.ReverseLookup || m.MaxVerbosity != 1 || m.Timeout != 0 || m.MaxConnections != 0 {
				t.Errorf("module = %+v", m)
			}
			if m.DontCompress != nil || m.HostsAllow != nil || m.AuthUsers != nil {
				t.Errorf("unset lists are not nil: %+v", m)
			}
		}},
		{"types as rsyncd spells them", `
listen: ["127.0.0.1:8730", "[::1]:8730", ":0", "localhost:873"]
timeout: 5m
log_format: json
log_file: @DIR@/rsyncd-go.log
motd_file: @DIR@/motd
modules:
  - name: my module
    path: "@DIR@/backup"
    read_only: no
    write_only: Yes
    list: 0
    numeric_ids: 1
    fake_super: true
    munge_symlinks: yes
    ignore_nonreadable: TRUE
    forward_lookup: false
    reverse_lookup: false
    max_connections: -1
    max_verbosity: 0x2
    timeout: 60
    uid: 0
    gid: 0
    comment: 1234
    incoming_chmod: Du=rwx,go=rx,Fu=rw,go=r
    outgoing_chmod: D755,F644
    auth_users: "rsync_backup, @staff:ro"
    secrets_file: @DIR@/secrets
    auth_digest: sha256
    hosts_allow: 10.0.0.0/8 192.168.0.0/255.255.0.0
    filter: ["- *.tmp", "+ /keep/"]
    include: [keep]
    exclude: "*.bak"
    include_from: @DIR@/motd
    exclude_from: @DIR@/motd
    dont_compress: ["*.gz", "*.zst"]
`, func(t *testing.T, inst *Instance) {
			if len(inst.Listen) != 4 || inst.Timeout != 5*time.Minute || inst.LogFormat != "json" ||
				inst.Motd != dir+"/motd" || inst.LogFile != dir+"/rsyncd-go.log" {
				t.Errorf("instance = %+v", inst)
			}
			m := inst.Modules[0]
			if m.Name != "my module" || m.ReadOnly || !m.WriteOnly || m.List || !m.NumericIDs || !m.FakeSuper ||
				!m.MungeSymlinks || !m.IgnoreNonreadable || m.ForwardLookup || m.ReverseLookup || m.MaxConnections != -1 ||
				m.MaxVerbosity != 2 || m.Timeout != time.Minute || m.UID != "0" || m.GID != "0" || m.Comment != "1234" ||
				!slices.Equal(m.AuthUsers, []string{"rsync_backup, @staff:ro"}) || m.AuthDigest != "sha256" ||
				!slices.Equal(m.HostsAllow, []string{"10.0.0.0/8 192.168.0.0/255.255.0.0"}) ||
				!slices.Equal(m.Filter, []string{"- *.tmp", "+ /keep/"}) || !slices.Equal(m.Exclude, []string{"*.bak"}) ||
				!slices.Equal(m.DontCompress, []string{"*.gz", "*.zst"}) || m.IncludeFrom != dir+"/motd" {
				t.Errorf("module = %+v", m)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write("cfg.yaml", tt.yaml)
			inst, err := Load(p)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if inst.File != p {
				t.Errorf("File = %q, want %q", inst.File, p)
			}
			tt.check(t, inst)
		})
	}
}

func TestLoadAnchors(t *testing.T) {
	_, write := fixture(t)
	p := write("a.yaml", `
modules:
  - &a
    name: a
    path: @DIR@/backup
    read_only: false
    hosts_allow: &nets [10.0.0.0/8]
  - <<: *a
    name: b
    path: @DIR@/other
    hosts_deny: *nets
`)
	inst, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	a, b := inst.Modules[0], inst.Modules[1]
	if b.Name != "b" || b.ReadOnly || !strings.HasSuffix(b.Path, "/other") || !slices.Equal(b.HostsAllow, []string{"10.0.0.0/8"}) ||
		!slices.Equal(b.HostsDeny, a.HostsAllow) {
		t.Errorf("merged module = %+v", b)
	}
}

func TestInheritance(t *testing.T) {
	dir, write := fixture(t)
	p := write("inh.yaml", `
timeout: 300
read_only: false
hosts_allow: [172.16.1.0/24]
hosts_deny: ["*"]
secrets_file: @DIR@/secrets
auth_users: [rsync_backup]
max_connections: 50
refuse_options: delete
modules:
  - name: inherits
    path: @DIR@/backup
  - name: overrides
    path: @DIR@/other
    timeout: 30
    read_only: true
    hosts_allow: []
    auth_users: []
    max_connections: 0
`)
	inst, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if inst.MaxConnections != 50 || inst.Timeout != 300*time.Second {
		t.Errorf("instance = %+v", inst)
	}
	in, ov := inst.Modules[0], inst.Modules[1]
	if in.Timeout != 300*time.Second || in.ReadOnly || !slices.Equal(in.HostsAllow, []string{"172.16.1.0/24"}) ||
		!slices.Equal(in.HostsDeny, []string{"*"}) || in.SecretsFile != dir+"/secrets" ||
		!slices.Equal(in.AuthUsers, []string{"rsync_backup"}) || in.MaxConnections != 50 ||
		!slices.Equal(in.RefuseOptions, []string{"delete"}) {
		t.Errorf("inheriting module = %+v", in)
	}
	if ov.Timeout != 30*time.Second || !ov.ReadOnly || len(ov.HostsAllow) != 0 || len(ov.AuthUsers) != 0 ||
		ov.MaxConnections != 0 || !slices.Equal(ov.HostsDeny, []string{"*"}) {
		t.Errorf("overriding module = %+v", ov)
	}
	// Inherited lists are copies: changing one module leaves the other alone.
	in.HostsDeny[0] = "changed"
	if ov.HostsDeny[0] != "*" {
		t.Error("modules share an inherited list")
	}
}

func TestLoadErrors(t *testing.T) {
	_, write := fixture(t)
	type want struct {
		line int
		text string
	}
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{"unknown key, bad address, duplicate module", `timeout: 300
max_connections: 10
max_conections: 5
listen:
  - 300.1.1.1:873
modules:
  - name: backup
    path: @DIR@/backup
  - name: backup
    path: @DIR@/other
`, []want{{3, `unknown key "max_conections" (did you mean "max_connections"?)`}, {5, `"300.1.1.1" is not an IP address`}, {9, `module "backup": defined twice (first on line 7)`}}},
		{"misspelled module key is never ignored", `modules:
  - name: backup
    path: @DIR@/backup
    read_onyl: false
    hosts allow: [10.0.0.1]
    use chroot: no
    listen: 1.2.3.4:5
`, []want{{4, `"read_onyl" (did you mean "read_only"?)`}, {5, `(did you mean "hosts_allow"?)`}, {6, "not supported by rsyncd-go"}, {7, "only allowed at the top level"}}},
		{"wrong types", `listen: {a: b}
timeout: soon
max_connections: many
read_only: maybe
modules:
  - name: backup
    path: [@DIR@/backup]
    auth_users: {x: y}
    hosts_deny:
      - 10.0.0.1
      - [nested]
    max_verbosity: 1.5
    list:
`, []want{{1, "listen: expected a string or a list of strings, got a mapping"}, {2, "timeout: expected a number of seconds"},
			{3, "max_connections: expected a whole number"}, {4, `read_only: expected yes or no, got "maybe"`},
			{7, "path: expected a string, got a list"}, {8, "auth_users: expected a string or a list"},
			{11, "hosts_deny: each entry must be a string, got a list"}, {12, "max_verbosity: expected a whole number"},
			{13, "list: needs a value"}}},
		{"module validation errors at their keys", `modules:
  - name: a/b
    path: relative
    auth_users: [u]
    hosts_allow:
      - 10.0.0.0/8
      - 10.0.0.0/40
    hosts_deny: "@netgroup"
    incoming_chmod: u+q
    timeout: -5
  - name: nopath
`, []want{{2, "module name \"a/b\" contains '/' or ']'"}, {3, `"relative" is not an absolute path`},
			{4, "auth users are set but secrets_file is not"}, {7, `entry "10.0.0.0/40": bad mask`},
			{8, "netgroups (@name) are not supported"}, {9, `incoming_chmod: "u+q"`}, {10, "timeout: must not be negative"},
			{11, `module "nopath": path: is required`}}},
		{"inherited error reported once at the top level", `hosts_deny: 10.0.0.256
timeout: -1
modules:
  - name: a
    path: @DIR@/backup
  - name: b
    path: @DIR@/other
`, []want{{1, `hosts_deny: entry "10.0.0.256": not an IP address`}, {2, "timeout: must not be negative"}}},
		{"case-only duplicate and set-twice keys", `modules:
  - name: Backup
    path: @DIR@/backup
    path: @DIR@/other
  - name: backup
    path: @DIR@/backup
`, []want{{4, "path: set twice (first on line 3)"}, {5, `differs only in case from module "Backup" on line 2`}}},
		{"instance settings", `listen: ["127.0.0.1:873", "127.0.0.1:873", "nohost", "[::1]:http", "example.com:873"]
max_connections: -1
log_format: xml
motd_file: @DIR@/nope
log_file: @DIR@/nodir/log
name: top
modules:
  - name: ok
    path: @DIR@/backup
`, []want{{1, "listed twice"}, {1, `"nohost": want ADDRESS:PORT`}, {1, `port "http" is not a number`},
			{1, `"example.com" is not an IP address`}, {2, "max_connections: must not be negative at the top level"},
			{3, `log_format: want text, json or rsyncd, got "xml"`}, {4, "motd_file:"}, {5, "log_file: directory of"},
			{6, "name: belongs inside a module"}}},
		{"no modules", "listen: 127.0.0.1:8730\n", []want{{0, "no modules"}}},
		{"modules as a map", "modules:\n  backup:\n    path: /x\n", []want{{1, "must be a list"}}},
		{"module not a mapping", "modules:\n  - backup\n", []want{{2, "each module must be a mapping"}}},
		{"top level not a mapping", "- a\n- b\n", []want{{1, "the top level must be a mapping"}, {0, "no modules"}}},
		{"syntax error", "listen: a\nmodules:\n  - name: a\n    path: \"x\n", []want{{4, "YAML syntax"}}},
		{"two documents", "modules: []\n---\nmodules: []\n", []want{{1, "no modules"}, {2, "only one YAML document"}}},
		{"empty file", "", []want{{0, "no modules"}}},
		{"merge of a scalar", "x: &s 1\nmodules:\n  - <<: *s\n    name: a\n    path: @DIR@/backup\n", []want{{1, `unknown key "x"`}, {3, "merge key (<<) must refer to a mapping"}}},
		{"self-referencing anchor", "a: &a {b: *a}\nmodules: *a\n", []want{{1, `unknown key "a"`}, {2, "must be a list"}}},
		{"out of range numbers", "max_connections: 99999999999\ntimeout: 999999999999999\nmodules: []\n", []want{{1, "expected a whole number"}, {2, "out of range"}, {3, "no modules"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write("bad.yaml", tt.yaml)
			inst, err := Load(p)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", inst)
			}
			if inst != nil {
				t.Errorf("Load returned an instance with errors")
			}
			got := problems(t, err, p)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tt.want), err)
			}
			for i, w := range tt.want {
				if got[i].Line != w.line || !strings.Contains(got[i].Err.Error(), w.text) {
					t.Errorf("error %d = line %d %q, want line %d containing %q", i, got[i].Line, got[i].Err, w.line, w.text)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func TestConfigDir(t *testing.T) {
	t.Setenv(EnvConfigDir, "")
	if got := ConfigDir(""); got != DefaultConfigDir {
		t.Errorf("ConfigDir() = %q, want %q", got, DefaultConfigDir)
	}
	t.Setenv(EnvConfigDir, "/from/env")
	if got := ConfigDir(""); got != "/from/env" {
		t.Errorf("ConfigDir() with env = %q", got)
	}
	if got := ConfigDir("/from/flag"); got != "/from/flag" {
		t.Errorf("ConfigDir(flag) = %q", got)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "b.yml", "c.yaml", "c.yml"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "d.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want, errText string
	}{
		{"a", filepath.Join(dir, "a.yaml"), ""},
		{"b", filepath.Join(dir, "b.yml"), ""},
		{"c", "", "both"},
		{"d", "", "is a directory"},
		{"none", "", "tried " + filepath.Join(dir, "none.yaml") + " and " + filepath.Join(dir, "none.yml")},
		{"", "", "invalid instance name"},
		{"../etc/x", "", "invalid instance name"},
		{"..", "", "invalid instance name"},
	}
	for _, tt := range tests {
		got, err := Find(dir, tt.name)
		if tt.errText == "" {
			if err != nil || got != tt.want {
				t.Errorf("Find(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.errText) {
			t.Errorf("Find(%q) error = %v, want it to contain %q", tt.name, err, tt.errText)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"read only", "read_only"},
		{"read-only", "read_only"},
		{"hosts_alow", "hosts_allow"},
		{"secret_file", "secrets_file"},
		{"completely_else", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, moduleKeys); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
