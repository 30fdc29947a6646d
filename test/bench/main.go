// Command bench measures rsyncd-go against stock rsyncd side by side: the
// same stock rsync client pushes (and pulls) the same trees to both daemons.
//
// Run it from the repository root (it builds ./cmd/rsyncd-go and needs
// /usr/bin/rsync):
//
//	go run ./test/bench [-scale N] [-rounds R] [-out DIR]
//
// -scale multiplies every workload size (1 takes about 3 minutes on 2
// cores); -rounds is the number of timed A/B rounds after one warm-up. It
// prints a markdown table and writes DIR/results.md and DIR/results.json
// (DIR defaults to a new temp dir). Both daemons listen on 127.0.0.1 only,
// with auth on; stock rsyncd gets "listen backlog = 1024" and "reverse
// lookup = no" so that the concurrent workload measures neither SYN retries
// nor DNS. -pullto DIR puts the pulls' destinations under DIR (a tmpfs
// takes the client's disk out of them). -spread binds each concurrent
// client to its own 127.0.0.x, past per-address limits; -run REGEXP picks
// workloads by name.
//
// Profiling (a developer aid): rsyncd-go started with
// RSYNCD_GO_CPUPROFILE=FILE writes a CPU profile, and with
// RSYNCD_GO_MEMPROFILE=FILE an allocation profile (sampled every 4 KiB),
// when it exits on SIGTERM or SIGINT; read them with
// `go tool pprof -top BINARY FILE` (-sample_index=alloc_space for memory).
// Profile one workload at a time: start the daemon by hand with a config
// like startGo's, push with the workload's rsync command, stop it. Wall
// times on a shared machine are noisy; CPU profiles, `strace -c -f` system
// call counts and allocation counts are not.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// run is one timed transfer against one daemon.
type run struct {
	Wall    float64 `json:"wall_s"`
	CPU     float64 `json:"cpu_s"`
	PeakRSS int64   `json:"peak_rss_kib"`        // sampled every 20 ms (stock: daemon + children)
	VmHWM   int64   `json:"vmhwm_kib,omitempty"` // rsyncd-go only: lifetime high-water mark
}

// side is one daemon's results for one workload.
type side struct {
	Runs        []run   `json:"runs"`
	MedianWall  float64 `json:"median_wall_s"`
	MedianCPU   float64 `json:"median_cpu_s"`
	PeakRSS     int64   `json:"peak_rss_kib"`
	VmHWM       int64   `json:"vmhwm_kib,omitempty"`
	Unsupported bool    `json:"unsupported,omitempty"`
	Error       string  `json:"error,omitempty"`
}

type result struct {
	Name  string  `json:"name"`
	Desc  string  `json:"description"`
	Stock side    `json:"stock"`
	Go    side    `json:"rsyncd_go"`
	Ratio float64 `json:"ratio_wall,omitempty"` // rsyncd-go / stock median wall time
}

type machine struct {
	Nproc   int     `json:"nproc"`
	CPU     string  `json:"cpu_model"`
	Rsync   string  `json:"rsync_version"`
	Go      string  `json:"go_version"`
	Scale   float64 `json:"scale"`
	Rounds  int     `json:"rounds"`
	Started string  `json:"started"`
	// CPUClock is where CPU times come from: "cgroup" (nanoseconds) or
	// "proc" (/proc/PID/stat clock ticks, 10 ms).
	CPUClock string `json:"cpu_clock"`
}

func main() {
	scale := flag.Float64("scale", 1, "multiply every workload size by `N`")
	rounds := flag.Int("rounds", 3, "timed A/B `rounds` after one warm-up")
	only := flag.String("run", "", "run only the workloads whose name matches `REGEXP`")
	spread := flag.Bool("spread", false, "bind each concurrent client to its own 127.0.0.x (per-address limits then do not apply)")
	out := flag.String("out", "", "write results.md and results.json to `DIR` (default: a new temp dir)")
	pullTo := flag.String("pullto", "", "pull into a new directory under `DIR` (default: the work dir, on the data's disk); a tmpfs such as /dev/shm takes the client's disk out of the pull rows")
	flag.Parse()
	if *rounds < 1 || *rounds > 1000 || *scale <= 0 || *scale > 100 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be 1..1000 and -scale in (0, 100]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	re, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -run:", err)
		os.Exit(2)
	}
	err = bench(ctx, *scale, *rounds, re, *spread, *out, *pullTo)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// After removing more than settleAfter files, the benchmark waits settle:
// ext4 without a journal skips inodes freed in the last 60 s on every
// create (setAside).
const (
	settleAfter = 1000
	settle      = 61 * time.Second
)

func bench(ctx context.Context, scale float64, rounds int, only *regexp.Regexp, spread bool, out, pullTo string) error {
	work, err := os.MkdirTemp("", "rsyncd-go-bench")
	if err != nil {
		return fmt.Errorf("making work dir: %w", err)
	}
	defer os.RemoveAll(work)
	pulls := work
	if pullTo != "" {
		if pulls, err = os.MkdirTemp(pullTo, "rsyncd-go-bench-pull"); err != nil {
			return fmt.Errorf("making pull dir: %w", err)
		}
		defer os.RemoveAll(pulls)
	}
	if out == "" {
		if out, err = os.MkdirTemp("", "rsyncd-go-bench-results"); err != nil {
			return fmt.Errorf("making results dir: %w", err)
		}
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("making results dir: %w", err)
	}

	m := describeMachine(scale, rounds)
	bin := filepath.Join(work, "rsyncd-go")
	logf("building rsyncd-go")
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/rsyncd-go/rsyncd-go/cmd/rsyncd-go").CombinedOutput(); err != nil {
		return fmt.Errorf("building rsyncd-go: %w: %s", err, b)
	}
	z := scaled(scale)
	src := filepath.Join(work, "src")
	aside := &setAside{}
	chosen := slices.DeleteFunc(workloads(src, pulls, z, spread, aside), func(w workload) bool { return !only.MatchString(w.Name) })
	need := map[string]bool{}
	for _, w := range chosen {
		ds, ok := datasets[w.Name]
		if !ok {
			return fmt.Errorf("workload %s: no datasets listed", w.Name)
		}
		for _, d := range ds {
			need[d] = true
		}
	}
	if err := makeData(src, z, need); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	stock, err := startStock(mkdir(work, "stock"))
	if err != nil {
		return err
	}
	defer stock.Stop()
	gd, err := startGo(bin, mkdir(work, "go"))
	if err != nil {
		return err
	}
	defer gd.Stop()
	logf("stock rsyncd pid %d on %s, rsyncd-go pid %d on %s", stock.Pid, stock.Addr, gd.Pid, gd.Addr)
	// Both daemons' CPU comes from one clock, or the ratio compares two.
	m.CPUClock = "proc"
	if stock.cg != nil && gd.cg != nil {
		m.CPUClock = "cgroup"
		stock.cgCPU, gd.cgCPU = true, true
	}

	var results []result
	// The daemons' logs go to the results, whatever happens.
	defer saveLogs(work, out)
	for i, w := range chosen {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := runWorkload(ctx, w, stock, gd, rounds)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		results = append(results, r)
		logf("%s: stock %.2fs, rsyncd-go %s", r.Name, r.Stock.MedianWall, goCell(r.Go, r.Go.MedianWall, "%.2fs"))
		n, err := aside.purge()
		if err != nil {
			return fmt.Errorf("%s: removing the emptied trees: %w", w.Name, err)
		}
		if n > settleAfter && i < len(chosen)-1 {
			// The inodes just freed would slow the next workload's creates
			// for a minute (setAside).
			logf("removed %d emptied files and dirs; waiting %v before the next workload", n, settle)
			select {
			case <-ctx.Done():
			case <-time.After(settle):
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	md := markdown(m, results)
	fmt.Print(md)
	if err := os.WriteFile(filepath.Join(out, "results.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("writing results.md: %w", err)
	}
	js, err := json.MarshalIndent(struct {
		Machine   machine  `json:"machine"`
		Workloads []result `json:"workloads"`
	}{m, results}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing results.json: %w", err)
	}
	logf("results in %s", out)
	return nil
}

// saveLogs copies the daemons' logs into the results dir.
func saveLogs(work, out string) {
	for _, name := range []string{"stock", "go"} {
		b, err := os.ReadFile(filepath.Join(work, name, "log"))
		if err != nil {
			logf("no %s log: %v", name, err)
			continue
		}
		if err := os.WriteFile(filepath.Join(out, name+"-daemon.log"), b, 0o644); err != nil {
			logf("saving %s log: %v", name, err)
		}
	}
}

func mkdir(parent, name string) string {
	p := filepath.Join(parent, name)
	_ = os.MkdirAll(p, 0o755) // a failure shows when the daemon writes there
	return p
}

// runWorkload runs one warm-up per daemon, then rounds of stock, rsyncd-go.
// A failing rsyncd-go run marks the workload unsupported for it.
func runWorkload(ctx context.Context, w workload, stock, gd *daemon, rounds int) result {
	res := result{Name: w.Name, Desc: w.Desc}
	logf("%s: %s", w.Name, w.Desc)
	type contender struct {
		d *daemon
		s *side
	}
	sides := []contender{{stock, &res.Stock}, {gd, &res.Go}}
	for _, x := range sides {
		if _, err := measure(ctx, w, x.d); err != nil {
			fail(x.s, x.d, "warm-up", err)
			continue
		}
		if w.verify != nil {
			if err := w.verify(x.d); err != nil {
				fail(x.s, x.d, "verify", err)
			}
		}
	}
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		// A B, then B A: a machine that drifts during the workload (the
		// file system after each 100,000-file round) favours neither.
		order := sides
		if i%2 == 1 {
			order = []contender{sides[1], sides[0]}
		}
		for _, x := range order {
			if x.s.Error != "" {
				continue
			}
			r, err := measure(ctx, w, x.d)
			if err != nil {
				fail(x.s, x.d, fmt.Sprintf("round %d", i+1), err)
				continue
			}
			x.s.Runs = append(x.s.Runs, r)
		}
	}
	for _, x := range sides {
		summarize(x.s)
	}
	if res.Stock.MedianWall > 0 && res.Go.MedianWall > 0 {
		res.Ratio = res.Go.MedianWall / res.Stock.MedianWall
	}
	return res
}

func fail(s *side, d *daemon, when string, err error) {
	s.Error = when + ": " + err.Error()
	s.Unsupported = !d.Stock
	s.Runs = nil
	logf("  %s %s failed: %v", d.Name, when, err)
}

// measure prepares, then times one run and reads the daemon's CPU time and
// memory around it.
func measure(ctx context.Context, w workload, d *daemon) (run, error) {
	if err := w.prepare(d); err != nil {
		return run{}, fmt.Errorf("prepare: %w", err)
	}
	// The last run's writes (100,000 files, or their removal) go to disk
	// now, not during this run: whichever daemon ran second would pay.
	syscall.Sync()
	d.settle()
	cpu0, err := d.cpuSeconds()
	if err != nil {
		return run{}, err
	}
	smp := startSampler(d.Pid, d.Stock)
	t0 := time.Now()
	err = w.run(ctx, d)
	wall := time.Since(t0).Seconds()
	d.settle()
	peak := smp.Stop()
	if err != nil {
		return run{}, err
	}
	cpu1, err := d.cpuSeconds()
	if err != nil {
		return run{}, err
	}
	r := run{Wall: wall, CPU: cpu1 - cpu0, PeakRSS: peak}
	if !d.Stock {
		r.VmHWM = statusKiB(d.Pid, "VmHWM")
	}
	return r, nil
}

func summarize(s *side) {
	if len(s.Runs) == 0 {
		return
	}
	var walls, cpus []float64
	for _, r := range s.Runs {
		walls = append(walls, r.Wall)
		cpus = append(cpus, r.CPU)
		s.PeakRSS = max(s.PeakRSS, r.PeakRSS)
		s.VmHWM = max(s.VmHWM, r.VmHWM)
	}
	s.MedianWall, s.MedianCPU = median(walls), median(cpus)
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func describeMachine(scale float64, rounds int) machine {
	m := machine{Nproc: runtime.NumCPU(), Go: runtime.Version(), Scale: scale, Rounds: rounds,
		Started: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := exec.Command("rsync", "--version").Output(); err == nil {
		m.Rsync, _, _ = strings.Cut(string(b), "\n")
		m.Rsync = strings.Join(strings.Fields(m.Rsync), " ")
	}
	if b, err := exec.Command("go", "version").Output(); err == nil {
		m.Go = strings.TrimSpace(string(b))
	}
	return m
}

// goCell formats an rsyncd-go value, or says why there is none.
func goCell(s side, v float64, format string) string {
	switch {
	case s.Unsupported:
		return "unsupported"
	case s.Error != "":
		return "error"
	}
	return fmt.Sprintf(format, v)
}

func stockCell(s side, v float64, format string) string {
	if s.Error != "" {
		return "error"
	}
	return fmt.Sprintf(format, v)
}

func markdown(m machine, rs []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %d CPUs, %s; %s; %s; scale %g, %d rounds (medians), %s\n\n",
		m.Nproc, m.CPU, m.Rsync, m.Go, m.Scale, m.Rounds, m.Started)
	b.WriteString("| workload | stock wall s | rsyncd-go wall s | ratio go/stock | stock CPU s | rsyncd-go CPU s | stock peak RSS MiB | rsyncd-go peak RSS MiB (sampled) | rsyncd-go VmHWM MiB |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rs {
		ratio := "-"
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Name,
			stockCell(r.Stock, r.Stock.MedianWall, "%.3f"), goCell(r.Go, r.Go.MedianWall, "%.3f"), ratio,
			stockCell(r.Stock, r.Stock.MedianCPU, "%.3f"), goCell(r.Go, r.Go.MedianCPU, "%.3f"),
			stockCell(r.Stock, float64(r.Stock.PeakRSS)/1024, "%.1f"), goCell(r.Go, float64(r.Go.PeakRSS)/1024, "%.1f"),
			goCell(r.Go, float64(r.Go.VmHWM)/1024, "%.1f"))
	}
	b.WriteString("\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "- %s: %s", r.Name, r.Desc)
		if r.Stock.Error != "" {
			fmt.Fprintf(&b, "; stock failed: %s", r.Stock.Error)
		}
		if r.Go.Error != "" {
			fmt.Fprintf(&b, "; rsyncd-go failed: %s", r.Go.Error)
		}
		b.WriteString("\n")
	}
	clock := "read from a cgroup made for each daemon, in nanoseconds"
	if m.CPUClock != "cgroup" {
		clock = "read from /proc in clock ticks of 10 ms; stock: children it has reaped"
	}
	fmt.Fprintf(&b, "\nCPU is the daemon's user+sys time with its session processes (%s). Peak RSS is sampled every 20 ms (stock: daemon + all its children summed); VmHWM is rsyncd-go's lifetime high-water mark.\n", clock)
	return b.String()
}
