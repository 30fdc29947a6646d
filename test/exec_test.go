package test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// hookScripts writes a pre-xfer and a post-xfer script into a fresh dir;
// each saves its RSYNC_* environment to <dir>/<module>.pre (.post). The
// pre script fails with output when FAIL is set.
func hookScripts(t *testing.T) (dir, pre, post string) {
	t.Helper()
	dir = t.TempDir()
	pre = filepath.Join(dir, "pre.sh")
	post = filepath.Join(dir, "post.sh")
	must(t, os.WriteFile(pre, []byte(`#!/bin/sh
env | grep '^RSYNC_' | sort > "`+dir+`/$RSYNC_MODULE_NAME.pre"
if [ -n "$FAIL" ]; then
	echo "script says no"
	printf 'line2\r\n'
	exit 1
fi
echo "not shown"
`), 0o755))
	must(t, os.WriteFile(post, []byte(`#!/bin/sh
env | grep '^RSYNC_' | sort > "`+dir+`/$RSYNC_MODULE_NAME.post.tmp"
mv "`+dir+`/$RSYNC_MODULE_NAME.post.tmp" "`+dir+`/$RSYNC_MODULE_NAME.post"
`), 0o755))
	return dir, pre, post
}

// readEnv reads a saved environment, waiting up to 10s for it to appear
// (post-xfer exec runs after the client is gone).
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			env := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				k, v, _ := strings.Cut(l, "=")
				env[k] = v
			}
			return env
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared: %v", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestXferExec runs pre-xfer and post-xfer exec hooks in rsyncd-go and in
// stock rsyncd configured alike: same RSYNC_* environment, same refusal
// text and exit code when the pre-xfer command fails.
func TestXferExec(t *testing.T) {
	oursDir, oursPre, oursPost := hookScripts(t)
	stockDir, stockPre, stockPost := hookScripts(t)
	ours := startDaemon(t, "", `
modules:
  - name: backup
    path: {{DATA}}
    read_only: false
    reverse_lookup: false
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
    pre_xfer_exec: `+oursPre+`
    post_xfer_exec: `+oursPost+`
  - name: fail
    path: {{DATA}}
    read_only: false
    reverse_lookup: false
    pre_xfer_exec: FAIL=1 `+oursPre+`
    post_xfer_exec: `+oursPost+`
`)
	stock := stockDaemon(t, `reverse lookup = no
[backup]
path = {{DATA}}
read only = false
auth users = rsync_backup
secrets file = {{SECRETS}}
pre-xfer exec = `+stockPre+`
post-xfer exec = `+stockPost+`
[fail]
path = {{DATA}}
read only = false
pre-xfer exec = FAIL=1 `+stockPre+`
post-xfer exec = `+stockPost+`
`)
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a"), []byte("data\n"), 0o644))

	type outcome struct {
		res       result
		pre, post map[string]string
	}
	run := func(d *daemon, dir string) (ok, fail outcome) {
		must(t, os.MkdirAll(filepath.Join(d.Data, "sub"), 0o777))
		ok.res = rsync(t, d, "-a", src+"/", d.URL("backup/sub/"))
		ok.pre = readEnv(t, filepath.Join(dir, "backup.pre"))
		ok.post = readEnv(t, filepath.Join(dir, "backup.post"))
		fail.res = rsync(t, nil, "-a", src+"/", "rsync://"+d.Addr+"/fail/sub/")
		fail.pre = readEnv(t, filepath.Join(dir, "fail.pre"))
		fail.post = readEnv(t, filepath.Join(dir, "fail.post"))
		return ok, fail
	}
	oursOK, oursFail := run(ours, oursDir)
	stockOK, stockFail := run(stock, stockDir)

	if oursOK.res.Code != 0 {
		t.Fatalf("push with a passing pre-xfer exec: exit %d\n%s", oursOK.res.Code, oursOK.res.Stderr)
	}
	if strings.Contains(oursOK.res.Stdout+oursOK.res.Stderr, "not shown") {
		t.Errorf("the output of a passing pre-xfer exec reached the client")
	}
	wantPre := map[string]string{
		"RSYNC_MODULE_NAME": "backup",
		"RSYNC_MODULE_PATH": ours.Data,
		"RSYNC_HOST_ADDR":   "127.0.0.1",
		"RSYNC_HOST_NAME":   "UNDETERMINED",
		"RSYNC_USER_NAME":   testUser,
		"RSYNC_REQUEST":     "backup/sub/",
		"RSYNC_ARG0":        "rsyncd",
		"RSYNC_ARG1":        "--server",
		"RSYNC_ARG3":        ".",
		"RSYNC_ARG4":        "sub/",
	}
	for k, v := range wantPre {
		if oursOK.pre[k] != v {
			t.Errorf("pre-xfer %s = %q, want %q", k, oursOK.pre[k], v)
		}
	}
	if oursOK.pre["RSYNC_PID"] == "" || oursOK.pre["RSYNC_PID"] != oursOK.post["RSYNC_PID"] {
		t.Errorf("RSYNC_PID: pre %q, post %q; want one non-empty value", oursOK.pre["RSYNC_PID"], oursOK.post["RSYNC_PID"])
	}
	for k, v := range map[string]string{"RSYNC_EXIT_STATUS": "0", "RSYNC_RAW_STATUS": "0", "RSYNC_USER_NAME": testUser} {
		if oursOK.post[k] != v {
			t.Errorf("post-xfer %s = %q, want %q", k, oursOK.post[k], v)
		}
	}
	if _, ok := oursOK.post["RSYNC_REQUEST"]; ok {
		t.Errorf("post-xfer exec sees RSYNC_REQUEST")
	}

	const refusal = "pre-xfer exec returned failure (256):\nscript says no\nline2\n"
	for _, o := range []struct {
		who string
		out outcome
	}{{"rsyncd-go", oursFail}, {"stock rsyncd", stockFail}} {
		if o.out.res.Code != 4 {
			t.Errorf("%s: a failing pre-xfer exec gives exit %d, want 4\n%s", o.who, o.out.res.Code, o.out.res.Stderr)
		}
		if !strings.Contains(o.out.res.Stderr, refusal) {
			t.Errorf("%s: client output lacks %q:\n%s", o.who, refusal, o.out.res.Stderr)
		}
		if o.out.post["RSYNC_EXIT_STATUS"] != "4" || o.out.post["RSYNC_RAW_STATUS"] != "1024" {
			t.Errorf("%s: post-xfer after a refused transfer sees exit %q raw %q, want 4 and 1024",
				o.who, o.out.post["RSYNC_EXIT_STATUS"], o.out.post["RSYNC_RAW_STATUS"])
		}
	}

	// The same variables with the same values, but for what differs by
	// nature (the module path, the process number).
	same := func(what string, a, b map[string]string) {
		var diffs []string
		for _, k := range union(a, b) {
			if k == "RSYNC_MODULE_PATH" || k == "RSYNC_PID" {
				continue
			}
			if a[k] != b[k] {
				diffs = append(diffs, k+": ours "+a[k]+", stock "+b[k])
			}
		}
		if len(diffs) > 0 {
			t.Errorf("%s environment differs from stock rsyncd's:\n  %s", what, strings.Join(diffs, "\n  "))
		}
	}
	same("pre-xfer", oursOK.pre, stockOK.pre)
	same("post-xfer", oursOK.post, stockOK.post)
	same("refused pre-xfer", oursFail.pre, stockFail.pre)
	same("post-xfer after refusal", oursFail.post, stockFail.post)
}

func union(a, b map[string]string) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
