package test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// ffTree is the small tree the --files-from and --remove-source-files
// tests move around.
func ffTree(t *testing.T, dir string) {
	t.Helper()
	for _, p := range []string{"a/b/f1", "a/b/f2", "a/x", "c/f3", "c/d/f4", "top", "lists/list"} {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, p), []byte("data of "+p), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(dir, "lists/list"), []byte("top\n#comment\n\nc/f3\na/b\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "lists/list0"), []byte("top\x00a/x\x00"), 0o644))
	must(t, os.Symlink("top", filepath.Join(dir, "lnk")))
	old := time.Unix(1650000000, 0)
	for _, p := range []string{"a/b/f1", "a/b/f2", "a/x", "c/f3", "c/d/f4", "top", "lists/list", "lists/list0",
		"a/b", "a", "c/d", "c", "lists", "."} {
		must(t, os.Chtimes(filepath.Join(dir, p), old, old))
	}
}

// pathSet lists the paths of a tree, for trees whose directory times
// legitimately differ (a removal touches them).
func pathSet(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	must(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	}))
	slices.Sort(out)
	return strings.Join(out, " ")
}

// ffArgs expands a test case's arguments for daemon dd: "P:path" is a
// module URL, "L:text" a local list file holding text.
func ffArgs(t *testing.T, dd *daemon, module string, c []string) []string {
	t.Helper()
	var args []string
	for _, a := range c {
		switch {
		case strings.HasPrefix(a, "P:"):
			a = dd.URL(module + "/" + a[2:])
		case strings.HasPrefix(a, "L:"):
			list := filepath.Join(t.TempDir(), "list")
			must(t, os.WriteFile(list, []byte(a[2:]), 0o644))
			a = "--files-from=" + list
		}
		args = append(args, a)
	}
	return args
}

// TestFilesFromPull compares --files-from pulls with stock rsyncd's: local
// lists (sent over the connection, raw before protocol 31), --from0,
// directories with and without -r, ".." and absolute names, and lists
// read from the module.
func TestFilesFromPull(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	ffTree(t, d.Data)
	s := stockTwin(t, d.Data)
	for _, c := range [][]string{
		{"-a", "-i", "L:top\na/b/f1\nc\n", "P:"},
		{"-a", "-i", "L:top\na/b/f1\nc\n", "--protocol=30", "P:"},
		{"-a", "-i", "L:top\na/b/f1\nc\n", "--protocol=29", "P:"},
		{"-a", "-i", "L:top\na/b/f1\nc\n", "--protocol=27", "P:"},
		{"-a", "-i", "--from0", "L:top\x00a/b/f1\x00c/\x00", "P:"},
		{"-a", "-i", "--from0", "L:top\x00a/x\x00", "--protocol=30", "P:"},
		{"-a", "-i", "L:c/\n", "P:"},
		{"-a", "-i", "-r", "L:c\n", "P:"},
		{"-a", "-i", "-r", "L:c\n", "--protocol=30", "P:"},
		{"-a", "-i", "L:f1\n", "P:nope/"},
		{"-a", "-i", "L:/a/b/f1\n/top\n", "P:"},
		{"-a", "-i", "L:../top\n", "P:"},
		{"-a", "-i", "L:a/../../c/f3\n", "P:"},
		{"-a", "-i", "L:./a/b/f1\na/./b/f2\n", "P:"},
		{"-a", "-i", "L:#x\ntop\nmissing\n", "P:"},
		{"-a", "-i", "--no-relative", "L:a/b/f1\ntop\n", "P:"},
		{"-a", "-i", "--files-from=:lists/list", "P:"},
		{"-a", "-i", "--files-from=:/lists/list", "--protocol=29", "P:"},
		{"-a", "-i", "--files-from=:lists/list0", "--from0", "--protocol=30", "P:"},
		{"-a", "-i", "--files-from=:../../lists/list", "P:"},
	} {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			var outs [2]result
			var dsts [2]string
			for i, dd := range []*daemon{d, s} {
				dsts[i] = filepath.Join(t.TempDir(), "dst")
				outs[i] = rsync(t, dd, append(ffArgs(t, dd, "backup", c), dsts[i]+"/")...)
				outs[i].Stdout = strings.ReplaceAll(outs[i].Stdout, dsts[i], "DST")
			}
			got, want := outs[0], outs[1]
			if got.Code != want.Code || got.Stdout != want.Stdout {
				t.Errorf("exit %d, stdout:\n%s\nstderr:%s\nstock: exit %d, stdout:\n%s\nstderr:%s", got.Code, got.Stdout, got.Stderr, want.Code, want.Stdout, want.Stderr)
			}
			if _, err := os.Stat(dsts[1]); err == nil {
				compareTrees(t, dsts[1], dsts[0], true)
			}
		})
	}
}

// pushModulesStock is pullModulesStock with symlinks stored as they are,
// as rsyncd-go stores them.
var pushModulesStock = strings.ReplaceAll(pullModulesStock, "secrets file = {{SECRETS}}\n", "secrets file = {{SECRETS}}\nmunge symlinks = no\n")

// TestFilesFromPullSubdir pulls a list relative to a module sub-directory.
// Stock rsyncd 3.5.0 lists such files but then fails to open them ("file
// has vanished", exit 24, it looks them up from the module's top); the
// names are documented to be relative to the source directory, which is
// what rsyncd-go does.
func TestFilesFromPullSubdir(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	ffTree(t, d.Data)
	dst := t.TempDir()
	res := mustRsync(t, d, append(ffArgs(t, d, "backup", []string{"-a", "L:f3\nd\n", "P:c/"}), dst+"/")...)
	if got := pathSet(t, dst); got != ". d f3" {
		t.Errorf("pulled %q (%s)", got, res.Stdout)
	}
}

// TestFilesFromPullRefused checks the refusals of a module-side list: one
// outside what the module serves is refused with rsyncd's message (stock
// then resets the connection, so its exit code is not compared).
func TestFilesFromPullRefused(t *testing.T) {
	d := startDaemon(t, "", `
modules:
  - name: backup
    path: {{DATA}}
    read_only: true
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
    exclude: ["/lists/"]
`)
	ffTree(t, d.Data)
	for _, c := range []struct{ list, want string }{
		{":lists/list", "Your options have been rejected by the server."},
		{":nope", "failed to open files-from file nope: No such file or directory"},
		{":a", "failed to open files-from file a: Is a directory"},
	} {
		dst := t.TempDir()
		res := rsync(t, d, "-a", "--files-from="+c.list, d.URL("backup/"), dst+"/")
		if res.Code == 0 || !strings.Contains(res.Stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", c.list, res.Code, res.Stderr, c.want)
		}
		if entries, _ := os.ReadDir(dst); len(entries) != 0 {
			t.Errorf("%s: something was transferred", c.list)
		}
	}
}

// TestFilesFromPush compares pushes with --files-from: a local list (the
// client sends only -R) and a list in the module that the daemon forwards
// to the client (raw before protocol 31).
func TestFilesFromPush(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	s := stockDaemon(t, pushModulesStock)
	src := filepath.Join(t.TempDir(), "src")
	ffTree(t, src)
	for _, c := range [][]string{
		{"-a", "-i", "L:top\na/b/f1\nc\n"},
		{"-a", "-i", "-r", "L:c\n", "--protocol=29"},
		{"-a", "-i", "--files-from=:list"},
		{"-a", "-i", "--files-from=:list", "--protocol=30"},
		{"-a", "-i", "--files-from=:list", "--protocol=29"},
		{"-a", "-i", "--files-from=:list", "--protocol=27"},
		{"-a", "-i", "--files-from=:list0", "--from0", "--protocol=30"},
		{"-a", "-i", "--files-from=:nope"},
	} {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			var outs [2]result
			for i, dd := range []*daemon{d, s} {
				must(t, os.RemoveAll(dd.Data))
				must(t, os.MkdirAll(dd.Data, 0o755))
				must(t, os.WriteFile(filepath.Join(dd.Data, "list"), []byte("top\n#x\n\nc/f3\na/b\n"), 0o644))
				must(t, os.WriteFile(filepath.Join(dd.Data, "list0"), []byte("top\x00a/x\x00"), 0o644))
				for _, l := range []string{"list", "list0"} {
					must(t, os.Chtimes(filepath.Join(dd.Data, l), time.Unix(1650000000, 0), time.Unix(1650000000, 0)))
				}
				outs[i] = rsync(t, dd, append(ffArgs(t, dd, "backup", c), src+"/", dd.URL("backup/"))...)
				outs[i].Stderr = strings.ReplaceAll(outs[i].Stderr, src, "SRC")
			}
			got, want := outs[0], outs[1]
			if c[len(c)-1] == "--files-from=:nope" {
				// Stock resets the connection after its refusal (exit 10).
				if got.Code == 0 || !strings.Contains(got.Stderr, "failed to open files-from file nope") {
					t.Errorf("exit %d, stderr %s", got.Code, got.Stderr)
				}
				return
			}
			if got.Code != want.Code || got.Stdout != want.Stdout {
				t.Errorf("exit %d, stdout:\n%s\nstderr:%s\nstock: exit %d, stdout:\n%s\nstderr:%s", got.Code, got.Stdout, got.Stderr, want.Code, want.Stdout, want.Stderr)
			}
			compareTreesOpt(t, s.Data, d.Data, true, false)
		})
	}
}

// TestRemoveSourceFiles compares --remove-source-files (and the older
// --remove-sent-files) with stock rsyncd: on a push the daemon confirms
// each stored file so the client removes it; on a pull the daemon removes
// what the client confirmed, only in a writable module.
func TestRemoveSourceFiles(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	s := stockDaemon(t, pushModulesStock)
	for _, c := range [][]string{
		{"push", "-a", "-i", "--remove-source-files"},
		{"push", "-a", "-i", "--remove-source-files", "--protocol=29"},
		{"push", "-a", "-i", "--remove-sent-files"},
		{"push", "-a", "-i", "--remove-source-files", "L:top\nc/f3\na/b\n"},
		{"push", "-a", "-i", "--remove-source-files", "-n"},
		{"pull", "-a", "-i", "--remove-source-files"},
		{"pull", "-a", "-i", "--remove-source-files", "--protocol=29"},
		{"pull", "-a", "-i", "--remove-source-files", "--protocol=30", "L:top\nc/f3\na/b\n"},
		{"pull", "-a", "-i", "--remove-sent-files", "L:top\nlnk\n"},
		{"pull", "-a", "-i", "--remove-source-files", "--protocol=31", "RO"},
	} {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			push := c[0] == "push"
			module := "backup"
			if c[len(c)-1] == "RO" {
				module, c = "ro", c[:len(c)-1]
			}
			var outs [2]result
			var srcs, dsts [2]string
			for i, dd := range []*daemon{d, s} {
				must(t, os.RemoveAll(dd.Data))
				local := filepath.Join(t.TempDir(), "local")
				must(t, os.MkdirAll(local, 0o755))
				// The destination already holds an up-to-date copy of
				// c/f3: --remove-source-files removes it at the source,
				// --remove-sent-files does not.
				if push {
					ffTree(t, local)
					must(t, os.MkdirAll(dd.Data, 0o755))
					copyTree(t, filepath.Join(local, "c"), filepath.Join(dd.Data, "c"))
					srcs[i], dsts[i] = local, dd.Data
				} else {
					ffTree(t, dd.Data)
					copyTree(t, filepath.Join(dd.Data, "c"), filepath.Join(local, "c"))
					srcs[i], dsts[i] = dd.Data, local
				}
				args := ffArgs(t, dd, module, c[1:])
				if push {
					args = append(args, local+"/", dd.URL(module+"/"))
				} else {
					args = append(args, dd.URL(module+"/"), local+"/")
				}
				outs[i] = rsync(t, dd, args...)
			}
			got, want := outs[0], outs[1]
			if got.Code != want.Code || got.Stdout != want.Stdout {
				t.Errorf("exit %d, stdout:\n%s\nstderr:%s\nstock: exit %d, stdout:\n%s\nstderr:%s", got.Code, got.Stdout, got.Stderr, want.Code, want.Stdout, want.Stderr)
			}
			if a, b := pathSet(t, srcs[0]), pathSet(t, srcs[1]); a != b {
				t.Errorf("source after the run:\n  %s\nstock:\n  %s", a, b)
			}
			compareTreesOpt(t, dsts[1], dsts[0], true, false)
		})
	}
}
