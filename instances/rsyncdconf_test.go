package instances

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/rsyncdconf"
)

// TestConfParamsComplete: every rsyncd.conf(5) parameter is mapped,
// handled apart or refused; none falls through.
func TestConfParamsComplete(t *testing.T) {
	for _, n := range rsyncdconf.Names() {
		if _, ok := confParams[n]; !ok {
			t.Errorf("rsyncd.conf parameter %q has no entry in confParams", n)
		}
	}
	if got, want := len(confParams), len(rsyncdconf.Names()); got != want {
		t.Errorf("confParams has %d entries, rsyncd.conf(5) %d parameters", got, want)
	}
}

// confDir writes files ({{D}} = the dir) with a module dir m and a 0600
// secrets file, and returns the dir.
func confDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	files["secrets"] = "u:p\n"
	files["excl"] = "*.tmp\n"
	for name, body := range files {
		mode := os.FileMode(0o644)
		if name == "secrets" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.ReplaceAll(body, "{{D}}", dir)), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const seedLike = `# rsyncd.conf for the backup host
use chroot = yes
max connections = 4
timeout = 300
pid file = {{D}}/rsyncd.pid
log file = {{D}}/rsyncd.log

[backup]
	path = {{D}}/m/
	comment = nightly backups
	ignore errors = yes
	read only = false
	list = false
	hosts allow = 192.168.1.0/24 10.0.0.5
	hosts deny = *
	auth users = backup, admin:rw
	secrets file = {{D}}/secrets
`

// everyMapped uses every parameter that maps to a YAML key today.
const everyMapped = `port = 8873
address = 127.0.0.1
motd file = {{D}}/secrets
listen backlog = 50
write only = no
strict modes = yes
forward lookup = no
reverse lookup = no
[a]
	path = {{D}}/m
	comment = module a
	read only = no
	list = yes
	auth users = u
	secrets file = {{D}}/secrets
	auth digest = sha256
	hosts allow = 127.0.0.1
	hosts deny = 10.0.0.0/8
	max connections = 3
	timeout = 60
	refuse options = delete checksum
	dont compress = *.gz *.zst
	filter = - *.bak
	include = keep/
	exclude = *.tmp
	include from = {{D}}/excl
	exclude from = {{D}}/excl
	numeric ids = yes
	ignore errors = yes
	ignore nonreadable = no
	munge symlinks = no
	max verbosity = 2
	use chroot = no
	insecure links = no
	open noatime = unset
[b]
	path = {{D}}/m
	read only = yes
	numeric ids = unset
`

// strip drops what names the source file, to compare two loads.
func strip(i *Instance) *Instance {
	c := *i
	c.File, c.Name = "", ""
	return &c
}

// TestConfRoundTrip: an rsyncd.conf and the YAML import prints for it load
// as equal instances.
func TestConfRoundTrip(t *testing.T) {
	for name, conf := range map[string]string{"seed": seedLike, "every": everyMapped} {
		t.Run(name, func(t *testing.T) {
			dir := confDir(t, map[string]string{"rsyncd.conf": conf})
			path := filepath.Join(dir, "rsyncd.conf")
			fromConf, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ConvertConf(path, ConfOptions{})
			if err != nil || len(c.Problems) > 0 {
				t.Fatal(err, c.Problems)
			}
			yml := filepath.Join(dir, "imported.yaml")
			if err := os.WriteFile(yml, c.YAML, 0o644); err != nil {
				t.Fatal(err)
			}
			fromYAML, err := Load(yml)
			if err != nil {
				t.Fatalf("%v\n%s", err, c.YAML)
			}
			if !reflect.DeepEqual(strip(fromConf), strip(fromYAML)) {
				t.Errorf("conf and imported YAML differ:\n%+v\n%+v\n%s", fromConf, fromYAML, c.YAML)
			}
			if fromConf.Name != "rsyncd" || fromConf.File != path {
				t.Errorf("name %q file %q", fromConf.Name, fromConf.File)
			}
			// A drop-in keeps its log in rsyncd's words, and says so.
			if fromConf.LogFormat != "rsyncd" || !strings.Contains(string(c.YAML), "\nlog_format: rsyncd\n") {
				t.Errorf("log_format %q; imported YAML:\n%s", fromConf.LogFormat, c.YAML)
			}
		})
	}
}

// TestConfSemantics checks what the conversion means, module by module.
func TestConfSemantics(t *testing.T) {
	dir := confDir(t, map[string]string{"seed.conf": seedLike, "every.conf": everyMapped})
	seed, err := Load(filepath.Join(dir, "seed.conf"))
	if err != nil {
		t.Fatal(err)
	}
	m := seed.Modules[0]
	if seed.Listen[0] != ":873" || seed.PidFile != dir+"/rsyncd.pid" || seed.LogFile != dir+"/rsyncd.log" {
		t.Errorf("instance = %+v", seed)
	}
	// A global "max connections" is each module's limit, not the instance's.
	if seed.MaxConnections != 0 || seed.Timeout != 0 || m.MaxConnections != 4 || m.Timeout.Seconds() != 300 {
		t.Errorf("limits: instance %d %v, module %d %v", seed.MaxConnections, seed.Timeout, m.MaxConnections, m.Timeout)
	}
	if m.Path != dir+"/m" || m.ReadOnly || m.List || !m.IgnoreErrors || !m.NumericIDs ||
		!reflect.DeepEqual(m.AuthUsers, []string{"backup, admin:rw"}) || !reflect.DeepEqual(m.HostsDeny, []string{"*"}) {
		t.Errorf("module = %+v", m)
	}
	every, err := Load(filepath.Join(dir, "every.conf"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := every.Modules[0], every.Modules[1]
	if every.Listen[0] != "127.0.0.1:8873" || every.Motd != dir+"/secrets" {
		t.Errorf("instance = %+v", every)
	}
	if a.ReadOnly || !b.ReadOnly || a.ForwardLookup || b.ReverseLookup || a.AuthDigest != "sha256" ||
		a.MaxVerbosity != 2 || b.MaxVerbosity != 1 || !a.NumericIDs || b.NumericIDs || a.MaxConnections != 3 {
		t.Errorf("modules = %+v\n%+v", a, b)
	}
}

func TestConfRefusals(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	const mod = "[m]\npath = {{D}}/m\n"
	// Only a daemon running as root acts as another module user.
	var otherUID []string
	if os.Geteuid() != 0 {
		otherUID = []string{
			`{{F}}:3: "uid" is not supported by rsyncd-go: rsyncd-go acts as a module's user only when it runs as root`,
			`{{F}}:4: "gid" is not supported by rsyncd-go: rsyncd-go acts as a module's user only when it runs as root`}
	}
	tests := []struct {
		name, conf string
		want       []string // {{F}} = the file
	}{
		{"fake name of a module", mod + "name = x\n", []string{`{{F}}:3: "name" is not supported by rsyncd-go: a module's name is its [section] header`}},
		{"global refused once", "charset = utf-8\n" + mod + "[n]\npath = {{D}}/m\n",
			[]string{`{{F}}:1: "charset" is not supported by rsyncd-go: file names are stored as the client sends them (no iconv)`}},
		{"uid of another user", mod + "uid = 4242\ngid = 4243\n", otherUID},
		{"temp dir inside the module", mod + "temp dir = /tmp\n", nil},
		{"temp dir in the module", mod + "temp dir = /\n", nil},
		{"connection-time variables", mod + "comment = %RSYNC_USER_NAME%\n", []string{`{{F}}:3: "comment" is not supported by rsyncd-go: values with connection-time variables`}},
		{"per-module log file", "log file = {{D}}/a.log\n" + mod + "log file = {{D}}/b.log\n", []string{`{{F}}:4: "log file" is not supported by rsyncd-go: one log per instance`}},
		{"insecure links", mod + "insecure links = yes\nopen noatime = yes\n", []string{
			`{{F}}:3: "insecure links" is not supported by rsyncd-go`}},
		{"misspelled", mod + "read_only = no\nhost allow = x\n", []string{
			`{{F}}:3: unknown parameter "read_only" (did you mean "read only"?)`,
			`{{F}}:4: unknown parameter "host allow" (did you mean "hosts allow"?)`}},
		{"validation on conf lines", mod + "\nhosts allow = 300.1.1.1/40\nmax verbosity = -1\n", []string{
			`{{F}}:4: module "m": hosts_allow`, `{{F}}:5: module "m": max_verbosity: must not be negative`}},
		{"own uid accepted", mod + "uid = " + me.Username + "\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := confDir(t, map[string]string{"r.conf": tt.conf})
			file := filepath.Join(dir, "r.conf")
			_, err := Load(file)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded")
			}
			var got []string
			for _, e := range flattenErr(err) {
				got = append(got, e.Error())
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				w = strings.ReplaceAll(w, "{{F}}", file)
				if i >= len(got) || !strings.HasPrefix(got[i], w) {
					t.Errorf("error %d: want prefix\n%s\ngot\n%s", i, w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

// TestConfOptions: the command line's overrides, as rsync applies them.
func TestConfOptions(t *testing.T) {
	conf := "port = 999\nread only = yes\n[a]\npath = {{D}}/m\n[b]\npath = {{D}}/m\nread only = yes\n"
	dir := confDir(t, map[string]string{"r.conf": conf})
	file := filepath.Join(dir, "r.conf")
	tests := []struct {
		o      ConfOptions
		listen string
		roA    bool
		roB    bool
		log    string
	}{
		{ConfOptions{}, ":999", true, true, ""},
		{ConfOptions{Port: 1234, Address: "::1"}, "[::1]:1234", true, true, ""},
		{ConfOptions{Family: "4"}, "0.0.0.0:999", true, true, ""},
		{ConfOptions{Family: "6", Port: 5}, "[::]:5", true, true, ""},
		// --dparam sets the global value: a module's own setting still wins.
		{ConfOptions{Dparams: []string{"read only=no", "logfile=" + dir + "/x.log"}}, ":999", false, true, dir + "/x.log"},
		{ConfOptions{LogFile: dir + "/y.log"}, ":999", true, true, dir + "/y.log"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			inst, err := LoadConf(file, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if inst.Listen[0] != tt.listen || inst.Modules[0].ReadOnly != tt.roA || inst.Modules[1].ReadOnly != tt.roB || inst.LogFile != tt.log {
				t.Errorf("listen %v ro %v %v log %q", inst.Listen, inst.Modules[0].ReadOnly, inst.Modules[1].ReadOnly, inst.LogFile)
			}
		})
	}
	_, err := LoadConf(file, ConfOptions{Dparams: []string{"bogus=1", "noequals"}})
	if err == nil || !strings.Contains(err.Error(), `--dparam: unknown parameter "bogus"`) || !strings.Contains(err.Error(), `"noequals": want NAME=VALUE`) {
		t.Errorf("bad dparams: %v", err)
	}
}

func TestFindConf(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.conf", "b.yaml", "b.conf"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := Find(dir, "a"); err != nil || p != filepath.Join(dir, "a.conf") {
		t.Errorf("Find a = %q, %v", p, err)
	}
	_, err := Find(dir, "b")
	if err == nil || !strings.Contains(err.Error(), "b.yaml and "+filepath.Join(dir, "b.conf")) {
		t.Errorf("Find b: %v", err)
	}
	for path, want := range map[string]bool{"x.conf": true, "rsyncd": true, "x.yaml": false, "x.YML": false} {
		if IsConf(path) != want {
			t.Errorf("IsConf(%q) = %v", path, !want)
		}
	}
}
