package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiling is a developer aid: with RSYNCD_GO_CPUPROFILE=FILE the
// daemon writes a CPU profile to FILE, and with RSYNCD_GO_MEMPROFILE=FILE a
// heap profile (allocations since start, and what is live at exit), when it
// exits normally (SIGTERM or SIGINT). The returned func writes them.
func startProfiling() (stop func()) {
	cpuFile, memFile := os.Getenv("RSYNCD_GO_CPUPROFILE"), os.Getenv("RSYNCD_GO_MEMPROFILE")
	if memFile != "" {
		runtime.MemProfileRate = 4096 // finer than the default 512 KiB: a session allocates little
	}
	var cpu *os.File
	if cpuFile != "" {
		f, err := os.Create(cpuFile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
			if err != nil {
				f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "rsyncd-go: RSYNCD_GO_CPUPROFILE: %v\n", err)
		} else {
			cpu = f
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				fmt.Fprintf(os.Stderr, "rsyncd-go: RSYNCD_GO_CPUPROFILE: %v\n", err)
			}
		}
		if memFile != "" {
			if err := writeHeapProfile(memFile); err != nil {
				fmt.Fprintf(os.Stderr, "rsyncd-go: RSYNCD_GO_MEMPROFILE: %v\n", err)
			}
		}
	}
}

func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("creating heap profile: %w", err)
	}
	runtime.GC() // live objects as of now
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("writing heap profile: %w", err)
	}
	return f.Close()
}
