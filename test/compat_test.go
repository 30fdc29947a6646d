package test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// compatPair starts stock rsyncd and rsyncd-go, each with a writable module
// m without auth: stockParams are more rsyncd.conf lines of the module,
// yamlKeys more YAML keys of ours ("key: value" lines).
func compatPair(t *testing.T, stockParams, yamlKeys string) (stock, ours *daemon) {
	t.Helper()
	stock = stockDaemon(t, "[m]\npath = {{DATA}}\nread only = no\nmunge symlinks = no\n"+stockParams)
	mods := "modules:\n  - name: m\n    path: {{DATA}}\n    read_only: false\n"
	for _, l := range strings.Split(strings.TrimSpace(yamlKeys), "\n") {
		if l != "" {
			mods += "    " + l + "\n"
		}
	}
	ours = startDaemon(t, "", mods)
	return stock, ours
}

// mURL is the URL of path in module m of d.
func (d *daemon) mURL(path string) string { return "rsync://" + d.Addr + "/m/" + path }

// shape is a tree's names with type, symlink target and contents: what two
// daemons that received the same push at different moments share.
func shape(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for p, e := range snapshot(t, root) {
		s := fmt.Sprintf("%s %v", p, e.mode.Type())
		switch {
		case e.mode&fs.ModeSymlink != 0:
			s += " -> " + e.target
		case e.mode.IsRegular():
			s += fmt.Sprintf(" %q", e.data)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// sameShape fails the test where the module trees of stock and ours differ.
func sameShape(t *testing.T, what string, stock, ours *daemon) {
	t.Helper()
	w, g := strings.Join(shape(t, stock.Data), "\n"), strings.Join(shape(t, ours.Data), "\n")
	if w != g {
		t.Errorf("%s: module trees differ\nours:\n%s\nstock:\n%s", what, g, w)
	}
}

// sameItemized fails the test where the exit codes or the itemized lines
// (as a set: the client's processes interleave them) differ.
func sameItemized(t *testing.T, what string, want, got result) {
	t.Helper()
	if got.Code != want.Code {
		t.Errorf("%s: exit %d, stock %d\nours:\n%s\nstock:\n%s", what, got.Code, want.Code, got.Stderr, want.Stderr)
	}
	w, g := strings.Join(lines(want.Stdout), "\n"), strings.Join(lines(got.Stdout), "\n")
	if w != g {
		t.Errorf("%s: itemized output differs\nours:\n%s\nstock:\n%s", what, g, w)
	}
}

// TestCompatBackupTypeChange pushes regular files over a symlink and a
// fifo with --backup: the entry a file replaces is kept under its backup
// name, as stock keeps it (rsync's delete_item makes the backup; the later
// backup of the received file finds nothing to keep).
func TestCompatBackupTypeChange(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(src, 0o755))
	for _, n := range []string{"link", "fifo", "file"} {
		must(t, os.WriteFile(filepath.Join(src, n), []byte("new "+n+"\n"), 0o644))
	}
	for _, args := range [][]string{
		{"-ai", "-b"},
		{"-ai", "-b", "--suffix=.old"},
		{"-ai", "-b", "--backup-dir=bak"},
		{"-ai", "-b", "--protocol=29"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stock, ours := compatPair(t, "", "")
			var res [2]result
			for i, d := range []*daemon{stock, ours} {
				must(t, os.Symlink("target", filepath.Join(d.Data, "link")))
				must(t, syscall.Mkfifo(filepath.Join(d.Data, "fifo"), 0o644))
				must(t, os.WriteFile(filepath.Join(d.Data, "file"), []byte("old\n"), 0o644))
				// The same mtime as the source's, so neither daemon's
				// itemizing depends on the second the test ran in.
				fi, err := os.Stat(filepath.Join(src, "file"))
				must(t, err)
				must(t, os.Chtimes(filepath.Join(d.Data, "file"), fi.ModTime(), fi.ModTime()))
				res[i] = rsync(t, nil, append(append([]string{}, args...), src+"/", d.mURL(""))...)
			}
			sameItemized(t, "push", res[0], res[1])
			sameShape(t, "after the push", stock, ours)
			// The symlink's backup is the point: make sure the test sees one.
			backup := "link~"
			switch {
			case args[len(args)-1] == "--suffix=.old":
				backup = "link.old"
			case args[len(args)-1] == "--backup-dir=bak":
				backup = "bak/link"
			}
			if tgt, err := os.Readlink(filepath.Join(ours.Data, backup)); err != nil || tgt != "target" {
				t.Errorf("the replaced symlink was not kept as %s: %q, %v", backup, tgt, err)
			}
		})
	}
}

// typeChangeTree is a source tree whose entries change type against what
// typeChangeDest leaves in a module: file to symlink, symlink to file,
// directory to file, file to directory, directory to symlink, symlink to
// directory.
func typeChangeTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(filepath.Join(src, "f2d"), 0o755))
	must(t, os.MkdirAll(filepath.Join(src, "l2d"), 0o755))
	must(t, os.Symlink("tgt", filepath.Join(src, "f2l")))
	must(t, os.Symlink("tgt", filepath.Join(src, "d2l")))
	must(t, os.WriteFile(filepath.Join(src, "l2f"), []byte("new\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "d2f"), []byte("new\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "f2d", "x"), []byte("in\n"), 0o644))
	return src
}

func typeChangeDest(t *testing.T, dir string) {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(dir, "f2l"), []byte("old\n"), 0o644))
	must(t, os.Symlink("old", filepath.Join(dir, "l2f")))
	must(t, os.MkdirAll(filepath.Join(dir, "d2f", "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "d2f", "sub", "z"), []byte("z\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "f2d"), []byte("old\n"), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "d2l"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "d2l", "q"), []byte("q\n"), 0o644))
	must(t, os.Symlink("x", filepath.Join(dir, "l2d")))
}

// TestCompatTypeChangeItemize pushes entries that change type with -i:
// making room for the new entry is no deletion in stock's log (no
// "*deleting" for the entry itself, only for what a directory in the way
// held), a directory with contents goes only with --delete or --force, a
// new entry is itemized only once it is in place, and the module ends
// the same.
func TestCompatTypeChangeItemize(t *testing.T) {
	src := typeChangeTree(t)
	for _, args := range [][]string{
		{"-ai"},
		{"-ai", "--force"},
		{"-ai", "--delete"},
		{"-ai", "-b"},
		{"-ai", "--force", "-b"},
		{"-ai", "--delete", "-b", "--backup-dir=bak"},
		{"-ai", "--force", "--no-inc-recursive"},
		{"-ai", "--force", "--protocol=30"},
		{"-ai", "--force", "-b", "--protocol=29"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stock, ours := compatPair(t, "", "")
			var res [2]result
			for i, d := range []*daemon{stock, ours} {
				typeChangeDest(t, d.Data)
				// Both roots differ from the source's time alike.
				old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
				must(t, os.Chtimes(d.Data, old, old))
				res[i] = rsync(t, nil, append(append([]string{}, args...), src+"/", d.mURL(""))...)
			}
			sameItemized(t, "push", res[0], res[1])
			sameShape(t, "after the push", stock, ours)
			if strings.Contains(res[1].Stdout, "*deleting   l2f") || strings.Contains(res[1].Stdout, "*deleting   d2f/\n") {
				t.Errorf("making room was logged as a deletion:\n%s", res[1].Stdout)
			}
		})
	}
}

// TestCompatTimeNsec pushes onto directories whose mtimes differ from the
// source's only in nanoseconds: stock compares whole seconds (same_time
// with a modify window of 0), so it itemizes no 't' for them, on every
// protocol; a negative --modify-window makes nanoseconds count. (Regular
// files of the same size and second are deliberately sent again from
// protocol 31, where stock skips them: see mtimeToSet in the receiver.)
func TestCompatTimeNsec(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	dirs := []string{"dir/sub", "dir", "other", ""}
	must(t, os.MkdirAll(filepath.Join(src, "dir", "sub"), 0o755))
	must(t, os.MkdirAll(filepath.Join(src, "other"), 0o755))
	base := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, p := range dirs {
		must(t, os.Chtimes(filepath.Join(src, p), base, base.Add(100*time.Millisecond)))
	}
	for _, args := range [][]string{
		{"-ai"},
		{"-ai", "--protocol=30"},
		{"-ai", "--no-inc-recursive"},
		{"-ai", "--omit-dir-times"},
		{"-ai", "--modify-window=-1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stock, ours := compatPair(t, "", "")
			var res [2]result
			for i, d := range []*daemon{stock, ours} {
				must(t, os.MkdirAll(filepath.Join(d.Data, "dir", "sub"), 0o755))
				must(t, os.MkdirAll(filepath.Join(d.Data, "other"), 0o755))
				for _, p := range dirs {
					must(t, os.Chtimes(filepath.Join(d.Data, p), base, base.Add(900*time.Millisecond)))
				}
				res[i] = rsync(t, nil, append(append([]string{}, args...), src+"/", d.mURL(""))...)
			}
			sameItemized(t, "push", res[0], res[1])
			sameShape(t, "after the push", stock, ours)
		})
	}
}

// TestCompatDontCompress pulls files with -z whose names are on rsync's
// default skip-compress list, with the module's "dont compress" and the
// client's --skip-compress. rsync 3.5.0 compresses every file of a session
// alike (token.c set_compression changes nothing: no codec can change its
// level mid-stream), except that a bare "*" in "dont compress" starts the
// deflater of zlib and zlibx at level 0 for the whole session (zstd and
// lz4 compress as ever): ours must send compressed data where stock does
// and stored data where stock does.
func TestCompatDontCompress(t *testing.T) {
	// Compressible data under incompressible names.
	data := bytes.Repeat([]byte("all work and no play makes jack a dull boy\n"), 50000)
	for _, c := range []struct {
		name        string
		stock, yaml string
		args        []string
		stored      bool // stock sends it uncompressed
	}{
		{"default list", "", "", nil, false},
		{"dont compress", "dont compress = *.gz *.jpg *.zip\n", "dont_compress: ['*.gz', '*.jpg', '*.zip']", nil, false},
		{"skip-compress", "", "", []string{"--skip-compress=gz/jpg/zip"}, false},
		{"star zlib", "dont compress = *.gz *\n", "dont_compress: ['*.gz', '*']", []string{"--compress-choice=zlib"}, true},
		{"star zlibx level 9", "dont compress = *\n", "dont_compress: ['*']", []string{"--compress-choice=zlibx", "--compress-level=9"}, true},
		{"star zlib protocol 29", "dont compress = *\n", "dont_compress: ['*']", []string{"--protocol=29"}, true},
		{"star zstd", "dont compress = *\n", "dont_compress: ['*']", []string{"--compress-choice=zstd"}, false},
		{"star lz4", "dont compress = *\n", "dont_compress: ['*']", []string{"--compress-choice=lz4"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			stock, ours := compatPair(t, c.stock, c.yaml)
			raw := int64(3 * len(data))
			for _, d := range []*daemon{stock, ours} {
				for _, n := range []string{"a.gz", "b.jpg", "c.zip"} {
					must(t, os.WriteFile(filepath.Join(d.Data, n), data, 0o644))
				}
				dst := filepath.Join(t.TempDir(), "dst")
				args := append([]string{"-az", "--stats"}, c.args...)
				res := rsync(t, nil, append(args, d.mURL(""), dst+"/")...)
				if res.Code != 0 {
					t.Fatalf("pull from %s: exit %d\n%s", d.Addr, res.Code, res.Stderr)
				}
				compareTreesOpt(t, d.Data, dst, false, false)
				got := statsNumber(t, res.Stdout, "Total bytes received")
				who := "ours"
				if d == stock {
					who = "stock (the test is wrong)"
				}
				switch {
				case c.stored && got < raw:
					t.Errorf("%s: %d bytes received for %d of data: compressed, stock stores it", who, got, raw)
				case !c.stored && got > raw/10:
					t.Errorf("%s: %d bytes received for %d of compressible data: not compressed, stock compresses it", who, got, raw)
				}
			}
		})
	}
}

// statsNumber reads a number of the client's --stats output.
func statsNumber(t *testing.T, out, label string) int64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + `: ([0-9,]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in the client's output:\n%s", label, out)
	}
	var n int64
	for _, c := range strings.ReplaceAll(m[1], ",", "") {
		n = n*10 + int64(c-'0')
	}
	return n
}

// TestCompatCopyUnsafeLinksMidPath pulls with --copy-unsafe-links links
// whose targets hold a ".." past a leading run of them: rsync's
// unsafe_symlink calls them unsafe even where they stay inside the
// transfer, so their referents are sent; safe ones stay links.
func TestCompatCopyUnsafeLinksMidPath(t *testing.T) {
	stock, ours := compatPair(t, "", "")
	for _, d := range []*daemon{stock, ours} {
		must(t, os.MkdirAll(filepath.Join(d.Data, "d", "sub", "deep"), 0o755))
		must(t, os.WriteFile(filepath.Join(d.Data, "d", "f"), []byte("data\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(d.Data, "d", "sub", "g"), []byte("more\n"), 0o644))
		for link, target := range map[string]string{
			"d/mid":          "sub/../f",       // unsafe to rsync: a file is sent
			"d/sub/mid2":     "deep/../g",      // likewise, one level down
			"d/sub/up":       "../f",           // safe: stays a link
			"d/plain":        "f",              // safe
			"d/sub/deep/two": "../../sub/../f", // ".." after the leading run
		} {
			must(t, os.Symlink(target, filepath.Join(d.Data, link)))
		}
	}
	var dsts [2]string
	var res [2]result
	for i, d := range []*daemon{stock, ours} {
		dsts[i] = filepath.Join(t.TempDir(), "dst")
		res[i] = rsync(t, nil, "-ai", "--copy-unsafe-links", d.mURL("d/"), dsts[i]+"/")
	}
	if res[0].Code != 0 {
		t.Fatalf("stock: exit %d\n%s", res[0].Code, res[0].Stderr)
	}
	if res[1].Code != res[0].Code {
		t.Fatalf("exit %d, stock %d\n%s", res[1].Code, res[0].Code, res[1].Stderr)
	}
	w, g := strings.Join(shape(t, dsts[0]), "\n"), strings.Join(shape(t, dsts[1]), "\n")
	if w != g {
		t.Errorf("pulled trees differ\nours:\n%s\nstock:\n%s", g, w)
	}
	if fi, err := os.Lstat(filepath.Join(dsts[1], "mid")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("mid -> sub/../f did not arrive as its referent: %v, %v", fi, err)
	}
}
