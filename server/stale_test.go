package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

// makeTree creates files (relative path -> contents; a "->target" value is
// a symlink, a "/"-suffixed path a directory) under dir.
func makeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, v := range files {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(v, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			err = os.WriteFile(full, []byte(v), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// waitCtime sleeps past the coarse file time clock, so files made before
// and after the returned time differ in ctime.
func waitCtime() time.Time {
	time.Sleep(100 * time.Millisecond)
	now := time.Now()
	time.Sleep(100 * time.Millisecond)
	return now
}

func TestRemoveStaleTemps(t *testing.T) {
	base := t.TempDir()
	mod := filepath.Join(base, "mod")
	outside := filepath.Join(base, "outside")
	deep := strings.Repeat("d/", maxStaleDepth+1) // one level past the bound
	makeTree(t, outside, map[string]string{
		".x.rsyncd-go-tmp.0badc0de": "outside the module",
	})
	old := map[string]string{
		// Stale temp files at several depths: removed.
		".a.rsyncd-go-tmp.0123abcd":                          "stale",
		"d1/.b.rsyncd-go-tmp.deadbeef":                       "stale",
		"d1/d2/d3/.c.txt.rsyncd-go-tmp.00000000":             "stale",
		"d1/d2/d3/.x.rsyncd-go-tmp.y.rsyncd-go-tmp.ffffffff": "stale",
		// Similar names that are not temp names: kept.
		"a.rsyncd-go-tmp.0123abcd":      "no leading dot",
		".rsyncd-go-tmp.0123abcd":       "marker only",
		".a.rsyncd-go-tmp.0123abc":      "7 hex digits",
		".a.rsyncd-go-tmp.0123abcz":     "not hex",
		".a.rsyncd-go-tmp.0123abcd.bak": "suffix after",
		".a.rsync-tmp.0123abcd":         "another marker",
		"d1/.b.XXXXXX":                  "rsync's own temp name",
		"keep":                          "user data",
		// A temp-named symlink and directory, and a symlink out: kept, and
		// what they point at too.
		"d1/.l.rsyncd-go-tmp.11111111": "->../keep",
		".dir.rsyncd-go-tmp.22222222/": "",
		"escape":                       "->" + outside,
		".esc.rsyncd-go-tmp.44444444":  "->" + outside,
		"loop/up":                      "->..",
		// Below the depth bound: not reached, kept.
		deep + ".deep.rsyncd-go-tmp.55555555": "too deep",
	}
	makeTree(t, mod, old)
	before := waitCtime()
	makeTree(t, mod, map[string]string{
		"d1/.fresh.rsyncd-go-tmp.33333333": "a live transfer's",
	})
	// An old temp file written again after before: its ctime moved.
	if err := os.WriteFile(filepath.Join(mod, ".a.rsyncd-go-tmp.0123abcd"), []byte("still written"), 0o600); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	n, err := RemoveStaleTemps(context.Background(), modules.Module{Name: "backup", Path: mod}, before, log)
	if err != nil {
		t.Fatal(err)
	}
	removed := []string{
		"d1/.b.rsyncd-go-tmp.deadbeef",
		"d1/d2/d3/.c.txt.rsyncd-go-tmp.00000000",
		"d1/d2/d3/.x.rsyncd-go-tmp.y.rsyncd-go-tmp.ffffffff",
	}
	if n != len(removed) {
		t.Errorf("removed %d files, want %d\n%s", n, len(removed), logs.String())
	}
	for _, p := range removed {
		if _, err := os.Lstat(filepath.Join(mod, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: stale temp file not removed (%v)", p, err)
		}
		if !strings.Contains(logs.String(), "path="+p) {
			t.Errorf("%s: removal not logged:\n%s", p, logs.String())
		}
	}
	kept := []string{".a.rsyncd-go-tmp.0123abcd", "d1/.fresh.rsyncd-go-tmp.33333333"}
	for p := range old {
		if !slices.Contains(removed, p) {
			kept = append(kept, p)
		}
	}
	for _, p := range kept {
		if _, err := os.Lstat(filepath.Join(mod, p)); err != nil {
			t.Errorf("%s: must stay: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, ".x.rsyncd-go-tmp.0badc0de")); err != nil {
		t.Errorf("a file outside the module was touched: %v", err)
	}
	for _, want := range []string{"stale temp cleanup done", "module=backup", "removed=3", "duration=", "directory too deep"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestRemoveStaleTempsErrors(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if _, err := RemoveStaleTemps(context.Background(), modules.Module{Name: "gone", Path: filepath.Join(t.TempDir(), "gone")}, time.Now(), log); err == nil {
		t.Error("a vanished module path gave no error")
	}
	mod := t.TempDir()
	makeTree(t, mod, map[string]string{".a.rsyncd-go-tmp.0123abcd": "stale"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := RemoveStaleTemps(ctx, modules.Module{Name: "m", Path: mod}, time.Now().Add(time.Hour), log)
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("cancelled walk: %d removed, err %v; want 0 and context.Canceled", n, err)
	}
}

// TestCleanStaleTemps checks which modules are walked: writable ones
// (read_only false, or an auth users rule granting rw), each path once.
func TestCleanStaleTemps(t *testing.T) {
	base := t.TempDir()
	const tmp = ".f.rsyncd-go-tmp.0123abcd"
	dirs := map[string]bool{"rw": true, "ro": false, "rwuser": true, "rouser": false}
	for d := range dirs {
		makeTree(t, filepath.Join(base, d), map[string]string{tmp: "stale"})
	}
	start := waitCtime()
	mod := func(name, dir string, ro bool, users ...string) modules.Module {
		m := modules.New(name, filepath.Join(base, dir))
		m.ReadOnly, m.AuthUsers = ro, users
		return m
	}
	mods := []modules.Module{
		mod("rw", "rw", false),
		mod("rw-again", "rw/", false), // the same path: walked once
		mod("ro", "ro", true),
		mod("rwuser", "rwuser", true, "alice:ro", "bob:rw"),
		mod("rouser", "rouser", true, "alice", "@staff:ro"),
		mod("gone", "gone", false), // logged, the others go on
	}
	var logs bytes.Buffer
	CleanStaleTemps(context.Background(), mods, start.Add(ctimeSlack), slog.New(slog.NewTextHandler(&logs, nil)))
	for d, gone := range dirs {
		_, err := os.Lstat(filepath.Join(base, d, tmp))
		if removed := errors.Is(err, os.ErrNotExist); removed != gone {
			t.Errorf("module %s: temp file removed=%v, want %v", d, removed, gone)
		}
	}
	if c := strings.Count(logs.String(), "stale temp cleanup done"); c != 2 {
		t.Errorf("%d module walks, want 2 (rw once, rwuser):\n%s", c, logs.String())
	}
	if !strings.Contains(logs.String(), "stale temp cleanup failed") || !strings.Contains(logs.String(), "module=gone") {
		t.Errorf("the vanished module path was not logged:\n%s", logs.String())
	}
}
