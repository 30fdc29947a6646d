package test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gokrazy/rsync/rsynccmd"
)

// TestGokrazyClientPush pushes with gokrazy/rsync's pure-Go client, an
// independent protocol-27 implementation, into a module without auth (the
// client has none). That client does not pass --delete on, so after the
// second push the destination may hold what the source deleted.
func TestGokrazyClientPush(t *testing.T) {
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
