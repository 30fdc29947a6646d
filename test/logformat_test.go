package test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// msgRE picks the message out of a text-handler slog line.
var msgRE = regexp.MustCompile(`\bmsg=("(?:[^"\\]|\\.)*"|\S+)`)

// rsyncdAttrRE picks the rsyncd attribute (the line in rsyncd's words,
// rsyncdlog.LineKey) out of a text-handler slog line.
var rsyncdAttrRE = regexp.MustCompile(`\brsyncd=("(?:[^"\\]|\\.)*"|\S+)`)

// stockPrefixRE is rsyncd's "log file" prefix: date, time, [pid].
var stockPrefixRE = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\d+\] `)

// transferLines are the transfer-log lines of a log: per-file lines and the
// "rsync to/on" session lines, sorted (the two daemons may interleave
// deletions and transfers differently).
func transferLines(log string, stock bool) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if stock {
			l = stockPrefixRE.ReplaceAllString(l, "")
		} else {
			m := rsyncdAttrRE.FindStringSubmatch(l)
			if m == nil {
				m = msgRE.FindStringSubmatch(l)
			}
			if m == nil {
				continue
			}
			l = m[1]
			if u, err := strconv.Unquote(l); err == nil {
				l = u
			}
		}
		for _, p := range []string{"recv", "send", "del.", "deleting ", "rsync to ", "rsync on "} {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestTransferLogFormat pushes and pulls the same tree through rsyncd-go
// and stock rsyncd with "transfer logging" on, and compares the lines of
// their transfer logs (timestamps and pids aside).
func TestTransferLogFormat(t *testing.T) {
	formats := []struct{ name, format string }{
		{"default", ""},
		{"escapes", "%o|%h|%a|%m|%u|%f|%n%L|%l|%'l|%''l|%B|%M|%U|%G|%P|%-12n|%12l|%%|%b|%c"},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			yamlFormat, confFormat := "", ""
			if f.format != "" {
				yamlFormat = "    transfer_log_format: \"" + f.format + "\"\n"
				confFormat = "log format = " + f.format + "\n"
			}
			ours := startDaemon(t, "", `
modules:
  - name: backup
    path: {{DATA}}
    read_only: false
    reverse_lookup: false
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
    transfer_logging: true
`+yamlFormat)
			// The module's own "log file": without it a module logs to syslog.
			stock := stockDaemon(t, `reverse lookup = no
[backup]
path = {{DATA}}
read only = false
munge symlinks = no
auth users = rsync_backup
secrets file = {{SECRETS}}
transfer logging = yes
log file = {{DATA}}/../log
`+confFormat)
			src := filepath.Join(t.TempDir(), "src")
			must(t, os.MkdirAll(filepath.Join(src, "dir"), 0o755))
			must(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("hello\n"), 0o644))
			must(t, os.WriteFile(filepath.Join(src, "dir", "big.bin"), make([]byte, 1234567), 0o600))
			must(t, os.Symlink("a.txt", filepath.Join(src, "ln")))

			var logs [2][]string
			for i, d := range []*daemon{ours, stock} {
				// Something for --delete to remove, in both.
				must(t, os.MkdirAll(filepath.Join(d.Data, "sub", "gone"), 0o755))
				must(t, os.WriteFile(filepath.Join(d.Data, "sub", "old.txt"), []byte("old"), 0o640))
				mustRsync(t, d, "-a", "--delete", src+"/", d.URL("backup/sub/"))
				mustRsync(t, d, "-a", d.URL("backup/sub/"), filepath.Join(t.TempDir(), "pulled")+"/")
				log := d.Log()
				if i == 1 {
					b, err := os.ReadFile(filepath.Join(filepath.Dir(d.Data), "log"))
					must(t, err)
					log = string(b)
				}
				// %P differs by nature: each daemon has its own module dir.
				logs[i] = transferLines(strings.ReplaceAll(log, d.Data, "MODULE_PATH"), i == 1)
			}
			if len(logs[1]) < 6 {
				t.Fatalf("stock rsyncd logged too few transfer lines (test is wrong):\n%s", strings.Join(logs[1], "\n"))
			}
			if strings.Join(logs[0], "\n") != strings.Join(logs[1], "\n") {
				t.Errorf("transfer log differs from stock rsyncd's\nrsyncd-go:\n  %s\nstock:\n  %s",
					strings.Join(logs[0], "\n  "), strings.Join(logs[1], "\n  "))
			}
		})
	}
}
