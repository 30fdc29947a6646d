package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; it is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procStat is what the benchmark reads from /proc/PID/stat.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("reading stat of %d: %w", pid, err)
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat of %d: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stat of %d: %d fields", pid, len(f))
	}
	var s procStat
	nums := []*uint64{&s.utime, &s.stime, &s.cutime, &s.cstime}
	for k, p := range nums {
		v, err := strconv.ParseUint(f[14-3+k], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("stat of %d: %w", pid, err)
		}
		*p = v
	}
	s.ppid, err = strconv.Atoi(f[4-3])
	if err != nil {
		return procStat{}, fmt.Errorf("stat of %d: ppid: %w", pid, err)
	}
	return s, nil
}

// cpuSeconds is the daemon's user+sys time, with its session processes'
// (stock rsyncd forks one per connection): from its cgroup when both
// daemons have one, else from /proc, where only children it has reaped
// count.
func (d *daemon) cpuSeconds() (float64, error) {
	if d.cgCPU {
		return d.cg.usage()
	}
	s, err := readStat(d.Pid)
	if err != nil {
		return 0, err
	}
	t := s.utime + s.stime
	if d.Stock {
		t += s.cutime + s.cstime
	}
	return float64(t) / clockTicks, nil
}

// statusKiB reads a "Key:   N kB" line of /proc/PID/status (0 when gone).
func statusKiB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// descendants lists the processes below pid (children, grandchildren, ...).
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := readStat(p); err == nil {
			parent[p] = s.ppid
		}
	}
	in := map[int]bool{pid: true}
	var out []int
	// A process tree is shallow; a few passes settle it (bounded loop).
	for pass := 0; pass < 8; pass++ {
		grew := false
		for p, pp := range parent {
			if in[pp] && !in[p] {
				in[p] = true
				out = append(out, p)
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	return out
}

// treeRSS is the summed VmRSS of pid and (when tree) its descendants.
func treeRSS(pid int, tree bool) int64 {
	sum := statusKiB(pid, "VmRSS")
	if tree {
		for _, p := range descendants(pid) {
			sum += statusKiB(p, "VmRSS")
		}
	}
	return sum
}

// sampler records the peak RSS of a daemon every 20 ms until stopped.
type sampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak int64
}

func startSampler(pid int, tree bool) *sampler {
	s := &sampler{stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if r := treeRSS(pid, tree); r > s.peak {
				s.peak = r
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the peak in KiB.
func (s *sampler) Stop() int64 {
	close(s.stop)
	s.wg.Wait()
	return s.peak
}
