package test

import (
	"bytes"
	"context"
	"log"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gokrazy/rsync/rsynccmd"
)

// TestGokrazyClientPush pushes with gokrazy/rsync's pure-Go client, an
// independent protocol-27 implementation, into a module without auth (the
// client has none). That client does not pass --delete on, so after the
// second push the destination may hold what the source deleted.
func TestGokrazyClientPush(t *testing.T) {
	captureStdLog(t)
	d := startDaemon(t, "", `
modules:
  - name: open
    path: {{DATA}}
    read_only: false
`)
	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 3)
	for round := range 2 {
		if round == 1 {
			mutateTree(t, src)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var stdout, stderr bytes.Buffer
		cmd := rsynccmd.Command("rsync", "-a", src+"/", "rsync://"+d.Addr+"/open/")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_, err := cmd.Run(ctx)
		cancel()
		if err != nil {
			t.Fatalf("gokrazy rsync push (round %d): %v\nstdout:%s\nstderr:%s", round, err, stdout.String(), stderr.String())
		}
		compareTreesOpt(t, src, d.Data, false, round > 0)
	}
}

// captureStdLog keeps the standard logger's output (gokrazy/rsync's client
// logs every file through it) out of the test output unless the test fails,
// so a CI log's tail shows the failure rather than a client's chatter. The
// gokrazy tests are not parallel, so nothing else logs meanwhile.
func captureStdLog(t *testing.T) {
	var buf syncBuffer
	log.SetOutput(&buf)
	t.Cleanup(func() {
		log.SetOutput(os.Stderr)
		if t.Failed() {
			t.Logf("gokrazy/rsync client log:\n%s", buf.String())
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
