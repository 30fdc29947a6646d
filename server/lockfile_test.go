package server

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

// TestClaimLockFile: the slots of one lock file, claimed through separate
// opens in one process, count against the instance and module limits.
func TestClaimLockFile(t *testing.T) {
	type step struct {
		module  string
		modMax  int
		release int // >0: close the lock of step release-1 instead of claiming
		limit   int // the limit claim must report, 0: it must succeed
	}
	cases := []struct {
		name    string
		instMax int
		steps   []step
	}{
		{"instance limit", 2, []step{
			{module: "a", limit: 0}, {module: "b", limit: 0}, {module: "a", limit: 2},
			{release: 1}, {module: "b", limit: 0}, {module: "a", limit: 2},
		}},
		{"module limit", 0, []step{
			{module: "a", modMax: 1}, {module: "a", modMax: 1, limit: 1},
			{module: "b", modMax: 1}, {module: "b", modMax: 1, limit: 1},
			{release: 1}, {module: "a", modMax: 1},
		}},
		{"module limit before instance limit", 3, []step{
			{module: "a", modMax: 1}, {module: "a", modMax: 1, limit: 1},
			{module: "b", modMax: 5}, {module: "b", modMax: 5}, {module: "b", modMax: 5, limit: 3},
		}},
		{"no limits: no lock", 0, []step{{module: "a"}, {module: "a"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{MaxConnections: c.instMax, LockFile: filepath.Join(t.TempDir(), "lock")}
			held := make([]*slotLock, len(c.steps))
			t.Cleanup(func() {
				for _, l := range held {
					l.Close()
				}
			})
			for i, st := range c.steps {
				if st.release > 0 {
					if err := held[st.release-1].Close(); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					held[st.release-1] = nil
					continue
				}
				l, limit, err := claimLockFile(cfg, st.module, st.modMax)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if limit != st.limit {
					t.Fatalf("step %d (%s): limit %d, want %d", i, st.module, limit, st.limit)
				}
				if (l != nil) != (limit == 0 && (c.instMax > 0 || st.modMax > 0)) {
					t.Fatalf("step %d: lock %v with limit %d", i, l, limit)
				}
				held[i] = l
			}
		})
	}
}

// TestClaimLockFileErrors: a lock file that cannot be opened is an error,
// not a refusal nor a pass; a symlink as the lock file is refused.
func TestClaimLockFileErrors(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(filepath.Join(dir, "target"), link))
	for _, path := range []string{filepath.Join(dir, "missing", "lock"), link} {
		cfg := &Config{MaxConnections: 1, LockFile: path}
		l, limit, err := claimLockFile(cfg, "a", 0)
		if err == nil || l != nil || limit != 0 {
			t.Errorf("%s: lock %v limit %d err %v, want an error", path, l, limit, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "target")); err == nil {
		t.Error("the symlink was followed")
	}
}

// TestServerClaimLockFile: Server.claim refuses when another open holds
// the only slot although this process counts no connection, and gives its
// in-process count back.
func TestServerClaimLockFile(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "lock")
	m := modules.New("backup", t.TempDir())
	m.MaxConnections = 1
	other, limit, err := claimLockFile(&Config{LockFile: lock}, "backup", 1)
	if err != nil || limit != 0 {
		t.Fatalf("claim: %d %v", limit, err)
	}
	s := New(&Config{LockFile: lock}, nil)
	if _, limit, err := s.claim(s.Config(), &m); limit != 1 || err != nil {
		t.Fatalf("claim while another process holds the slot: limit %d err %v, want 1", limit, err)
	}
	if s.Active() != 0 {
		t.Fatalf("a refused claim left Active() = %d", s.Active())
	}
	other.Close()
	l, limit, err := s.claim(s.Config(), &m)
	if limit != 0 || err != nil {
		t.Fatalf("claim after the slot was freed: limit %d err %v", limit, err)
	}
	s.release(&m, l)
	if s.Active() != 0 {
		t.Fatalf("Active() = %d after release", s.Active())
	}
}

// lockHelperEnv makes the test binary a lock-holding helper process (see
// TestMain): "ofd:PATH:MAX" claims an instance slot as rsyncd-go does,
// "classic:PATH:N" locks record N with a classic fcntl lock as rsyncd does.
const lockHelperEnv = "RSYNCD_GO_LOCK_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(lockHelperEnv); spec != "" {
		os.Exit(lockHelper(spec))
	}
	os.Exit(m.Run())
}

// lockHelper takes the lock, says "held" on stdout, and holds it until
// stdin closes.
func lockHelper(spec string) int {
	var kind, path string
	var n int
	if _, err := fmt.Sscanf(spec, "%s %s %d", &kind, &path, &n); err != nil {
		fmt.Println("bad spec:", err)
		return 2
	}
	switch kind {
	case "ofd":
		l, limit, err := claimLockFile(&Config{LockFile: path, MaxConnections: n}, "m", 0)
		if err != nil || limit != 0 {
			fmt.Println("claim:", limit, err)
			return 1
		}
		defer l.Close()
	case "classic":
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer f.Close()
		lk := unix.Flock_t{Type: unix.F_WRLCK, Start: int64(n) * 4, Len: 4}
		if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
			fmt.Println("F_SETLK:", err)
			return 1
		}
	}
	fmt.Println("held")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// TestLockFileAcrossProcesses: slots held by other processes count, both
// rsyncd-go's (OFD locks) and stock rsyncd's (classic locks on record i at
// offset 4i), and are freed when the holder exits.
func TestLockFileAcrossProcesses(t *testing.T) {
	for _, kind := range []string{"ofd", "classic"} {
		t.Run(kind, func(t *testing.T) {
			lock := filepath.Join(t.TempDir(), "lock")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), lockHelperEnv+"="+kind+" "+lock+" "+strconv.Itoa(map[string]int{"ofd": 1, "classic": 0}[kind]))
			stdin, err := cmd.StdinPipe()
			must(t, err)
			stdout, err := cmd.StdoutPipe()
			must(t, err)
			must(t, cmd.Start())
			done := make(chan struct{})
			var waitErr error
			t.Cleanup(func() {
				stdin.Close()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
				}
			})
			line, err := bufio.NewReader(stdout).ReadString('\n')
			go func() {
				waitErr = cmd.Wait()
				close(done)
			}()
			if err != nil || line != "held\n" {
				t.Fatalf("helper: %q %v", line, err)
			}

			cfg := &Config{MaxConnections: 1, LockFile: lock}
			if l, limit, err := claimLockFile(cfg, "m", 0); limit != 1 || err != nil {
				l.Close()
				t.Fatalf("with the helper holding slot 0: limit %d err %v, want 1", limit, err)
			}
			// A second slot is free.
			l, limit, err := claimLockFile(&Config{MaxConnections: 2, LockFile: lock}, "m", 0)
			if limit != 0 || err != nil {
				t.Fatalf("max 2: limit %d err %v", limit, err)
			}
			l.Close()

			stdin.Close()
			select {
			case <-done:
				if waitErr != nil {
					t.Fatalf("helper: %v", waitErr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the helper did not exit")
			}
			l, limit, err = claimLockFile(cfg, "m", 0)
			if limit != 0 || err != nil {
				t.Fatalf("after the helper exited: limit %d err %v", limit, err)
			}
			l.Close()
		})
	}
}

func TestModuleRegion(t *testing.T) {
	for _, name := range []string{"", "backup", "Backup", "www", string(make([]byte, 4096))} {
		r := moduleRegion(name)
		if r < 1<<lockRegionBits || r > (lockRegionMask+1)<<lockRegionBits || r%(1<<lockRegionBits) != 0 {
			t.Errorf("moduleRegion(%q) = %#x: outside the module regions", name, r)
		}
	}
	if moduleRegion("backup") == moduleRegion("Backup") {
		t.Error("module names differing in case share a region")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
