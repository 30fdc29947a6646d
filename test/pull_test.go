package test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gokrazy/rsync/rsynccmd"
)

// pullModules adds a read-only and a write-only module on the same tree
// as the writable "backup" module.
const pullModules = `
modules:
  - name: backup
    path: {{DATA}}
    read_only: false
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
  - name: ro
    path: {{DATA}}
    read_only: true
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
  - name: wo
    path: {{DATA}}
    read_only: false
    write_only: true
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
`

const pullModulesStock = `
[backup]
path = {{DATA}}
read only = false
auth users = rsync_backup
secrets file = {{SECRETS}}
[ro]
path = {{DATA}}
read only = true
auth users = rsync_backup
secrets file = {{SECRETS}}
[wo]
path = {{DATA}}
read only = false
write only = true
auth users = rsync_backup
secrets file = {{SECRETS}}
`

// copyTree copies src into dst with the stock client (local mode), keeping
// everything compareTrees looks at.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	res := runCmd(t, rsyncTimeout, rsyncBin(t), "-aH", src+"/", dst+"/")
	if res.Code != 0 {
		t.Fatalf("local copy: exit %d: %s", res.Code, res.Stderr)
	}
	// A local rsync -aH may set a directory's time before a hard link
	// lands in it; the copy must be exact, so directory times are set
	// again from the source.
	must(t, filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		mt := mtimeOf(t, p)
		return os.Chtimes(filepath.Join(dst, rel), mt, mt)
	}))
}

const rsyncTimeout = 2 * time.Minute

func TestPullProtocols(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	makeTree(t, d.Data, 7)
	for _, proto := range []int{27, 28, 29, 30, 31, 32} {
		for _, z := range []string{"", "-z"} {
			t.Run(fmt.Sprintf("proto%d%s", proto, z), func(t *testing.T) {
				dst := filepath.Join(t.TempDir(), "dst")
				args := []string{"-a", fmt.Sprintf("--protocol=%d", proto)}
				if z != "" {
					args = append(args, z)
				}
				for _, mod := range []string{"backup/", "ro/"} {
					mustRsync(t, d, append(args, d.URL(mod), dst+"/")...)
					compareTrees(t, d.Data, dst, proto >= 31)
				}
			})
		}
	}
}

func TestPullDelta(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>9)
	}
	must(t, os.WriteFile(filepath.Join(d.Data, "big"), big, 0o644))
	dst := filepath.Join(t.TempDir(), "dst")
	mustRsync(t, d, "-a", d.URL("backup/"), dst+"/")
	compareTrees(t, d.Data, dst, true)
	for i, z := range []string{"", "-z"} {
		copy(big[4<<20+i*100000:], strings.Repeat("changed!", 512))
		must(t, os.WriteFile(filepath.Join(d.Data, "big"), big, 0o644))
		mt := time.Now().Add(time.Duration(i+1) * time.Hour)
		must(t, os.Chtimes(filepath.Join(d.Data, "big"), mt, mt))
		args := []string{"-a", "--no-whole-file", "--stats"}
		if z != "" {
			args = append(args, z)
		}
		res := mustRsync(t, d, append(args, d.URL("backup/"), dst+"/")...)
		compareTrees(t, d.Data, dst, true)
		m := literalRE.FindStringSubmatch(res.Stdout)
		if m == nil {
			t.Fatalf("no literal data in --stats output:\n%s", res.Stdout)
		}
		lit, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
		if lit > 64<<10 || lit == 0 {
			t.Errorf("%s: delta pull sent %d literal bytes for a 4 KiB change", z, lit)
		}
	}
}

// stockTwin starts stock rsyncd with the same modules on a copy of tree.
func stockTwin(t *testing.T, tree string) *daemon {
	t.Helper()
	s := stockDaemon(t, pullModulesStock)
	copyTree(t, tree, s.Data)
	return s
}

func TestPullListOnly(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	makeTree(t, d.Data, 11)
	s := stockTwin(t, d.Data)
	for _, args := range [][]string{
		{"URL:backup/"},
		{"-r", "URL:backup/"},
		{"URL:backup"},
		{"-r", "URL:backup"},
		{"URL:backup/dir0"},
		{"URL:backup/dir0/"},
		{"URL:backup/dir0/../dir0/./"},
		{"URL:backup/nope"},
		{"URL:backup/empty"},
		{"--protocol=29", "URL:backup/"},
		{"--protocol=27", "-r", "URL:backup/"},
	} {
		run := func(dd *daemon) result {
			var a []string
			for _, x := range args {
				if p, ok := strings.CutPrefix(x, "URL:"); ok {
					x = dd.URL(p)
				}
				a = append(a, x)
			}
			return rsync(t, dd, a...)
		}
		got, want := run(d), run(s)
		if got.Code != want.Code || got.Stdout != want.Stdout {
			t.Errorf("%v: exit %d, stdout:\n%s\nstderr:%s\nstock: exit %d, stdout:\n%s", args, got.Code, got.Stdout, got.Stderr, want.Code, want.Stdout)
		}
	}
}

func TestPullSubdirAndFile(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	makeTree(t, d.Data, 3)
	// A sub-directory's contents.
	dst := filepath.Join(t.TempDir(), "dst")
	mustRsync(t, d, "-a", d.URL("backup/dir0/"), dst+"/")
	compareTrees(t, filepath.Join(d.Data, "dir0"), dst, true)
	// The directory itself.
	dst2 := filepath.Join(t.TempDir(), "dst")
	mustRsync(t, d, "-a", d.URL("backup/dir0"), dst2+"/")
	compareTrees(t, filepath.Join(d.Data, "dir0"), filepath.Join(dst2, "dir0"), true)
	// A single file.
	dst3 := t.TempDir()
	mustRsync(t, d, "-a", d.URL("backup/empty"), d.URL("backup/link-rel"), dst3+"/")
	for _, n := range []string{"empty", "link-rel"} {
		a, b := snapshot(t, filepath.Join(d.Data, n))["."], snapshot(t, filepath.Join(dst3, n))["."]
		if a.mode != b.mode || a.target != b.target || string(a.data) != string(b.data) {
			t.Errorf("%s: got %v, want %v", n, b, a)
		}
	}
	var big string
	filepath.Walk(d.Data, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() > 100000 && big == "" {
			big = p
		}
		return nil
	})
	rel, _ := filepath.Rel(d.Data, big)
	mustRsync(t, d, "-a", d.URL("backup/"+rel), dst3+"/")
	want, _ := os.ReadFile(big)
	got, err := os.ReadFile(filepath.Join(dst3, filepath.Base(big)))
	if err != nil || string(got) != string(want) {
		t.Errorf("single file %s: %v, %d bytes of %d", rel, err, len(got), len(want))
	}
}

func TestPullRefusals(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	makeTree(t, d.Data, 5)
	s := stockTwin(t, d.Data)
	for _, c := range []struct {
		name string
		path string
		msg  string
		code int
	}{
		{"write only", "wo/", "ERROR: module is write only", 1},
		{"missing path", "backup/nope", `rsync: [sender] link_stat "nope" (in backup) failed: No such file or directory (2)`, 23},
		{"missing nested", "backup/dir0/nope", `rsync: [sender] link_stat "/dir0/nope" (in backup) failed: No such file or directory (2)`, 23},
	} {
		for _, dd := range []*daemon{s, d} {
			dst := t.TempDir()
			res := rsync(t, dd, "-a", dd.URL(c.path), dst+"/")
			who := "rsyncd-go"
			if dd == s {
				who = "stock"
			}
			if res.Code != c.code || !strings.Contains(res.Stderr, c.msg) {
				t.Errorf("%s (%s): exit %d, stderr:\n%s\nwant exit %d and %q", c.name, who, res.Code, res.Stderr, c.code, c.msg)
			}
		}
	}
	// A missing path next to a present one: the rest still arrives.
	dst := t.TempDir()
	res := rsync(t, d, "-a", d.URL("backup/nope"), d.URL("backup/empty"), dst+"/")
	if res.Code != 23 {
		t.Errorf("missing + present: exit %d, want 23\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(filepath.Join(dst, "empty")); err != nil {
		t.Errorf("the present file did not arrive: %v", err)
	}
}

func TestPullSymlinkOutside(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	outside := filepath.Join(t.TempDir(), "secret")
	must(t, os.WriteFile(outside, []byte("not for clients\n"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(d.Data, "escape")))
	must(t, os.Symlink("../../../../../../../../"+outside, filepath.Join(d.Data, "escape-rel")))
	for _, args := range [][]string{{"-a"}, {"-r"}} {
		dst := t.TempDir()
		res := rsync(t, d, append(args, d.URL("backup/"), dst+"/")...)
		for _, n := range []string{"escape", "escape-rel"} {
			p := filepath.Join(dst, n)
			fi, err := os.Lstat(p)
			if args[0] == "-r" {
				// Without -l, symlinks are skipped, never followed.
				if err == nil {
					t.Errorf("-r: %s arrived as %v", n, fi.Mode())
				}
				continue
			}
			if err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("%v: %s: %v (exit %d: %s)", args, n, err, res.Code, res.Stderr)
			}
			want, _ := os.Readlink(filepath.Join(d.Data, n))
			if got, _ := os.Readlink(p); got != want {
				t.Errorf("%s -> %q, want %q", n, got, want)
			}
		}
		if res.Code != 0 {
			t.Errorf("%v: exit %d: %s", args, res.Code, res.Stderr)
		}
	}
	// Asking for the link by name sends the link, not its target.
	dst := t.TempDir()
	res := mustRsync(t, d, "-a", d.URL("backup/escape"), dst+"/")
	if b, err := os.ReadFile(filepath.Join(dst, "escape")); err == nil && string(b) == "not for clients\n" {
		if fi, _ := os.Lstat(filepath.Join(dst, "escape")); fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the target's data was sent: %s", res.Stderr)
		}
	}
	// Asking for the link's contents ("escape/") must not leave the module.
	res = rsync(t, d, "-a", d.URL("backup/escape/"), dst+"/x/")
	if _, err := os.Stat(filepath.Join(dst, "x", "secret")); err == nil {
		t.Errorf("a pull through a symlink left the module")
	}
}

// TestPullMatchesStock pulls the same tree from rsyncd-go and from stock
// rsyncd with the same options: the client's itemized output, exit code
// and resulting tree must agree.
func TestPullMatchesStock(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	makeTree(t, d.Data, 21)
	must(t, os.Link(filepath.Join(d.Data, "empty"), filepath.Join(d.Data, "hardlink")))
	must(t, os.WriteFile(filepath.Join(d.Data, ".rsync-filter"), []byte("- file2*\n- /dir0/*5.dat\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(d.Data, "dir0", ".rsync-filter"), []byte("- file0*\n"), 0o644))
	for _, p := range []string{".", "dir0"} {
		old := time.Unix(1650000000, 0)
		must(t, os.Chtimes(filepath.Join(d.Data, p), old, old))
	}
	s := stockTwin(t, d.Data)
	for _, args := range [][]string{
		{"-a", "-i"},
		{"-a", "-i", "--protocol=29"},
		{"-a", "-i", "--protocol=27"},
		{"-a", "-i", "-c"},
		{"-a", "-i", "-H", "--no-inc-recursive"},
		{"-a", "-i", "-H", "--protocol=29"},
		{"-a", "-i", "-z", "--compress-choice=zstd"},
		{"-a", "-i", "-z", "--compress-choice=lz4"},
		{"-a", "-i", "-z", "--compress-choice=zlibx"},
		{"-a", "-i", "--checksum-choice=xxh128"},
		{"-a", "-i", "--checksum-choice=md4"},
		{"-a", "-i", "--exclude=*.dat", "--include=dir0/"},
		{"-a", "-i", "--exclude=dir0/", "--delete"},
		{"-a", "-i", "-n"},
		{"-a", "-i", "-F"},
		{"-a", "-i", "-FF", "--protocol=29"},
		{"-a", "-i", "--filter=dir-merge,- .rsync-filter", "--delete"},
		{"-r", "-i"},
		{"-rlt", "-i", "--inplace"},
		{"-a", "-i", "-W"},
		{"-a", "-i", "-L"},
		{"-a", "-i", "--copy-unsafe-links"},
		{"-a", "-i", "-v", "--stats"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var outs [2]result
			var dsts [2]string
			for i, dd := range []*daemon{d, s} {
				dsts[i] = filepath.Join(t.TempDir(), "dst")
				// A stale destination so that deletion and deltas happen.
				copyTree(t, filepath.Join(d.Data, "dir2"), dsts[i])
				must(t, os.WriteFile(filepath.Join(dsts[i], "stale"), []byte("x"), 0o644))
				old := time.Unix(1600000000, 0)
				must(t, os.Chtimes(filepath.Join(dsts[i], "stale"), old, old))
				must(t, os.Chtimes(dsts[i], old, old))
				outs[i] = rsync(t, dd, append(args, dd.URL("backup/"), dsts[i]+"/")...)
			}
			got, want := outs[0], outs[1]
			if got.Code != want.Code {
				t.Fatalf("exit %d, stock %d\nstderr:%s\nstock stderr:%s", got.Code, want.Code, got.Stderr, want.Stderr)
			}
			if filterStats(got.Stdout) != filterStats(want.Stdout) {
				t.Errorf("stdout:\n%s\nstock:\n%s", got.Stdout, want.Stdout)
			}
			if args[0] == "-a" {
				compareTrees(t, dsts[1], dsts[0], true)
			}
		})
	}
}

// filterStats drops the lines of -v/--stats output that legitimately
// differ between two servers (byte counts of the wire, speeds, times).
func filterStats(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, "sent "), strings.HasPrefix(l, "total size"),
			strings.HasPrefix(l, "receiving "), // stock uses incremental recursion
			strings.HasPrefix(l, "Total bytes"), strings.HasPrefix(l, "File list generation time"),
			strings.HasPrefix(l, "File list transfer time"), strings.HasPrefix(l, "File list size"),
			strings.HasPrefix(l, "Literal data"), strings.HasPrefix(l, "Matched data"):
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// TestPullDaemonExclude checks that a module's exclude rules hide files
// from every kind of pull, whichever directory the client starts from.
func TestPullDaemonExclude(t *testing.T) {
	mods := `
modules:
  - name: backup
    path: {{DATA}}
    read_only: true
    auth_users: [rsync_backup]
    secrets_file: {{SECRETS}}
    exclude: ["secret/", "/dir0/hidden", "*.key"]
`
	d := startDaemon(t, "", mods)
	for _, p := range []string{"secret/a", "dir0/hidden/b", "dir0/c.key", "dir0/ok", "ok"} {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(d.Data, p)), 0o755))
		must(t, os.WriteFile(filepath.Join(d.Data, p), []byte("data of "+p), 0o644))
	}
	for _, src := range []string{"", "dir0/", "dir0", "secret/", "secret", "secret/a", "dir0/hidden/", "dir0/hidden/b", "dir0/c.key"} {
		dst := t.TempDir()
		res := rsync(t, d, "-a", d.URL("backup/"+src), dst+"/")
		filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			b := filepath.Base(p)
			if b == "secret" || b == "hidden" || b == "a" || b == "b" || strings.HasSuffix(b, ".key") {
				t.Errorf("pull of %q leaked %s (exit %d)", src, p, res.Code)
			}
			return nil
		})
		if src == "" {
			if _, err := os.Stat(filepath.Join(dst, "dir0", "ok")); err != nil || res.Code != 0 {
				t.Errorf("module pull: %v, exit %d: %s", err, res.Code, res.Stderr)
			}
		}
	}
}

// TestPullRelative compares --relative pulls (implied directories, "/./"
// cut points) with stock rsyncd's.
func TestPullRelative(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	for _, p := range []string{"a/b/c/f1", "a/b/d/f2", "a/x", "a/b/d/e/f3", "top"} {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(d.Data, p)), 0o755))
		must(t, os.WriteFile(filepath.Join(d.Data, p), []byte("data of "+p), 0o644))
	}
	old := time.Unix(1650000000, 0)
	for _, p := range []string{"a/b/c", "a/b/d/e", "a/b/d", "a/b", "a", "."} {
		must(t, os.Chtimes(filepath.Join(d.Data, p), old, old))
	}
	s := stockTwin(t, d.Data)
	for _, c := range [][]string{
		{"-aR", "-i", "P:a/b/c"},
		{"-aR", "-i", "P:a/b/d/"},
		{"-aR", "-i", "P:a/./b/c"},
		{"-aR", "-i", "P:./a/x"},
		{"-aR", "-i", "P:a/b/c", "P:a/b/d", "P:a/x", "P:top"},
		{"-aR", "-i", "--no-implied-dirs", "P:a/b/c", "P:a/x"},
		{"-aR", "-i", "--protocol=29", "P:a/b/c", "P:a/x"},
		{"-aR", "-i", "--protocol=29", "--no-implied-dirs", "P:a/b/d/e"},
		{"-R", "P:a/b/c/", "P:a/b/d/e"},
		{"-aR", "-i", "P:a/b/nope", "P:a/x"},
	} {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			var outs [2]result
			var dsts [2]string
			for i, dd := range []*daemon{d, s} {
				dsts[i] = filepath.Join(t.TempDir(), "dst")
				var args []string
				for _, a := range c {
					if p, ok := strings.CutPrefix(a, "P:"); ok {
						a = dd.URL("backup/" + p)
					}
					args = append(args, a)
				}
				outs[i] = rsync(t, dd, append(args, dsts[i]+"/")...)
				outs[i].Stdout = strings.ReplaceAll(outs[i].Stdout, dsts[i], "DST")
			}
			got, want := outs[0], outs[1]
			if got.Code != want.Code || got.Stdout != want.Stdout {
				t.Errorf("exit %d, stdout:\n%s\nstderr:%s\nstock: exit %d, stdout:\n%s\nstderr:%s", got.Code, got.Stdout, got.Stderr, want.Code, want.Stdout, want.Stderr)
			}
			// Without implied dirs the client makes parents with the
			// current time.
			if c[0] == "-aR" && c[2] != "--no-implied-dirs" {
				compareTrees(t, dsts[1], dsts[0], true)
			}
		})
	}
}

// TestGokrazyClientPull pulls with gokrazy/rsync's pure-Go client, an
// independent protocol-27 receiver.
func TestGokrazyClientPull(t *testing.T) {
	captureStdLog(t)
	d := startDaemon(t, "", `
modules:
  - name: open
    path: {{DATA}}
    read_only: true
`)
	makeTree(t, d.Data, 9)
	dst := filepath.Join(t.TempDir(), "dst")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := rsynccmd.Command("rsync", "-a", "rsync://"+d.Addr+"/open/", dst+"/")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if _, err := cmd.Run(ctx); err != nil {
		t.Fatalf("gokrazy rsync pull: %v\nstdout:%s\nstderr:%s", err, stdout.String(), stderr.String())
	}
	// That client leaves directory times alone; everything else must match.
	a, b := snapshot(t, d.Data), snapshot(t, dst)
	if len(a) != len(b) {
		t.Errorf("%d entries pulled, want %d", len(b), len(a))
	}
	for p, ea := range a {
		eb, ok := b[p]
		switch {
		case !ok:
			t.Errorf("missing: %s", p)
		case ea.mode != eb.mode || ea.target != eb.target || !bytes.Equal(ea.data, eb.data):
			t.Errorf("%s: got %v %q %d bytes, want %v %q %d bytes", p, eb.mode, eb.target, len(eb.data), ea.mode, ea.target, len(ea.data))
		case ea.mode.IsRegular() && !ea.mtime.Truncate(time.Second).Equal(eb.mtime.Truncate(time.Second)):
			t.Errorf("%s: mtime %v, want %v", p, eb.mtime, ea.mtime)
		}
	}
}

// TestPullNoChange re-pulls an unchanged tree: nothing may be itemized,
// also with --checksum, whose sums must equal the client's own.
func TestPullNoChange(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	makeTree(t, d.Data, 13)
	dst := filepath.Join(t.TempDir(), "dst")
	mustRsync(t, d, "-a", d.URL("backup/"), dst+"/")
	for _, args := range [][]string{
		{"-a", "-i"},
		{"-a", "-i", "-c"},
		{"-a", "-i", "-c", "--protocol=29"},
		{"-a", "-i", "-c", "--protocol=27"},
		{"-a", "-i", "-c", "--checksum-choice=md5"},
		{"-a", "-i", "-c", "--checksum-choice=xxh3"},
		{"-a", "-i", "-c", "--protocol=30", "--checksum-choice=md4"},
	} {
		res := mustRsync(t, d, append(args, d.URL("backup/"), dst+"/")...)
		if res.Stdout != "" {
			t.Errorf("%v: a no-change pull itemized:\n%s", args, res.Stdout)
		}
	}
	// A file changed without a size or time change is found by -c only.
	var victim string
	filepath.Walk(d.Data, func(q string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() > 100 && victim == "" {
			victim = q
		}
		return nil
	})
	st, err := os.Stat(victim)
	must(t, err)
	b, err := os.ReadFile(victim)
	must(t, err)
	b[50] ^= 0xff
	must(t, os.Chmod(victim, 0o644))
	must(t, os.WriteFile(victim, b, 0o644))
	must(t, os.Chmod(victim, st.Mode().Perm()))
	must(t, os.Chtimes(victim, st.ModTime(), st.ModTime()))
	res := mustRsync(t, d, "-a", "-i", "-c", d.URL("backup/"), dst+"/")
	rel, _ := filepath.Rel(d.Data, victim)
	if !strings.Contains(res.Stdout, ">fc") || !strings.Contains(res.Stdout, rel) {
		t.Errorf("-c missed the changed %s:\n%s", rel, res.Stdout)
	}
	compareTrees(t, d.Data, dst, true)
}

// TestPullInplace updates a file in place on the client after bytes were
// inserted and removed at its start: the sender must not refer to blocks
// the client has already overwritten.
func TestPullInplace(t *testing.T) {
	d := startDaemon(t, "", pullModules)
	// Random contents: with a patterned file, a weak-sum collision plus a
	// short first-pass strong sum can make a false match, which rsync
	// (stock too) repairs in its redo pass, and which this test would
	// mistake for a reference to an overwritten block.
	big := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(big); i += 8 {
		binary.LittleEndian.PutUint64(big[i:], rng.Uint64())
	}
	src := filepath.Join(d.Data, "big")
	must(t, os.WriteFile(src, big, 0o644))
	dst := filepath.Join(t.TempDir(), "dst")
	mustRsync(t, d, "-a", d.URL("backup/"), dst+"/")
	for i, next := range [][]byte{
		append([]byte(strings.Repeat("inserted", 1000)), big...),
		append(append(append([]byte(nil), big[:1<<20]...), bytes.Repeat([]byte("moved on"), 1<<18)...), big[1<<20:]...),
		big[12345:],
		append(append([]byte(nil), big[:1<<20]...), big[2<<20:]...),
	} {
		must(t, os.WriteFile(src, next, 0o644))
		mt := time.Now().Add(time.Duration(i+1) * time.Hour)
		must(t, os.Chtimes(src, mt, mt))
		for _, proto := range []string{"--protocol=28", "--protocol=32"} {
			res := mustRsync(t, d, "-a", "-v", "--inplace", "--no-whole-file", "--stats", proto, d.URL("backup/"), dst+"/")
			compareTrees(t, d.Data, dst, proto == "--protocol=32")
			// A reference to an overwritten block shows as a failed
			// checksum and a second pass.
			if strings.Contains(res.Stdout+res.Stderr, "failed verification") {
				t.Errorf("round %d %s: %s%s", i, proto, res.Stdout, res.Stderr)
			}
			if m := literalRE.FindStringSubmatch(res.Stdout); m == nil {
				t.Errorf("no stats:\n%s", res.Stdout)
			}
			// Make the other protocol's run transfer too.
			must(t, os.WriteFile(filepath.Join(dst, "big"), big, 0o644))
		}
	}
}
