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

// Incremental recursion (CF_INC_RECURSE) is the stock client's default for
// recursive pushes: the daemon receives one file list per directory between
// the file data. These tests push trees of many directories and compare
// with stock rsyncd.

// deepTree makes fanout^depth leaf directories under dir, each with one
// file, every entry with a fixed time so that both daemons see the same
// tree; it returns how many directories it made.
func deepTree(t *testing.T, dir string, fanout, depth int) int {
	t.Helper()
	old := time.Date(2020, 3, 4, 5, 6, 7, 0, time.UTC)
	n := 0
	var walk func(p string, level int)
	walk = func(p string, level int) {
		must(t, os.MkdirAll(p, 0o755))
		n++
		if level == depth {
			f := filepath.Join(p, "f")
			must(t, os.WriteFile(f, []byte(p), 0o644))
			must(t, os.Chtimes(f, old, old))
		} else {
			for i := range fanout {
				walk(filepath.Join(p, fmt.Sprintf("d%02d", i)), level+1)
			}
		}
		must(t, os.Chtimes(p, old, old))
	}
	walk(dir, 0)
	return n
}

var (
	incDoneRE = regexp.MustCompile(`incremental file lists done.* lists=(\d+) entries=(\d+) max_held=(\d+)`)
	incSentRE = regexp.MustCompile(`incremental file lists sent.* lists=(\d+) entries=(\d+) max_held=(\d+)`)
)

// incFigures returns the figures of the daemon's last incremental push.
func incFigures(t *testing.T, d *daemon) (lists, entries, maxHeld int) {
	t.Helper()
	return incLogFigures(t, d, incDoneRE)
}

// incSentFigures returns the figures of the daemon's last incremental pull.
func incSentFigures(t *testing.T, d *daemon) (lists, entries, maxHeld int) {
	t.Helper()
	return incLogFigures(t, d, incSentRE)
}

// incLogFigures reads lists, entries and max_held from the last line of
// the daemon's log that re matches.
func incLogFigures(t *testing.T, d *daemon, re *regexp.Regexp) (lists, entries, maxHeld int) {
	t.Helper()
	m := re.FindAllStringSubmatch(d.Log(), -1)
	if len(m) == 0 {
		t.Fatalf("the daemon did not use incremental recursion:\n%.4000s", d.Log())
	}
	last := m[len(m)-1]
	lists, _ = strconv.Atoi(last[1])
	entries, _ = strconv.Atoi(last[2])
	maxHeld, _ = strconv.Atoi(last[3])
	return lists, entries, maxHeld
}

// TestIncRecursePushDeep pushes a tree of several thousand directories
// with --delete to rsyncd-go and to stock rsyncd: the itemized output, the
// trees (directory times included) and a second, changed push must agree.
func TestIncRecursePushDeep(t *testing.T) {
	stock := stockDaemon(t, "[backup]\npath = {{DATA}}\nread only = false\nauth users = rsync_backup\nsecrets file = {{SECRETS}}\n")
	ours := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "src")
	ndirs := deepTree(t, src, 13, 3) // 2380 directories
	args := []string{"-ai", "--delete", src + "/", "{{URL}}/"}
	push := func(round string) {
		t.Helper()
		want, got := twoRuns(t, stock, ours, args...)
		if want.Code != 0 {
			t.Fatalf("%s: stock push failed: %d %s", round, want.Code, want.Stderr)
		}
		sameLines(t, round, want.Stdout, got.Stdout)
		compareTrees(t, stock.Data, ours.Data, false)
		compareTrees(t, src, ours.Data, false)
	}
	push("first push")
	if lists, _, _ := incFigures(t, ours); lists < ndirs {
		t.Errorf("%d file lists for %d directories", lists, ndirs)
	}
	// Extraneous entries in both destinations, a removed subtree and a
	// changed file in the source.
	for _, d := range []string{stock.Data, ours.Data} {
		must(t, os.WriteFile(filepath.Join(d, "d03", "d07", "extra"), nil, 0o644))
		must(t, os.MkdirAll(filepath.Join(d, "d10", "gone", "deeper"), 0o755))
	}
	must(t, os.RemoveAll(filepath.Join(src, "d05", "d05")))
	f := filepath.Join(src, "d01", "d02", "d03", "f")
	must(t, os.WriteFile(f, []byte("changed"), 0o644))
	push("changed push")
	push("no-change push")
}

// TestIncRecurseHardLinks pushes hard links whose members sit in different
// directories, so they arrive in different file lists.
func TestIncRecurseHardLinks(t *testing.T) {
	ours := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "src")
	deepTree(t, src, 4, 2)
	lead := filepath.Join(src, "d00", "d00", "f")
	members := []string{"d01/d02/link", "d03/link", "link", "d03/d03/link"}
	for _, m := range members {
		must(t, os.Link(lead, filepath.Join(src, m)))
	}
	for round := range 2 {
		mustRsync(t, ours, "-aH", "--delete", src+"/", ours.URL("backup/"))
		compareTrees(t, src, ours.Data, false)
		var want syscall.Stat_t
		must(t, syscall.Stat(filepath.Join(ours.Data, "d00", "d00", "f"), &want))
		for _, m := range members {
			var st syscall.Stat_t
			must(t, syscall.Stat(filepath.Join(ours.Data, m), &st))
			if st.Ino != want.Ino {
				t.Errorf("round %d: %s is not linked to d00/d00/f", round, m)
			}
		}
		if want.Nlink != uint64(len(members)+1) {
			t.Errorf("round %d: %d links, want %d", round, want.Nlink, len(members)+1)
		}
	}
	incFigures(t, ours)
}

// TestIncRecurseMemory pushes many directories and checks that the daemon
// never held more than the sender's lookahead (rsync sends further lists
// while fewer than 10,000 entries are unfinished) plus a directory's list.
func TestIncRecurseMemory(t *testing.T) {
	ours := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "src")
	const dirs, per = 50, 250
	for i := range dirs {
		d := filepath.Join(src, fmt.Sprintf("dir%03d", i))
		must(t, os.MkdirAll(d, 0o755))
		for j := range per {
			must(t, os.WriteFile(filepath.Join(d, fmt.Sprintf("f%03d", j)), nil, 0o644))
		}
	}
	mustRsync(t, ours, "-a", src+"/", ours.URL("backup/"))
	compareTrees(t, src, ours.Data, false)
	lists, entries, held := incFigures(t, ours)
	total := dirs*per + dirs + 1
	if entries != total || lists != dirs+1 {
		t.Errorf("%d lists of %d entries, want %d of %d", lists, entries, dirs+1, total)
	}
	const bound = 10_000 + 2*per + dirs + 1
	if held > bound || held >= total {
		t.Errorf("the daemon held %d entries at once (bound %d, tree %d)", held, bound, total)
	}
	t.Logf("%d entries in %d lists, at most %d held", entries, lists, held)
}

// TestIncRecurseDeleteDelay checks --delete-delay and --dry-run, which
// change when deletions and directory times happen.
func TestIncRecurseDeleteDelay(t *testing.T) {
	stock := stockDaemon(t, "[backup]\npath = {{DATA}}\nread only = false\nauth users = rsync_backup\nsecrets file = {{SECRETS}}\n")
	ours := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "src")
	deepTree(t, src, 5, 2)
	for _, d := range []*daemon{stock, ours} {
		mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
		must(t, os.WriteFile(filepath.Join(d.Data, "d02", "extra"), nil, 0o644))
	}
	for _, args := range [][]string{
		{"-ai", "--delete-delay", "-n", src + "/", "{{URL}}/"},
		{"-ai", "--delete-delay", src + "/", "{{URL}}/"},
		{"-ai", "--delete-delay", src + "/", "{{URL}}/"},
	} {
		want, got := twoRuns(t, stock, ours, args...)
		sameLines(t, strings.Join(args[:3], " "), want.Stdout, got.Stdout)
	}
	compareTrees(t, stock.Data, ours.Data, false)
	compareTrees(t, src, ours.Data, false)
}
