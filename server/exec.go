package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

// Bounds of the exec hooks: the pre-xfer output shown to the client is what
// stock rsyncd keeps (BIGPATHBUFLEN-1 bytes); other output is logged, cut.
const (
	maxPreXferOutput = 5119
	maxHookLog       = 4096
	maxRequestLen    = 1024 // RSYNC_REQUEST grows while shorter than this
	hookWaitDelay    = 5 * time.Second
)

// hookSeq numbers sessions for RSYNC_PID, which stock rsyncd fills with the
// session's process id: unique per transfer, shared by its pre and post hooks.
var hookSeq atomic.Int64

// nextSessionID is a new session's id: RSYNC_PID and the [N] of its
// lines in a log in rsyncd's words.
func nextSessionID() int64 {
	return int64(os.Getpid())<<20 | hookSeq.Add(1)&(1<<20-1)
}

// hooks runs one session's "early exec", "pre-xfer exec" and "post-xfer
// exec" commands with the RSYNC_* environment of rsyncd.conf(5).
type hooks struct {
	ctx context.Context
	m   *modules.Module
	log *slog.Logger
	env []string // the daemon's environment plus the session's RSYNC_* values
}

// newHooks returns the hooks of a session of m, or nil when the module has
// none or RSYNC_NO_XFER_EXEC is set (as in stock rsyncd).
func newHooks(ctx context.Context, log *slog.Logger, m *modules.Module, addr, host, user string, pid int64) *hooks {
	if m.EarlyExec == "" && m.PreXferExec == "" && m.PostXferExec == "" {
		return nil
	}
	if _, off := os.LookupEnv("RSYNC_NO_XFER_EXEC"); off {
		return nil
	}
	env := append(os.Environ(),
		"RSYNC_MODULE_NAME="+m.Name,
		"RSYNC_MODULE_PATH="+m.Path,
		"RSYNC_HOST_ADDR="+addr,
		"RSYNC_HOST_NAME="+host,
		"RSYNC_USER_NAME="+user,
		"RSYNC_PID="+strconv.FormatInt(pid, 10),
	)
	return &hooks{ctx: ctx, m: m, log: log, env: env}
}

// early runs "early exec" before the arguments are read; false means the
// session is refused with "@ERROR: early exec failed".
func (h *hooks) early() bool {
	if h == nil || h.m.EarlyExec == "" {
		return true
	}
	// The request is not known yet; stdin would carry the client's
	// --early-input data, which this daemon does not take: it is empty.
	status, _, err := h.run("early exec", h.m.EarlyExec, []string{"RSYNC_REQUEST=(NONE)"}, false)
	return err == nil && status == 0
}

// preXfer runs "pre-xfer exec" once the arguments are in. rawPaths are the
// path arguments as the client sent them (module name included), args the
// arguments as the transfer sees them. It returns "" or the text stock
// rsyncd sends the client when the command fails.
func (h *hooks) preXfer(rawPaths, args []string) string {
	if h == nil || h.m.PreXferExec == "" {
		return ""
	}
	env := []string{"RSYNC_REQUEST=" + request(rawPaths), "RSYNC_ARG0=rsyncd"}
	for i, a := range args {
		env = append(env, fmt.Sprintf("RSYNC_ARG%d=%s", i+1, a))
	}
	status, out, err := h.run("pre-xfer exec", h.m.PreXferExec, env, true)
	if err == nil && status == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pre-xfer exec returned failure (%d)", status)
	if err != nil {
		fmt.Fprintf(&b, ": %v", err)
	}
	if len(out) > 0 {
		b.WriteString(":")
	}
	b.WriteString("\n")
	// Only the CR of a CRLF goes, as in stock rsyncd.
	b.Write(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n")))
	return b.String()
}

// postXfer runs "post-xfer exec" after the session with its exit code.
func (h *hooks) postXfer(code int) {
	if h == nil || h.m.PostXferExec == "" {
		return
	}
	env := []string{
		// What waitpid reports for a process that exited with code.
		"RSYNC_RAW_STATUS=" + strconv.Itoa(code<<8),
		"RSYNC_EXIT_STATUS=" + strconv.Itoa(code),
	}
	_, _, _ = h.run("post-xfer exec", h.m.PostXferExec, env, false)
}

// request is RSYNC_REQUEST: the path arguments joined by spaces, grown
// while shorter than maxRequestLen, as rsyncd's read_args builds it.
func request(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		if b.Len() >= maxRequestLen {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
	}
	return b.String()
}

// run runs cmd through the shell ($RSYNC_SHELL, else /bin/sh) with an
// empty stdin. It returns the raw wait status as stock rsyncd reports it
// (exit code << 8; 256 for a command killed by a signal, which rsyncd's
// intermediate process turns into exit code 1) and, with keepStdout, what
// the command printed on stdout. stderr (and stdout otherwise) is logged.
// The command and everything it started is killed when the server is
// forced down.
func (h *hooks) run(what, command string, extra []string, keepStdout bool) (int, []byte, error) {
	shell := os.Getenv("RSYNC_SHELL")
	if shell == "" {
		shell = "/bin/sh"
	}
	cmd := exec.CommandContext(h.ctx, shell, "-c", command)
	cmd.Env = append(append([]string(nil), h.env...), extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = hookWaitDelay // a background child holding the pipes
	stdout := &capped{max: maxHookLog}
	if keepStdout {
		stdout.max = maxPreXferOutput
	}
	stderr := &capped{max: maxHookLog}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	err := cmd.Run()
	status := 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		err = nil
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Exited() {
			status = ws.ExitStatus() << 8
		} else {
			status = 1 << 8
		}
	default:
		status = -1
		err = fmt.Errorf("%s: %w", what, err)
	}
	attrs := []any{"command", command, "status", status, "duration", time.Since(start).Round(time.Millisecond)}
	if !keepStdout && stdout.Len() > 0 {
		attrs = append(attrs, "stdout", stdout.String())
	}
	if stderr.Len() > 0 {
		attrs = append(attrs, "stderr", stderr.String())
	}
	switch {
	case err != nil:
		h.log.Warn(what+" could not run", append(attrs, "err", err)...)
	case status != 0:
		h.log.Warn(what+" failed", attrs...)
	default:
		h.log.Info(what+" done", attrs...)
	}
	return status, stdout.Bytes(), err
}

// capped keeps the first max bytes written to it and drops the rest, so a
// chatty command neither blocks nor grows the daemon's memory.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// pathArgs are the arguments after the "." that ends the options: the
// paths the client asked for.
func pathArgs(args []string) []string {
	for i, a := range args {
		if a == "." {
			return args[i+1:]
		}
	}
	return nil
}
