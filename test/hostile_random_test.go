package test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Stages of a connection at which TestRandomBytes starts sending garbage.
const (
	stageConnect = iota // instead of the greeting
	stageGreeted        // after the greeting: the module name and on
	stageModule         // after the module: the auth response
	stageAuthed         // after "@RSYNCD: OK": the arguments
	stageSession        // after the protocol setup: multiplexed frames
	numStages
)

// TestRandomBytes: 100 connections sending random bytes, at every stage
// of the handshake and of the session, and a multi-megabyte line without
// newline at each line-reading stage, all at once from one address. The
// daemon then still serves an honest push, its memory peak stays bounded,
// and its descriptors return to where they were.
func TestRandomBytes(t *testing.T) {
	raiseNoFile(t, 2048)
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 5)
	mustRsync(t, d, "-a", src+"/", d.URL("backup/first/"))
	baseFDs := daemonFDs(t, d)

	type job struct {
		stage int
		data  []byte
	}
	rng := rand.New(rand.NewPCG(7, 11))
	var jobs []job
	for i := range 100 {
		b := make([]byte, 1+rng.IntN(64<<10))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		jobs = append(jobs, job{i % numStages, b})
	}
	line := bytes.Repeat([]byte("A"), 4<<20)
	for _, s := range []int{stageConnect, stageGreeted, stageModule, stageAuthed} {
		jobs = append(jobs, job{s, line})
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(jobs))
	for _, j := range jobs {
		wg.Go(func() {
			if err := garbageConn(d, j.stage, j.data); err != nil {
				errs <- fmt.Errorf("stage %d, %d bytes: %w", j.stage, len(j.data), err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	mustRsync(t, d, "-a", src+"/", d.URL("backup/second/"))
	compareTrees(t, src, filepath.Join(d.Data, "second"), true)
	if hwm := daemonHWM(t, d); hwm > maxDaemonHWM {
		t.Errorf("daemon memory peak %d MiB exceeds %d MiB", hwm>>20, maxDaemonHWM>>20)
	} else {
		t.Logf("daemon memory peak: %d MiB", hwm>>20)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := daemonFDs(t, d)
		if n <= baseFDs {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the daemon holds %d descriptors, %d before the garbage", n, baseFDs)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// garbageConn connects, goes through the handshake up to stage, sends data,
// half-closes and waits until the daemon closes the connection.
func garbageConn(d *daemon, stage int, data []byte) error {
	if stage == stageSession {
		h, err := dialHostile(d, []string{"--server", "-logDtpre.LsfxCIv", ".", "backup/"}, "", -1, false)
		if err != nil {
			if h != nil {
				h.close()
			}
			return fmt.Errorf("handshake: %w", err)
		}
		return sendGarbage(h.conn.Conn, data)
	}
	nc, err := net.DialTimeout("tcp", d.Addr, 5*time.Second)
	if err != nil {
		return err
	}
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
	cc := &cutConn{Conn: nc, limit: -1}
	h := &hclient{conn: cc, r: wire.NewReader(cc), w: wire.NewWriter(cc)}
	switch stage {
	case stageGreeted:
		_, err = io.WriteString(nc, "@RSYNCD: 32.0 md5\n")
	case stageModule:
		if _, err = io.WriteString(nc, "@RSYNCD: 32.0 md5\nbackup\n"); err == nil {
			for _, want := range []string{"@RSYNCD: 32", "@RSYNCD: AUTHREQD"} {
				var l string
				if l, err = h.r.ReadLine(4096); err == nil && !bytes.HasPrefix([]byte(l), []byte(want)) {
					err = fmt.Errorf("got %q, want %s", l, want)
				}
			}
		}
	case stageAuthed:
		err = h.login()
	}
	if err != nil {
		nc.Close()
		return fmt.Errorf("handshake: %w", err)
	}
	return sendGarbage(nc, data)
}

// sendGarbage sends data, half-closes nc and waits until the daemon closes
// it; then closes it.
func sendGarbage(nc net.Conn, data []byte) error {
	defer nc.Close()
	// The daemon may close as soon as it sees garbage: write errors are fine.
	_, _ = nc.Write(data)
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, nc); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return fmt.Errorf("the daemon kept the connection open")
		}
	}
	return nil
}

// daemonFDs counts the daemon process's open descriptors.
func daemonFDs(t testing.TB, d *daemon) int {
	t.Helper()
	des, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid))
	must(t, err)
	return len(des)
}
