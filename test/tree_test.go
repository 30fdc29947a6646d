package test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// makeTree fills dir with a deterministic mix of what a storage server
// holds: nested directories, small and medium files (compressible and not),
// an empty file, symlinks (relative, absolute, dangling), odd permissions
// and varied mtimes with nanoseconds.
func makeTree(t testing.TB, dir string, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	must(t, os.MkdirAll(dir, 0o755))
	dirs := []string{"."}
	for i := range 6 {
		parent := dirs[rng.IntN(len(dirs))]
		d := filepath.Join(parent, fmt.Sprintf("dir%d", i))
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
		dirs = append(dirs, d)
	}
	modes := []os.FileMode{0o644, 0o600, 0o755, 0o640, 0o444}
	for i := range 40 {
		d := dirs[rng.IntN(len(dirs))]
		name := filepath.Join(dir, d, fmt.Sprintf("file%02d.dat", i))
		size := rng.IntN(20000)
		if i%10 == 0 {
			size = 200000 + rng.IntN(300000)
		}
		data := make([]byte, size)
		if i%2 == 0 {
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
		} else {
			for j := range data {
				data[j] = "backup of the storage server\n"[j%29]
			}
		}
		must(t, os.WriteFile(name, data, 0o644))
		must(t, os.Chmod(name, modes[rng.IntN(len(modes))]))
	}
	must(t, os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644))
	must(t, os.Symlink("file01.dat", filepath.Join(dir, "link-rel")))
	must(t, os.Symlink("/etc/hostname", filepath.Join(dir, "link-abs")))
	must(t, os.Symlink("does/not/exist", filepath.Join(dir, "link-dangling")))
	must(t, os.Symlink("dir0", filepath.Join(dir, "link-dir")))
	touchAll(t, dir, rng)
}

// touchAll gives every entry a distinct mtime with nanoseconds, deepest
// first so directory times stay set.
func touchAll(t testing.TB, dir string, rng *rand.Rand) {
	t.Helper()
	var paths []string
	must(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		paths = append(paths, p)
		return err
	}))
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := len(paths) - 1; i >= 0; i-- {
		p := paths[i]
		fi, err := os.Lstat(p)
		must(t, err)
		if fi.Mode()&os.ModeSymlink != 0 {
			continue
		}
		mt := base.Add(time.Duration(rng.Int64N(int64(400 * 24 * time.Hour))))
		must(t, os.Chtimes(p, mt, mt))
	}
}

// mutateTree edits, deletes, renames and adds files, as a day of work on
// the storage server does.
func mutateTree(t testing.TB, dir string) {
	t.Helper()
	later := time.Date(2025, 6, 1, 8, 30, 0, 123456789, time.UTC)
	var files []string
	must(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			files = append(files, p)
		}
		return err
	}))
	if len(files) < 3 {
		t.Fatalf("tree %s has too few files to mutate", dir)
	}
	edit := files[0]
	data, err := os.ReadFile(edit)
	must(t, err)
	data = append(data, []byte("appended line\n")...)
	must(t, os.WriteFile(edit, data, 0o644))
	must(t, os.Chtimes(edit, later, later))
	must(t, os.Remove(filepath.Join(dir, "empty")))
	must(t, os.Remove(files[1]))
	must(t, os.Rename(files[2], filepath.Join(dir, "renamed.dat")))
	must(t, os.WriteFile(filepath.Join(dir, "new.txt"), []byte("new file\n"), 0o640))
	must(t, os.Chtimes(filepath.Join(dir, "new.txt"), later, later))
	must(t, os.MkdirAll(filepath.Join(dir, "newdir", "sub"), 0o750))
	must(t, os.WriteFile(filepath.Join(dir, "newdir", "sub", "x"), []byte("x"), 0o600))
	must(t, os.Chtimes(filepath.Join(dir, "newdir", "sub", "x"), later, later))
	must(t, os.Chtimes(filepath.Join(dir, "newdir", "sub"), later, later))
	must(t, os.Chtimes(filepath.Join(dir, "newdir"), later, later))
	must(t, os.Chtimes(dir, later, later))
}
