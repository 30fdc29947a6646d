package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// workload is one measured transfer. prepare runs before every run, outside
// the timing; run is timed.
type workload struct {
	Name    string
	Desc    string
	prepare func(d *daemon) error
	run     func(ctx context.Context, d *daemon) error
	verify  func(d *daemon) error // after the warm-up, optional
}

// datasets are the source trees of makeData each workload reads, so that
// -run writes only what the chosen workloads need (-scale 10 -run nochange
// is the 1,000,000-file no-change push without the 1.3 GiB files).
var datasets = map[string][]string{
	"big-incompressible": {"big"},
	"big-compressible-z": {"comp"},
	"small-files":        {"small"},
	"nochange-delete":    {"many"},
	"delta-1MiB":         {"big", "delta"},
	"concurrent":         {"tiny"},
	"pull-big":           {"big"},
	"pull-many":          {"many"},
	"nochange":           {"many"},
}

// sizes are the workload sizes at -scale s.
type sizes struct {
	bigBytes   int64 // incompressible file, also the delta and pull file
	compBytes  int64 // compressible file
	smallFiles int   // full push of small files
	manyFiles  int   // no-change re-pushes
	concurrent int   // concurrent pushes
	tinyFiles  int   // files in each concurrent push
}

func scaled(s float64) sizes {
	atLeast := func(v float64, min int) int { return max(int(v), min) }
	return sizes{
		bigBytes:   int64(atLeast(128<<20*s, 2<<20)),
		compBytes:  int64(atLeast(64<<20*s, 1<<20)),
		smallFiles: atLeast(20000*s, 10),
		manyFiles:  atLeast(100000*s, 10),
		concurrent: atLeast(200*s, 2),
		tinyFiles:  10,
	}
}

// rsyncClient runs the stock client against d; its output is kept for the
// error message.
func rsyncClient(ctx context.Context, d *daemon, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	args = append([]string{"--password-file=" + d.PwFile}, args...)
	cmd := exec.CommandContext(ctx, "rsync", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("rsync %s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 5))
	}
	return nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// setAside empties directories between runs without deleting anything
// until a workload is over. An ext4 without a journal (as on the VMs these
// figures come from) will not reuse an inode for a minute after it was
// freed, and skips each such inode on every create with a buffer lookup:
// deleting the last round's 100,000 files right before a run made that
// run's creates pay for them, on whichever side created first in those
// block groups (for a pull, the client).
type setAside struct {
	paths      []string
	fullLogged bool
}

// empty makes dir exist and be empty, moving what it held beside it. On a
// tmpfs (-pullto /dev/shm), which has no such delay, it deletes at once:
// a set-aside tree there holds memory. So it does on a file system with
// less than a tenth of its inodes or space free (a large -scale), saying
// so once.
func (a *setAside) empty(dir string) error {
	var fsst unix.Statfs_t
	err := unix.Statfs(filepath.Dir(dir), &fsst)
	full := err == nil && (fsst.Ffree < fsst.Files/10 || fsst.Bavail < fsst.Blocks/10)
	if full && !a.fullLogged {
		a.fullLogged = true
		logf("%s: less than a tenth free; emptied trees are deleted at once, which may slow the creates of the runs that follow", filepath.Dir(dir))
	}
	if full || err == nil && fsst.Type == unix.TMPFS_MAGIC {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("emptying %s: %w", dir, err)
		}
	} else if _, err := os.Lstat(dir); err == nil {
		old := fmt.Sprintf("%s.old%d", dir, len(a.paths))
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("setting %s aside: %w", dir, err)
		}
		a.paths = append(a.paths, old)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("making %s: %w", dir, err)
	}
	return nil
}

// purge deletes what was set aside, between workloads, and tells how
// many files and directories that was.
func (a *setAside) purge() (int, error) {
	var errs []error
	n := 0
	for _, p := range a.paths {
		_ = filepath.WalkDir(p, func(string, fs.DirEntry, error) error { n++; return nil })
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	a.paths = nil
	syscall.Sync()
	return n, errors.Join(errs...)
}

// writeRandom writes n incompressible bytes.
func writeRandom(path string, n int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1})
	buf := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(buf)) {
		b := buf[:min(int64(len(buf)), left)]
		_, _ = r.Read(b)
		if _, err := f.Write(b); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return f.Close()
}

// writeText writes about n bytes of log-like text that compresses well.
func writeText(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(7, 7))
	words := []string{"GET", "POST", "/api/v1/items", "/static/app.js", "200", "404", "user=alice", "user=bob", "latency_ms", "cache=hit", "cache=miss"}
	var written int64
	for i := 0; written < n; i++ {
		k, err := fmt.Fprintf(w, "2026-11-24T12:%02d:%02d.%06dZ host-%d %s %s %s %d\n", i/60%60, i%60, r.IntN(1000000),
			r.IntN(16), words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(5000))
		if err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
		written += int64(k)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// writeTree writes n files of random sizes up to maxSize, 100 per directory.
func writeTree(root string, n, maxSize int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 1))
	buf := make([]byte, maxSize)
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("d%04d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("making %s: %w", dir, err)
			}
		}
		b := buf[:r.IntN(maxSize+1)]
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		p := filepath.Join(dir, fmt.Sprintf("f%06d.dat", i))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}

// treeSummary counts regular files and their bytes under root.
func treeSummary(root string) (files int, bytes int64, err error) {
	err = filepath.WalkDir(root, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			info, err := e.Info()
			if err != nil {
				return err
			}
			files++
			bytes += info.Size()
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("walking %s: %w", root, err)
	}
	return files, bytes, err
}

func sameTree(src, dst string) error {
	fa, ba, err := treeSummary(src)
	if err != nil {
		return err
	}
	fb, bb, err := treeSummary(dst)
	if err != nil {
		return err
	}
	if fa != fb || ba != bb {
		return fmt.Errorf("%s holds %d files / %d bytes, %s %d / %d", dst, fb, bb, src, fa, ba)
	}
	return nil
}

func sameFile(a, b string) error {
	x, err := os.ReadFile(a)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if string(x) != string(y) {
		return fmt.Errorf("%s differs from %s", b, a)
	}
	return nil
}

// makeData writes the source trees under src that need names, once.
func makeData(src string, z sizes, need map[string]bool) error {
	steps := []struct {
		what string
		fn   func() error
	}{
		{"big", func() error { return writeRandom(filepath.Join(src, "big", "big.bin"), z.bigBytes, 1) }},
		{"comp", func() error { return writeText(filepath.Join(src, "comp", "log.txt"), z.compBytes) }},
		{"small", func() error { return writeTree(filepath.Join(src, "small"), z.smallFiles, 8192, 2) }},
		{"many", func() error { return writeTree(filepath.Join(src, "many"), z.manyFiles, 512, 3) }},
		{"tiny", func() error { return writeTree(filepath.Join(src, "tiny"), z.tinyFiles, 4096, 4) }},
		{"delta", func() error { return makeDelta(src, z.bigBytes) }},
	}
	for _, s := range []string{"big", "comp", "delta"} {
		if err := os.MkdirAll(filepath.Join(src, s), 0o755); err != nil {
			return fmt.Errorf("making source dir: %w", err)
		}
	}
	for _, s := range steps {
		if !need[s.what] {
			continue
		}
		t0 := time.Now()
		if err := s.fn(); err != nil {
			return err
		}
		logf("data %-6s written in %.1fs", s.what, time.Since(t0).Seconds())
	}
	return nil
}

// makeDelta writes the new version of big.bin: 1 MiB in its middle
// rewritten. Its mtime is set an hour later than the old version's so that
// the quick check always sends it.
func makeDelta(src string, n int64) error {
	old := filepath.Join(src, "big", "big.bin")
	nw := filepath.Join(src, "delta", "big.bin")
	if err := copyFile(old, nw); err != nil {
		return err
	}
	f, err := os.OpenFile(nw, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", nw, err)
	}
	patch := make([]byte, min(1<<20, n/2))
	_, _ = rand.NewChaCha8([32]byte{9}).Read(patch)
	if _, err := f.WriteAt(patch, n/2-int64(len(patch))/2); err != nil {
		f.Close()
		return fmt.Errorf("patching %s: %w", nw, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", nw, err)
	}
	later := time.Now().Add(time.Hour)
	return os.Chtimes(nw, later, later)
}

// copyFile copies with cp --reflink=auto (no attributes kept: the copy gets
// the current mtime).
func copyFile(from, to string) error {
	if out, err := exec.Command("cp", "--reflink=auto", from, to).CombinedOutput(); err != nil {
		return fmt.Errorf("cp %s %s: %w: %s", from, to, err, out)
	}
	return nil
}

// workloads lists the measured transfers over the source trees in src;
// pulls holds the client-side directories of the pulls.
// With spread, the concurrent pushes come from many loopback addresses.
func workloads(src, pulls string, z sizes, spread bool, aside *setAside) []workload {
	in := func(d *daemon, p string) string { return filepath.Join(d.Data, p) }
	emptyIn := func(p string) func(d *daemon) error {
		return func(d *daemon) error { return aside.empty(in(d, p)) }
	}
	push := func(dir string, opts ...string) func(ctx context.Context, d *daemon) error {
		return func(ctx context.Context, d *daemon) error {
			return rsyncClient(ctx, d, append(opts, filepath.Join(src, dir)+"/", d.URL(dir+"/"))...)
		}
	}
	verifyTree := func(dir string) func(d *daemon) error {
		return func(d *daemon) error { return sameTree(filepath.Join(src, dir), in(d, dir)) }
	}
	pullDst := func(d *daemon) string { return filepath.Join(pulls, "pull-"+d.Name) }
	return []workload{
		{
			Name: "big-incompressible", Desc: fmt.Sprintf("%d MiB random file, full push -a", z.bigBytes>>20),
			prepare: emptyIn("big"), run: push("big", "-a"), verify: verifyTree("big"),
		},
		{
			Name: "big-compressible-z", Desc: fmt.Sprintf("%d MiB log text, full push -az", z.compBytes>>20),
			prepare: emptyIn("comp"), run: push("comp", "-az"), verify: verifyTree("comp"),
		},
		{
			Name: "small-files", Desc: fmt.Sprintf("%d files of 0-8 KiB, full push -a", z.smallFiles),
			prepare: emptyIn("small"), run: push("small", "-a"), verify: verifyTree("small"),
		},
		{
			// The warm-up run makes the copy; the timed runs find nothing to do.
			Name: "nochange-delete", Desc: fmt.Sprintf("%d files, no-change re-push -a --delete", z.manyFiles),
			prepare: func(*daemon) error { return nil }, run: push("many", "-a", "--delete"), verify: verifyTree("many"),
		},
		{
			Name: "delta-1MiB", Desc: fmt.Sprintf("1 MiB changed mid-file of %d MiB, -a --no-whole-file", z.bigBytes>>20),
			prepare: func(d *daemon) error {
				if err := aside.empty(in(d, "delta")); err != nil {
					return err
				}
				return copyFile(filepath.Join(src, "big", "big.bin"), in(d, "delta/big.bin"))
			},
			run: push("delta", "-a", "--no-whole-file"),
			verify: func(d *daemon) error {
				return sameFile(filepath.Join(src, "delta", "big.bin"), in(d, "delta/big.bin"))
			},
		},
		{
			Name: "concurrent", Desc: fmt.Sprintf("%d concurrent pushes of %d files, each into its own subdir", z.concurrent, z.tinyFiles),
			prepare: emptyIn("conc"),
			run: func(ctx context.Context, d *daemon) error {
				var wg sync.WaitGroup
				errs := make([]error, z.concurrent)
				for i := range z.concurrent {
					wg.Go(func() {
						args := []string{"-a", filepath.Join(src, "tiny") + "/", d.URL(fmt.Sprintf("conc/%d/", i))}
						if spread {
							// Clients on 127.0.0.2-251: many hosts, not one.
							args = append(args, fmt.Sprintf("--address=127.0.0.%d", 2+i%250))
						}
						errs[i] = rsyncClient(ctx, d, args...)
					})
				}
				wg.Wait()
				var first error
				failed := 0
				for _, err := range errs {
					if err != nil {
						failed++
						first = cmp.Or(first, err)
					}
				}
				if failed > 0 {
					return fmt.Errorf("%d of %d pushes failed, first: %w", failed, z.concurrent, first)
				}
				return nil
			},
			verify: func(d *daemon) error {
				return sameTree(filepath.Join(src, "tiny"), in(d, fmt.Sprintf("conc/%d", z.concurrent-1)))
			},
		},
		{
			Name: "pull-big", Desc: fmt.Sprintf("pull of a %d MiB file, -a", z.bigBytes>>20),
			prepare: func(d *daemon) error {
				if _, err := os.Stat(in(d, "pull/big.bin")); err != nil {
					if err := aside.empty(in(d, "pull")); err != nil {
						return err
					}
					if err := copyFile(filepath.Join(src, "big", "big.bin"), in(d, "pull/big.bin")); err != nil {
						return err
					}
				}
				return aside.empty(pullDst(d))
			},
			run: func(ctx context.Context, d *daemon) error {
				return rsyncClient(ctx, d, "-a", d.URL("pull/big.bin"), pullDst(d)+"/")
			},
			verify: func(d *daemon) error {
				return sameFile(filepath.Join(src, "big", "big.bin"), filepath.Join(pullDst(d), "big.bin"))
			},
		},
		{
			// The daemon sends: incremental recursion on the sending side.
			Name: "pull-many", Desc: fmt.Sprintf("pull of %d small files in %d dirs, -a", z.manyFiles, (z.manyFiles+99)/100),
			prepare: func(d *daemon) error {
				if _, err := os.Stat(in(d, "pullmany")); err != nil {
					if out, err := exec.Command("cp", "-a", filepath.Join(src, "many"), in(d, "pullmany")).CombinedOutput(); err != nil {
						return fmt.Errorf("copying the pull tree: %w: %s", err, out)
					}
				}
				return aside.empty(pullDst(d) + "-many")
			},
			run: func(ctx context.Context, d *daemon) error {
				return rsyncClient(ctx, d, "-a", d.URL("pullmany/"), pullDst(d)+"-many/")
			},
			verify: func(d *daemon) error { return sameTree(filepath.Join(src, "many"), pullDst(d)+"-many") },
		},
		{
			// Same tree and destination as nochange-delete, already in sync.
			Name: "nochange", Desc: fmt.Sprintf("%d files, no-change re-push -a", z.manyFiles),
			prepare: func(*daemon) error { return nil }, run: push("many", "-a"), verify: verifyTree("many"),
		},
	}
}
