package instances

import (
	"strings"
	"testing"
)

// TestLockFileAndMetrics: "lock_file" and "metrics_listen" load at the top
// level, and every misuse is reported on its line.
func TestLockFileAndMetrics(t *testing.T) {
	dir, write := fixture(t)
	p := write("ok.yaml", `listen: 127.0.0.1:873
lock_file: @DIR@/rsyncd.lock
metrics_listen: 127.0.0.1:9873
modules:
  - name: backup
    path: @DIR@/backup
`)
	inst, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if inst.LockFile != dir+"/rsyncd.lock" || inst.MetricsListen != "127.0.0.1:9873" {
		t.Errorf("LockFile %q MetricsListen %q", inst.LockFile, inst.MetricsListen)
	}

	type want struct {
		line int
		text string
	}
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{"lock file in a missing dir", "lock_file: @DIR@/nodir/lock\n", []want{{1, "lock_file: directory of"}}},
		{"lock file under a file", "lock_file: @DIR@/secrets/lock\n", []want{{1, "is not a directory"}}},
		{"lock file is a dir", "lock_file: @DIR@/other\n", []want{{1, "is not a regular file"}}},
		{"lock file in a module", "modules:\n  - name: m\n    path: @DIR@/backup\n    lock_file: @DIR@/l\n", []want{{4, "only allowed at the top level"}}},
		{"metrics address", "metrics_listen: example.com:80\n", []want{{1, `"example.com" is not an IP address`}}},
		{"metrics without port", "metrics_listen: 127.0.0.1\n", []want{{1, "want ADDRESS:PORT"}}},
		{"metrics on the listen address", "listen: 127.0.0.1:8730\nmetrics_listen: 127.0.0.1:8730\n", []want{{2, `overlaps listen address "127.0.0.1:8730"`}}},
		{"metrics under a wildcard listen", "listen: :873\nmetrics_listen: 127.0.0.1:873\n", []want{{2, "overlaps"}}},
		{"wildcard metrics", "listen: [\"[::1]:873\", \"127.0.0.1:874\"]\nmetrics_listen: 0.0.0.0:873\n", []want{{2, `"[::1]:873"`}}},
		{"metrics is a module key", "modules:\n  - name: m\n    path: @DIR@/backup\n    metrics_listen: 127.0.0.1:9\n", []want{{4, "only allowed at the top level"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := tt.yaml
			if !strings.Contains(y, "modules:") {
				y += "modules:\n  - name: m\n    path: @DIR@/backup\n"
			}
			p := write("bad.yaml", y)
			_, err := Load(p)
			if err == nil {
				t.Fatal("Load succeeded")
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

func TestListenOverlap(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:9873", "127.0.0.1:873", false},
		{"127.0.0.1:873", "127.0.0.1:873", true},
		{"127.0.0.1:873", "127.0.0.2:873", false},
		{"127.0.0.1:873", ":873", true},
		{"[::]:873", "[::1]:873", true},
		{"localhost:873", "127.0.0.1:873", true},
		{"[::ffff:127.0.0.1]:873", "127.0.0.1:873", true},
		{"127.0.0.1:0", "127.0.0.1:0", false},
	}
	for _, c := range cases {
		if got := listenOverlap(c.a, c.b); got != c.want {
			t.Errorf("listenOverlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
