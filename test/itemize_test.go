package test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestItemizeMatchesStock pushes the same trees with -i to stock rsyncd and
// to rsyncd-go: the client's itemized lines (computed from the flags the
// daemon's generator sends) must be the same, for a first push, a changed
// tree and a no-change push.
func TestItemizeMatchesStock(t *testing.T) {
	ours := startDaemon(t, "", "")
	stock := stockDaemon(t, "[backup]\npath = {{DATA}}\nread only = false\nauth users = rsync_backup\nsecrets file = {{SECRETS}}\nmunge symlinks = no\n")
	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 21)
	for round, mutate := range []bool{false, true, false} {
		if mutate {
			mutateTree(t, src)
			must(t, os.WriteFile(filepath.Join(ours.Data, "extra"), nil, 0o644))
			must(t, os.WriteFile(filepath.Join(stock.Data, "extra"), nil, 0o644))
		}
		args := []string{"-ai", "--delete", src + "/"}
		got := lines(mustRsync(t, ours, append(args, ours.URL("backup/"))...).Stdout)
		want := lines(mustRsync(t, stock, append(args, stock.URL("backup/"))...).Stdout)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("round %d: itemized output differs\nours:\n%s\nstock:\n%s", round, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func lines(s string) []string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(l)
	return l
}
