package rsyncdconf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"
)

// writeTree writes files (name -> content, "@D@" replaced by the dir) and
// returns the dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "@D@", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func noEnv(string) (string, bool) { return "", false }

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const seedConf = `# rsyncd.conf for the backup host
uid = nobody
gid = nogroup
use chroot = yes
max connections = 4
timeout = 300
pid file = /var/run/rsyncd.pid
lock file = /var/run/rsync.lock
log file = /var/log/rsyncd.log

[backup]
	path = /srv/backup/
	comment = nightly backups
	ignore errors = yes
	read only = false
	list = false
	hosts allow = 192.168.1.0/24 10.0.0.5
	hosts deny = *
	auth users = backup, admin:rw
	secrets file = /etc/rsyncd.secrets
`

func values(m map[string]Param) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v.Value
	}
	return out
}

func TestSeedConfig(t *testing.T) {
	dir := writeTree(t, map[string]string{"rsyncd.conf": seedConf})
	path := filepath.Join(dir, "rsyncd.conf")
	c, err := Parse(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	wantGlobal := map[string]string{
		"uid": "nobody", "gid": "nogroup", "use chroot": "yes", "max connections": "4",
		"timeout": "300", "pid file": "/var/run/rsyncd.pid", "lock file": "/var/run/rsync.lock",
		"log file": "/var/log/rsyncd.log",
	}
	if got := values(c.Globals()); !reflect.DeepEqual(got, wantGlobal) {
		t.Errorf("globals = %v, want %v", got, wantGlobal)
	}
	if len(c.Modules) != 1 || c.Modules[0].Name != "backup" || c.Modules[0].Line != 11 {
		t.Fatalf("modules = %+v", c.Modules)
	}
	m := c.Module("backup")
	if len(m.Params) != 9 || m.Params[0] != (Param{"path", "/srv/backup", path, 12}) {
		t.Errorf("backup params = %+v", m.Params)
	}
	eff := values(c.Effective("backup"))
	want := map[string]string{
		"uid": "nobody", "gid": "nogroup", "use chroot": "yes", "max connections": "4",
		"timeout": "300", "lock file": "/var/run/rsync.lock", "log file": "/var/log/rsyncd.log",
		"path": "/srv/backup", "comment": "nightly backups", "ignore errors": "yes",
		"read only": "false", "list": "false", "hosts allow": "192.168.1.0/24 10.0.0.5",
		"hosts deny": "*", "auth users": "backup, admin:rw", "secrets file": "/etc/rsyncd.secrets",
	}
	if !reflect.DeepEqual(eff, want) { // "pid file" is global-only: not inherited
		t.Errorf("effective = %v\nwant %v", eff, want)
	}
	if c.Effective("nope") != nil || c.Module("Backup") != nil {
		t.Error("lookup of absent module succeeded")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // main file is "main.conf"
		env   map[string]string
		want  map[string]map[string]string // module -> subset of Effective ("" key: Globals)
		mods  []string                     // expected module order (nil: not checked)
		errs  []string                     // substrings, one per expected error, in order
	}{
		{
			name:  "inheritance is a snapshot at first declaration",
			files: map[string]string{"main.conf": "comment = one\n[a]\npath=/a\n[global]\ncomment = two\nread only = no\nhosts deny = late\ntimeout = 5\n[b]\npath=/b\n[a]\nuid = x\n"},
			want: map[string]map[string]string{
				// strings still unset at [a] fall back to the final globals; others are copied at [a].
				"a": {"comment": "one", "path": "/a", "uid": "x", "read only": "", "hosts deny": "late", "timeout": ""},
				"b": {"comment": "two", "read only": "no"},
			},
			mods: []string{"a", "b"},
		},
		{
			name:  "duplicate sections merge, matched ignoring case and blanks",
			files: map[string]string{"main.conf": "[My Mod]\npath = /x\n[my  mod]\ncomment = c\n[mymod]\npath = /y\n"},
			want:  map[string]map[string]string{"My Mod": {"path": "/y", "comment": "c"}},
			mods:  []string{"My Mod"},
		},
		{
			name:  "names: case and whitespace insignificant, canonical kept",
			files: map[string]string{"main.conf": "[m]\nREAD ONLY = no\nreadonly = yes\n  Hosts   Allow   =   1.2.3.4   \nPost-Xfer Exec = /bin/true\n"},
			want:  map[string]map[string]string{"m": {"read only": "yes", "hosts allow": "1.2.3.4", "post-xfer exec": "/bin/true"}},
		},
		{
			name:  "comments, CRs, continuation lines, inline # is part of value",
			files: map[string]string{"main.conf": "# c1\n ; c2\n[m]\r\ncomment = a \\\n  b\\\nc\r\n\tpath = /p # not a comment\n\\ uid = u\n"},
			want:  map[string]map[string]string{"m": {"comment": "a   bc", "path": "/p # not a comment", "uid": "u"}},
		},
		{
			name:  "continued section header and name",
			files: map[string]string{"main.conf": "[ long \\\n name ]\nread \\\n only = no\n"},
			want:  map[string]map[string]string{"long name": {"read only": "no"}},
		},
		{
			name:  "%VAR% set and unset; RSYNC_ vars kept for connection time",
			files: map[string]string{"main.conf": "[m]\npath = /home/%USER%/%NOPE%/%RSYNC_USER_NAME%/%lower%\ntimeout = %T%\ncomment = 100%\n"},
			env:   map[string]string{"USER": "bob", "T": "30", "RSYNC_USER_NAME": "evil"},
			want:  map[string]map[string]string{"m": {"path": "/home/bob/%NOPE%/%RSYNC_USER_NAME%/%lower%", "timeout": "30", "comment": "100%"}},
		},
		{
			name: "&include file: own global context, undone afterwards",
			files: map[string]string{
				"main.conf":    "comment = base\n&include @D@/inc/one.conf\n[after]\n",
				"inc/one.conf": "comment = inner\nport = 99\n[one]\npath = /one\n",
			},
			want: map[string]map[string]string{
				"one":   {"comment": "inner", "path": "/one"},
				"after": {"comment": "base"},
				"":      {"comment": "base", "port": ""},
			},
			mods: []string{"one", "after"},
		},
		{
			name: "&include dir: *.conf sorted, each reset; &merge dir: *.inc, leaks",
			files: map[string]string{
				"main.conf": "&merge @D@/d\n&include = @D@/d\n[last]\n",
				"d/b.conf":  "[b]\n",
				"d/a.conf":  "read only = no\n[a]\n",
				"d/c.inc":   "comment = merged\n",
				"d/x.txt":   "garbage\n",
			},
			want: map[string]map[string]string{
				"a":    {"read only": "no", "comment": "merged"},
				"b":    {"read only": "", "comment": "merged"},
				"last": {"read only": "", "comment": "merged"},
			},
			mods: []string{"a", "b", "last"},
		},
		{
			name: "&merge file into current module; &include leaves global context",
			files: map[string]string{
				"main.conf":  "[m]\n&merge @D@/common.inc\n&include @D@/empty.conf\ncomment = now global\n[n]\n",
				"common.inc": "path = /m\nhosts deny = *\n",
				"empty.conf": "",
			},
			want: map[string]map[string]string{
				// m never set comment: rsync reads the final global value.
				"m": {"path": "/m", "hosts deny": "*", "comment": "now global"},
				"n": {"comment": "now global"},
			},
		},
		{
			name:  "booleans",
			files: map[string]string{"main.conf": "[m]\nlist = TRUE\nread only = 0\nwrite only = Yes\nuse chroot = unset\nignore errors = maybe\nnumeric ids = -1\n"},
			want:  map[string]map[string]string{"m": {"list": "TRUE", "read only": "0", "write only": "Yes", "use chroot": "unset", "numeric ids": "-1"}},
			errs:  []string{`main.conf:6: ignore errors: badly formed boolean "maybe"`},
		},
		{
			name:  "value may hold '='; unterminated header drops its lines",
			files: map[string]string{"main.conf": "[m]\ncomment = a = b\n[open\npath = /x\n[n]\n"},
			want:  map[string]map[string]string{"m": {"comment": "a = b", "path": ""}},
			mods:  []string{"m", "n"},
			errs:  []string{`main.conf:3: section header "open" has no closing ']'`},
		},
		{
			name:  "misspelled parameter",
			files: map[string]string{"main.conf": "[m]\npath = /x\nhost allow = 10.0.0.1\n"},
			errs:  []string{`main.conf:3: unknown parameter "host allow" (did you mean "hosts allow"?)`},
		},
		{
			name:  "underscores are significant in rsync",
			files: map[string]string{"main.conf": "read_only = no\n"},
			errs:  []string{`main.conf:1: unknown parameter "read_only" (did you mean "read only"?)`},
		},
		{
			name: "several errors at once, across files",
			files: map[string]string{
				"main.conf": "bogusparam = 1\n[m]\nport = 873\nno equals here\ntimeout = soon\n&include @D@/bad.conf\n&frobnicate x\n[a/b]\n[]\n&include @D@/missing\n",
				"bad.conf":  "[z]\npth = /z\n",
			},
			errs: []string{
				`main.conf:1: unknown parameter "bogusparam"`,
				`main.conf:3: global parameter "port" in module [m]`,
				`main.conf:4: badly formed line "no equals here"`,
				`main.conf:5: timeout: "soon" is not an integer`,
				`bad.conf:2: unknown parameter "pth" (did you mean "path"?)`,
				`main.conf:7: unknown directive "&frobnicate"`,
				`main.conf:8: invalid module name "a/b"`,
				`main.conf:9: empty section name`,
				`main.conf:10: &include: stat`,
			},
		},
		{
			name:  "include cycle detected",
			files: map[string]string{"main.conf": "&include @D@/a.conf\n", "a.conf": "&merge @D@/main.conf\n"},
			errs:  []string{`a.conf:1: ` + "" + `@D@/main.conf: include cycle`},
		},
		{
			name:  "unterminated header and NUL",
			files: map[string]string{"main.conf": "[m]\npath=/x\x00\n[late]\n", "x.conf": ""},
			mods:  []string{"m"},
			errs:  []string{`main.conf:2: NUL byte`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			c, err := Parse(filepath.Join(dir, "main.conf"), mapEnv(tt.env))
			var got []string
			if err != nil {
				var me *multierror.Error
				if !errors.As(err, &me) {
					t.Fatalf("error %T is not a multierror", err)
				}
				for _, e := range me.Errors {
					var pe *Error
					if !errors.As(e, &pe) {
						t.Errorf("error %v is not *Error", e)
					}
					got = append(got, e.Error())
				}
			}
			if len(got) != len(tt.errs) {
				t.Fatalf("errors = %q\nwant %q", got, tt.errs)
			}
			for i, w := range tt.errs {
				w = strings.ReplaceAll(w, "@D@", dir)
				if !strings.Contains(got[i], w) {
					t.Errorf("error %d = %q, want it to contain %q", i, got[i], w)
				}
			}
			if tt.mods != nil {
				var names []string
				for _, m := range c.Modules {
					names = append(names, m.Name)
				}
				if !reflect.DeepEqual(names, tt.mods) {
					t.Errorf("modules = %q, want %q", names, tt.mods)
				}
			}
			for mod, kv := range tt.want {
				eff := c.Globals()
				if mod != "" {
					eff = c.Effective(mod)
					if eff == nil {
						t.Errorf("module %q missing", mod)
						continue
					}
				}
				for k, v := range kv {
					if eff[k].Value != v {
						t.Errorf("[%s] %s = %q, want %q", mod, k, eff[k].Value, v)
					}
				}
			}
		})
	}
}

func TestParseBool(t *testing.T) {
	tests := []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"yes", true, false}, {"YES", true, false}, {"True", true, false}, {"1", true, false},
		{"no", false, false}, {"nO", false, false}, {"false", false, false}, {"0", false, false},
		{" y e s ", true, false}, {"on", false, true}, {"", false, true}, {"2", false, true}, {"unset", false, true},
	}
	for _, tt := range tests {
		got, err := ParseBool(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseBool(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestKnown(t *testing.T) {
	tests := []struct {
		in, canon  string
		global, ok bool
	}{
		{"Read Only", "read only", false, true},
		{"readonly", "read only", false, true},
		{"read_only", "", false, false},
		{"address", "address", true, true},
		{"bind address", "", false, false},
		{"PORT", "port", true, true},
		{"post-xfer exec", "post-xfer exec", false, true},
		{"proxy protocol", "proxy protocol", true, true},
		{"use chroot", "use chroot", false, true},
		{"-path", "", false, false},
	}
	for _, tt := range tests {
		c, g, ok := Known(tt.in)
		if c != tt.canon || g != tt.global || ok != tt.ok {
			t.Errorf("Known(%q) = %q %v %v", tt.in, c, g, ok)
		}
	}
	if len(defs) != 59 { // 11 globals + 48 locals in daemon-parm.txt
		t.Errorf("table has %d parameters", len(defs))
	}
}

func TestLimits(t *testing.T) {
	dir := writeTree(t, map[string]string{"big.conf": strings.Repeat("#", MaxFileSize+1)})
	_, err := Parse(filepath.Join(dir, "big.conf"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
	files := map[string]string{}
	for i := 0; i < 20; i++ {
		files[filepath.Join("n", string(rune('a'+i))+".conf")] = "&include @D@/n/" + string(rune('a'+i+1)) + ".conf\n"
	}
	files["n/u.conf"] = ""
	dir = writeTree(t, files)
	_, err = Parse(filepath.Join(dir, "n/a.conf"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep includes: %v", err)
	}
}
