package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMetadata pushes hard links, devices, a fifo and files owned by other
// users and groups (the tests run as root, as a backup daemon does), with
// -aH and then with --numeric-ids, and checks each on the destination.
func TestMetadata(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (devices and ownership); CI runs as root")
	}
	for _, numeric := range []bool{false, true} {
		t.Run(fmt.Sprintf("numeric=%v", numeric), func(t *testing.T) {
			d := startDaemon(t, "", "")
			src := filepath.Join(t.TempDir(), "data")
			must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
			must(t, os.WriteFile(filepath.Join(src, "a"), []byte("linked"), 0o644))
			must(t, os.Link(filepath.Join(src, "a"), filepath.Join(src, "sub", "b")))
			must(t, os.Link(filepath.Join(src, "a"), filepath.Join(src, "c")))
			must(t, syscall.Mkfifo(filepath.Join(src, "fifo"), 0o640))
			must(t, syscall.Mknod(filepath.Join(src, "null"), syscall.S_IFCHR|0o666, int(mkdev(1, 3))))
			must(t, os.WriteFile(filepath.Join(src, "owned"), []byte("x"), 0o600))
			must(t, os.Lchown(filepath.Join(src, "owned"), 4321, 65534))
			must(t, os.WriteFile(filepath.Join(src, "setgid"), []byte("x"), 0o2755))
			must(t, os.Chmod(filepath.Join(src, "setgid"), 0o2755|os.ModeSetgid))
			args := []string{"-aH"}
			if numeric {
				args = append(args, "--numeric-ids")
			}
			mustRsync(t, d, append(args, src+"/", d.URL("backup/"))...)
			compareTrees(t, src, d.Data, true)

			var a, b, c, n, o syscall.Stat_t
			must(t, syscall.Lstat(filepath.Join(d.Data, "a"), &a))
			must(t, syscall.Lstat(filepath.Join(d.Data, "sub", "b"), &b))
			must(t, syscall.Lstat(filepath.Join(d.Data, "c"), &c))
			if a.Ino != b.Ino || a.Ino != c.Ino {
				t.Errorf("hard links not preserved: inodes %d %d %d", a.Ino, b.Ino, c.Ino)
			}
			must(t, syscall.Lstat(filepath.Join(d.Data, "null"), &n))
			if n.Mode&syscall.S_IFMT != syscall.S_IFCHR || n.Rdev != mkdev(1, 3) {
				t.Errorf("device: mode %o rdev %x", n.Mode, n.Rdev)
			}
			must(t, syscall.Lstat(filepath.Join(d.Data, "owned"), &o))
			if o.Uid != 4321 || o.Gid != 65534 {
				t.Errorf("owner %d:%d, want 4321:65534", o.Uid, o.Gid)
			}
		})
	}
}

func mkdev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | (minor & 0xff) | (minor&^0xff)<<12
}

// TestUpdateRules checks the options that decide which files are sent:
// --existing, --ignore-existing, -u, --size-only, -I and -c.
func TestUpdateRules(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	write := func(dir, name, data string, mtime time.Time) {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(data), 0o644))
		must(t, os.Chtimes(p, mtime, mtime))
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(d.Data, name))
		if err != nil {
			return "<missing>"
		}
		return string(b)
	}
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)

	// --existing: only files already on the backup are updated.
	write(src, "new", "new", t1)
	write(src, "old", "src", t2)
	write(d.Data, "old", "dst", t1)
	mustRsync(t, d, "-a", "--existing", src+"/", d.URL("backup/"))
	if read("new") != "<missing>" || read("old") != "src" {
		t.Errorf("--existing: new=%q old=%q", read("new"), read("old"))
	}
	// --ignore-existing: only missing files are created.
	write(d.Data, "old", "dst", t1)
	mustRsync(t, d, "-a", "--ignore-existing", src+"/", d.URL("backup/"))
	if read("new") != "new" || read("old") != "dst" {
		t.Errorf("--ignore-existing: new=%q old=%q", read("new"), read("old"))
	}
	// -u: a newer file on the backup is kept.
	write(d.Data, "old", "newer", t2.Add(time.Hour))
	mustRsync(t, d, "-au", src+"/", d.URL("backup/"))
	if read("old") != "newer" {
		t.Errorf("-u replaced a newer file: %q", read("old"))
	}
	// --size-only: same size, other contents and time: untouched; -I sends it.
	write(d.Data, "old", "xyz", t1)
	mustRsync(t, d, "-a", "--size-only", src+"/", d.URL("backup/"))
	if read("old") != "xyz" {
		t.Errorf("--size-only replaced a same-size file: %q", read("old"))
	}
	mustRsync(t, d, "-aI", src+"/", d.URL("backup/"))
	if read("old") != "src" {
		t.Errorf("-I did not send: %q", read("old"))
	}
	// -c: same size and time, other contents: sent.
	write(d.Data, "old", "XXX", t2)
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	if read("old") != "XXX" {
		t.Errorf("quick check sent a same size+time file: %q", read("old"))
	}
	mustRsync(t, d, "-ac", src+"/", d.URL("backup/"))
	if read("old") != "src" {
		t.Errorf("-c did not send a changed file: %q", read("old"))
	}
}

// TestDeleteModes runs each deletion timing, --delete-excluded, protection
// of excluded files, --max-delete and a dry run.
func TestDeleteModes(t *testing.T) {
	for _, mode := range []string{"--delete", "--delete-before", "--delete-during", "--delete-delay", "--delete-after"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			d := startDaemon(t, "", "")
			src := filepath.Join(t.TempDir(), "data")
			makeTree(t, src, 5)
			must(t, os.WriteFile(filepath.Join(d.Data, "stale.txt"), []byte("x"), 0o644))
			must(t, os.WriteFile(filepath.Join(d.Data, "keep.log"), []byte("x"), 0o644))
			must(t, os.MkdirAll(filepath.Join(d.Data, "gone", "deep"), 0o755))

			// A dry run deletes nothing but reports it.
			res := mustRsync(t, d, "-a", mode, "-n", "-v", "--exclude=*.log", src+"/", d.URL("backup/"))
			if !strings.Contains(res.Stdout, "deleting stale.txt") {
				t.Errorf("dry run does not report the deletion:\n%s", res.Stdout)
			}
			if _, err := os.Stat(filepath.Join(d.Data, "stale.txt")); err != nil {
				t.Errorf("dry run deleted: %v", err)
			}
			mustRsync(t, d, "-a", mode, "--exclude=*.log", src+"/", d.URL("backup/"))
			if _, err := os.Stat(filepath.Join(d.Data, "keep.log")); err != nil {
				t.Errorf("an excluded file was deleted: %v", err)
			}
			for _, p := range []string{"stale.txt", "gone"} {
				if _, err := os.Lstat(filepath.Join(d.Data, p)); err == nil {
					t.Errorf("%s was not deleted", p)
				}
			}
			mustRsync(t, d, "-a", mode, "--delete-excluded", "--exclude=*.log", src+"/", d.URL("backup/"))
			if _, err := os.Stat(filepath.Join(d.Data, "keep.log")); err == nil {
				t.Error("--delete-excluded kept an excluded file")
			}
			compareTrees(t, src, d.Data, true)
		})
	}
	t.Run("max-delete", func(t *testing.T) {
		// Same outcome as stock rsyncd: two deletions, a warning, and the
		// same exit code for the client.
		run := func(d *daemon) (int, int, string) {
			src := filepath.Join(t.TempDir(), "data")
			must(t, os.MkdirAll(src, 0o755))
			for i := range 5 {
				must(t, os.WriteFile(filepath.Join(d.Data, fmt.Sprintf("x%d", i)), nil, 0o644))
			}
			res := rsync(t, d, "-a", "--delete", "--max-delete=2", src+"/", d.URL("backup/"))
			left, _ := os.ReadDir(d.Data)
			return res.Code, len(left), res.Stderr
		}
		code, left, stderr := run(startDaemon(t, "", ""))
		stock := stockDaemon(t, "[backup]\npath = {{DATA}}\nread only = false\nauth users = rsync_backup\nsecrets file = {{SECRETS}}\n")
		wantCode, wantLeft, wantStderr := run(stock)
		if code != wantCode || left != wantLeft {
			t.Errorf("--max-delete=2: exit %d with %d files left; stock rsyncd: exit %d with %d left", code, left, wantCode, wantLeft)
		}
		const warning = "Deletions stopped due to --max-delete limit (3 skipped)"
		if !strings.Contains(wantStderr, warning) || !strings.Contains(stderr, warning) {
			t.Errorf("warning missing:\nours: %s\nstock: %s", stderr, wantStderr)
		}
	})
}

// TestRelativeAndSubdir pushes with -R and into a sub-directory of the
// module, and checks that a destination climbing out of the module stays
// inside it.
func TestRelativeAndSubdir(t *testing.T) {
	d := startDaemon(t, "", "")
	base := t.TempDir()
	src := filepath.Join(base, "srv", "data")
	makeTree(t, src, 9)
	mustRsync(t, d, "-aR", base+"/srv/./data/", d.URL("backup/rel/"))
	compareTrees(t, src, filepath.Join(d.Data, "rel", "data"), true)

	// A full path with -R: implied parent directories, /tmp's sticky bit.
	mustRsync(t, d, "-aR", src+"/", d.URL("backup/full/"))
	compareTrees(t, src, filepath.Join(d.Data, "full", src), true)

	mustRsync(t, d, "-a", src+"/", d.URL("backup/sub/dir/"))
	compareTrees(t, src, filepath.Join(d.Data, "sub", "dir"), true)

	mustRsync(t, d, "-a", src+"/", d.URL("backup/../../escape/"))
	if _, err := os.Stat(filepath.Join(filepath.Dir(d.Data), "escape")); err == nil {
		t.Fatal("a destination with .. left the module")
	}
}

// TestBackups replaces and deletes with --backup, then with --backup-dir:
// what was there is kept under its backup name.
func TestBackups(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("new"), 0o644))
	must(t, os.WriteFile(filepath.Join(d.Data, "f"), []byte("old"), 0o644))
	past := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(filepath.Join(d.Data, "f"), past, past))
	must(t, os.WriteFile(filepath.Join(d.Data, "gone"), []byte("deleted"), 0o644))
	mustRsync(t, d, "-a", "--delete", "--backup", src+"/", d.URL("backup/"))
	for name, want := range map[string]string{"f": "new", "f~": "old", "gone~": "deleted"} {
		if b, err := os.ReadFile(filepath.Join(d.Data, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(d.Data, "gone")); err == nil {
		t.Error("a deleted file is still in place")
	}

	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("newer"), 0o644))
	must(t, os.Chtimes(filepath.Join(src, "f"), time.Now().Add(time.Hour), time.Now().Add(time.Hour)))
	mustRsync(t, d, "-a", "--backup-dir=../bak", "--suffix=.1", src+"/", d.URL("backup/sub/"))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("newest"), 0o644))
	mustRsync(t, d, "-a", "--backup-dir=../bak", "--suffix=.1", src+"/", d.URL("backup/sub/"))
	if b, err := os.ReadFile(filepath.Join(d.Data, "bak", "f.1")); err != nil || string(b) != "newer" {
		t.Errorf("--backup-dir=../bak --suffix=.1: %q, %v", b, err)
	}
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("final"), 0o644))
	mustRsync(t, d, "-a", "--backup-dir=/bak2", src+"/", d.URL("backup/sub/"))
	if b, err := os.ReadFile(filepath.Join(d.Data, "bak2", "f")); err != nil || string(b) != "newest" {
		t.Errorf("--backup-dir=/bak2 (module-relative): %q, %v", b, err)
	}
	if _, err := os.Stat("/bak2"); err == nil {
		t.Error("an absolute --backup-dir left the module")
	}
}

// TestSecludedArgs pushes with -s: the client sends its real arguments as
// a second list, which must reach the engine (here, the destination path
// and --delete).
func TestSecludedArgs(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 13)
	must(t, os.MkdirAll(filepath.Join(d.Data, "a dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(d.Data, "a dir", "stale"), nil, 0o644))
	mustRsync(t, d, "-as", "--delete", src+"/", d.URL("backup/a dir/"))
	compareTrees(t, src, filepath.Join(d.Data, "a dir"), true)
}

// TestForce replaces a non-empty directory with a file: without --force or
// --delete the directory stays and the client is told, as stock rsyncd
// does; with --force it goes.
func TestForce(t *testing.T) {
	run := func(d *daemon, extra ...string) (result, bool) {
		src := filepath.Join(t.TempDir(), "data")
		must(t, os.MkdirAll(src, 0o755))
		must(t, os.WriteFile(filepath.Join(src, "x"), []byte("file now"), 0o644))
		must(t, os.MkdirAll(filepath.Join(d.Data, "x", "sub"), 0o755))
		res := rsync(t, d, append(append([]string{"-a"}, extra...), src+"/", d.URL("backup/"))...)
		fi, err := os.Lstat(filepath.Join(d.Data, "x"))
		return res, err == nil && fi.Mode().IsRegular()
	}
	stockConf := "[backup]\npath = {{DATA}}\nread only = false\nauth users = rsync_backup\nsecrets file = {{SECRETS}}\n"
	for _, extra := range [][]string{nil, {"--force"}} {
		got, gotFile := run(startDaemon(t, "", ""), extra...)
		want, wantFile := run(stockDaemon(t, stockConf), extra...)
		if got.Code != want.Code || gotFile != wantFile {
			t.Errorf("%v: exit %d, replaced %v; stock: exit %d, replaced %v\nours: %s%s\nstock: %s%s",
				extra, got.Code, gotFile, want.Code, wantFile, got.Stdout, got.Stderr, want.Stdout, want.Stderr)
		}
		const msg = "cannot delete non-empty directory: x"
		if strings.Contains(want.Stdout+want.Stderr, msg) != strings.Contains(got.Stdout+got.Stderr, msg) {
			t.Errorf("%v: the client is told differently\nours: %s%s\nstock: %s%s", extra, got.Stdout, got.Stderr, want.Stdout, want.Stderr)
		}
	}
}
