package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/auth"
	"github.com/rsyncd-go/rsyncd-go/modules"
	"github.com/rsyncd-go/rsyncd-go/protocol"
	"github.com/rsyncd-go/rsyncd-go/protocol/options"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
	"github.com/rsyncd-go/rsyncd-go/rsyncdlog"
)

// Protocol versions this daemon speaks.
const (
	ProtocolVersion    = 32
	MinProtocolVersion = 27
)

// Handshake bounds.
const (
	maxLine    = 4096 // a greeting, module or auth line
	maxArgs    = 1024
	maxArgLen  = 4096
	maxArgsLen = 256 * 1024
)

var errTooManyFiles = syscall.EMFILE

// conn is one client connection going through the daemon handshake.
type conn struct {
	srv    *Server
	c      net.Conn
	cfg    *Config
	remote netip.AddrPort
	log    *slog.Logger
	r      *wire.Reader
	w      *wire.Writer
	proto  int
	// host is the client's name as rsyncd uses it (%h, RSYNC_HOST_NAME):
	// its checked name, UNKNOWN, or UNDETERMINED; set by the access check.
	host string
	id   int64 // the session's id: RSYNC_PID, the [N] of its rsyncd lines
}

// deadlineConn sets a deadline before every read and write, so an idle peer
// is cut off after d (the "timeout" setting, or the handshake bound).
type deadlineConn struct {
	net.Conn
	d     time.Duration
	bw    *bwLimiter // --bwlimit pacing of writes, nil for none
	quick quickAck   // tune.go
	raw   syscall.RawConn
}

func newDeadlineConn(c net.Conn) *deadlineConn {
	dc := &deadlineConn{Conn: c, quick: newQuickAck(c)}
	if sc, ok := c.(syscall.Conn); ok {
		dc.raw, _ = sc.SyscallConn()
	}
	return dc
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.d > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.d))
	}
	c.quick.before()
	n, err := c.Conn.Read(p)
	c.quick.after(n)
	return n, err
}

// ReadNow reads what has arrived without waiting (wire.NowReader), so the
// engine can work ahead while the client is quiet. On a connection that
// is not a descriptor it reports nothing arrived, and the engine works
// ahead as far as it may before it waits.
func (c *deadlineConn) ReadNow(p []byte) (int, error) {
	if c.raw == nil || len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	// Control, not Read: the descriptor is non-blocking, and a passed
	// read deadline is for waiting, which this does not do.
	cerr := c.raw.Control(func(fd uintptr) { n, err = unix.Read(int(fd), p) })
	switch {
	case cerr != nil:
		return 0, cerr
	case err == unix.EAGAIN || err == unix.EINTR:
		return 0, nil
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", err)}
	case n == 0:
		return 0, io.EOF
	}
	c.quick.after(n)
	return n, nil
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if c.d > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	}
	if c.bw != nil {
		return c.bw.write(c.Conn, p)
	}
	return c.Conn.Write(p)
}

func (s *conn) printf(format string, args ...any) error {
	if err := s.w.WriteString(fmt.Sprintf(format, args...)); err != nil {
		return err
	}
	return s.w.Flush()
}

// refuse sends rsyncd's @ERROR line and logs why.
func (s *conn) refuse(logMsg string, format string, args ...any) {
	s.refuseLine("", logMsg, format, args...)
}

// refuseLine is refuse where stock rsyncd logs line (its words) too.
func (s *conn) refuseLine(line, logMsg string, format string, args ...any) {
	s.log.Warn(logMsg, "reply", strings.TrimSpace(fmt.Sprintf(format, args...)), rsyncdlog.Line(line))
	_ = s.printf("@ERROR: "+format+"\n", args...)
}

func (s *conn) serve(ctx context.Context) {
	hs := s.cfg.HandshakeTimeout
	if hs <= 0 {
		hs = 60 * time.Second
	}
	// The whole handshake must finish in hs, however slowly the peer
	// trickles bytes, and one address cannot hold many handshakes open.
	_ = s.c.SetDeadline(time.Now().Add(hs))
	var early []byte // client bytes read along with a PROXY header
	if s.cfg.ProxyProtocol {
		var ok bool
		if early, ok = s.readProxyHeader(); !ok {
			return
		}
	}
	addr := s.remote.Addr()
	if !s.srv.guard.enter(addr, s.c, time.Now()) {
		s.log.Warn("too many handshakes from this address; dropped", "limit", hardHandshakesPerAddr)
		return
	}
	inHandshake := true
	defer func() {
		if inHandshake {
			s.srv.guard.leave(addr, s.c)
		}
	}()
	s.tuneConn() // "socket options"
	dc := newDeadlineConn(s.c)
	s.r = wire.NewReader(prefixed(early, dc))
	s.w = wire.NewWriter(dc)
	s.id = nextSessionID()
	s.log = s.log.With(rsyncdlog.PID(s.id))
	// rsyncd names the client by the global "reverse lookup" here, before
	// any module is chosen.
	connHost := s.connectHost(ctx)
	s.log.Info("connect", rsyncdlog.Line(fmt.Sprintf("connect from %s (%s)", connHost, addr)))
	// After everything the session did, temp files removed included.
	defer s.log.Debug("disconnect")

	if err := s.printf("@RSYNCD: %d.0 %s\n", ProtocolVersion, strings.Join(auth.DaemonDigests(), " ")); err != nil {
		return
	}
	if s.cfg.Motd != "" {
		// rsyncd sends the file as it is, then a newline.
		if err := s.printf("%s\n", s.cfg.Motd); err != nil {
			return
		}
	}
	line, err := s.r.ReadLine(maxLine)
	if err != nil {
		s.log.Debug("no greeting", "err", err)
		return
	}
	s.srv.guard.progress(addr, s.c, time.Now())
	g, err := parseGreeting(line)
	if err != nil {
		s.refuse("bad greeting", "%s", err)
		return
	}
	s.proto = g.protocol
	s.log = s.log.With("protocol", g.protocol)
	module, err := s.r.ReadLine(maxLine)
	if err != nil {
		return
	}
	s.srv.guard.progress(addr, s.c, time.Now())
	obs := s.srv.observer()
	if module == "" || module == "#list" {
		obs.Connection("")
		s.log.Info("module-list request", rsyncdlog.Line(fmt.Sprintf("module-list request from %s (%s)", connHost, addr)))
		s.sendListing()
		return
	}
	if strings.HasPrefix(module, "#") {
		s.refuse("unknown command", "Unknown command '%s'", module)
		return
	}
	m := s.findModule(module)
	obs.Connection(module) // the observer bounds names to configured ones
	if m == nil {
		obs.Refused(module, refusedUnknownModule)
		s.refuseLine(fmt.Sprintf("unknown module '%s' tried from %s (%s)", module, connHost, addr),
			"unknown module", "Unknown module '%s'", module)
		return
	}
	s.log = s.log.With("module", m.Name)
	allowed, hostName := s.access(ctx, m) // lookup.go
	if hostName == "" && m.ReverseLookup && s.stockLog() {
		// rsyncd looks the name up for its log lines whatever the rules.
		hostName = s.clientName(ctx, s.remote.Addr())
	}
	s.host = hostName
	if hostName == "" {
		hostName = modules.UndeterminedHost // not looked up: no rule or line needed it
	}
	host := s.remote.Addr().String()
	if !allowed {
		obs.Refused(m.Name, refusedAccessDenied)
		line := fmt.Sprintf("rsync denied on module %s from %s (%s)", module, hostName, host)
		if !m.List {
			s.refuseLine(line, "rsync denied", "Unknown module '%s'", module)
		} else {
			s.refuseLine(line, "rsync denied", "access denied to %s from %s (%s)", module, hostName, host)
		}
		return
	}
	s.log.Info("access allowed", rsyncdlog.Line(fmt.Sprintf("rsync allowed access on module %s from %s (%s)", module, hostName, host)))
	if m.MaxConnections < 0 {
		obs.Refused(m.Name, refusedMaxConnections)
		s.refuseLine(fmt.Sprintf("max connections (%d) reached", m.MaxConnections),
			"module disabled", "max connections (%d) reached -- try again later", m.MaxConnections)
		return
	}
	slots, limit, err := s.srv.claim(s.cfg, m)
	if err != nil {
		obs.Refused(m.Name, refusedLockFile)
		s.refuseLine("failed to open lock file: "+err.Error(), "failed to open lock file: "+err.Error(), "failed to open lock file")
		return
	}
	if limit != 0 {
		obs.Refused(m.Name, refusedMaxConnections)
		s.refuseLine(fmt.Sprintf("max connections (%d) reached", limit),
			"max connections reached", "max connections (%d) reached -- try again later", limit)
		return
	}
	defer s.srv.release(m, slots)

	readOnly := m.ReadOnly
	user := ""
	if len(m.AuthUsers) > 0 {
		var access auth.Access
		var ok bool
		user, access, ok = s.authenticate(m, g.digests, g.listSent, s.peerHost())
		if !ok {
			return
		}
		switch access {
		case auth.ReadOnly:
			readOnly = true
		case auth.ReadWrite:
			readOnly = false
		}
		s.log = s.log.With("user", user)
	}

	if modules.HasConnVars(m.Path) {
		// "path = /home/%RSYNC_USER_NAME%": resolved per connection; the
		// session goes on with a copy of the module holding the result.
		p, err := m.ExpandPath(modules.ConnVars{User: user, Module: m.Name, HostAddr: host, HostName: s.peerHost()})
		if err != nil {
			obs.Refused(m.Name, refusedModulePath)
			s.refuse("module path unusable: "+err.Error(), "chdir failed")
			return
		}
		mc := *m
		mc.Path = p
		m = &mc
	}
	root, err := os.OpenRoot(m.Path)
	if err != nil {
		obs.Refused(m.Name, refusedModulePath)
		s.refuse("module path unusable: "+err.Error(), "chdir failed")
		return
	}
	defer root.Close()
	var runAs *protocol.Identity
	if os.Geteuid() == 0 {
		// Not root, CheckSupported allowed only the daemon's own identity.
		if runAs, err = moduleIdentity(m); err != nil {
			s.refuse("module uid/gid unusable: "+err.Error(), "%s", err)
			return
		}
	}
	var tempDir *os.Root
	if m.TempDir != "" {
		// Inside the module, as rsyncd resolves it; a missing one fails
		// the pushes only (protocol.Session.TempDirMissing).
		if tempDir, err = root.OpenRoot(modules.TempDirIn(m.TempDir)); err == nil {
			defer tempDir.Close()
		}
	}
	if m.MungeSymlinks && mungeDirExists() {
		// A munged symlink would lead somewhere real (rsyncd's check).
		s.refuseLine("Symlink munging is unsafe when a /rsyncd-munged/ directory exists.",
			"symlink munging is unsafe when a /rsyncd-munged directory exists", "daemon security issue -- contact admin")
		return
	}

	hk := newHooks(ctx, s.log, m, addr.String(), s.peerHost(), user, s.id)
	exitCode := rerr.StreamIO // what post-xfer exec sees when the session breaks off
	if hk != nil {
		defer func() {
			// As with stock rsyncd, the hook runs once the client is gone.
			_ = s.c.Close()
			hk.postXfer(exitCode)
		}()
	}
	if !hk.early() {
		exitCode = 255 // rsyncd's session process exits with -1
		s.refuse("early exec failed", "early exec failed")
		return
	}
	if err := s.printf("@RSYNCD: OK\n"); err != nil {
		return
	}
	args, err := s.readArgs()
	if err != nil {
		s.log.Warn("reading arguments failed", "err", err)
		return
	}
	rawArgs := args // for pre-xfer exec's RSYNC_REQUEST
	args = stripModule(args, m.Name)
	inHandshake = false
	s.srv.guard.leave(addr, s.c)
	// From here on only the idle timeout applies.
	_ = s.c.SetDeadline(time.Time{})
	timeout := s.cfg.Timeout
	if m.Timeout > 0 && (timeout == 0 || m.Timeout < timeout) {
		timeout = m.Timeout
	}
	dc.d = timeout

	engineLog := s.log.With(rsyncdlog.Verbatim()) // the engine logs rsync's own texts
	sess := &protocol.Session{
		Protocol:     s.proto,
		Root:         root,
		Module:       m.Name,
		ReadOnly:     readOnly,
		WriteOnly:    m.WriteOnly,
		IgnoreErrors: m.IgnoreErrors,
		NumericIDs:   m.NumericIDs,
		Filter: protocol.DaemonFilter{
			Filter: m.Filter, Include: m.Include, Exclude: m.Exclude,
			IncludeFrom: m.IncludeFrom, ExcludeFrom: m.ExcludeFrom,
		},
		Timeout: timeout,
		Umask:   s.cfg.Umask,
		Log:     engineLog,
		Conn:    s.c, // drained after a fatal receiver error, as rsyncd does

		DontCompress: m.DontCompress,

		IncomingChmod:     m.IncomingChmod,
		OutgoingChmod:     m.OutgoingChmod,
		MungeSymlinks:     m.MungeSymlinks,
		IgnoreNonreadable: m.IgnoreNonreadable,

		RunAs:       runAs,
		FakeSuper:   m.FakeSuper,
		TempDir:     tempDir,
		TempDirName: m.TempDir,
		OpenNoatime: m.OpenNoatime,
	}
	opts, perr := options.Parse(args, &options.Config{
		Protocol:    s.proto,
		Refuse:      m.RefuseOptions,
		Implemented: protocol.Implemented,
	})
	if perr == nil && opts.NeedSecluded() {
		// -s: the real arguments follow as a second, NUL-separated list.
		more, err := options.ReadArgs(s.r, true)
		if err != nil {
			s.log.Warn("reading secluded arguments failed", "err", err)
			return
		}
		rawArgs = append(rawArgs, more...)
		more = stripModule(more, m.Name)
		args = append(args, more...)
		opts, perr = opts.ParseSecluded(more)
	}
	msg := hk.preXfer(pathArgs(rawArgs), args)
	role := "Receiver" // who_am_i() of the session's "rsync error" line
	if slices.Contains(args, "--sender") {
		role = "sender"
	}
	s.logRequest(user, role == "sender", pathArgs(rawArgs))
	if msg != "" {
		exitCode = rerr.Unsupported
		s.log.Warn("pre-xfer exec refused the transfer", "args", args, rsyncdlog.Line(msg))
		s.logExit(rerr.Unsupported, role)
		protocol.RefuseText(s.r, s.w, s.proto, args, msg)
		return
	}
	start := time.Now()
	if perr != nil {
		exitCode = rerr.Unsupported
		s.log.Warn("arguments refused", "err", perr, "args", args, rsyncdlog.Line("rsync: "+strings.TrimRight(perr.Error(), "\n")))
		s.logExit(rerr.Unsupported, role)
		obs.Refused(m.Name, refusedArguments)
		protocol.Refuse(s.r, s.w, s.proto, args, perr)
		return
	}
	s.log.Info("transfer starting", "direction", direction(opts), "args", strings.Join(args, " "))
	sess.OnFile = s.startTransferLog(m, user, opts, pathArgs(rawArgs))
	opts.Verbose = limitVerbosity(opts.Verbose, m.MaxVerbosity)
	// --bwlimit: the client's, capped by the daemon's, paces what we send.
	dc.bw = newBwLimiter(effectiveBwlimit(s.cfg.Bwlimit, opts.Bwlimit))
	// rsyncd's engine logs these as its file list starts; a session the
	// module's policy refuses first ends before.
	switch {
	case opts.Sender && !m.WriteOnly:
		s.log.Info("file list", rsyncdlog.Line("building file list"))
	case !opts.Sender && !readOnly:
		s.log.Info("file list", rsyncdlog.Line("receiving file list"))
	}
	res, err := protocol.Serve(ctx, s.r, s.w, opts, sess)
	exitCode = rerr.Code(err)
	attrs := []any{
		"bytes_in", res.Read, "bytes_out", res.Wrote,
		"files", res.Stats.Transferred, "deleted", res.Stats.Deleted,
		"literal", res.Stats.Literal, "matched", res.Stats.Matched,
		"duration", time.Since(start).Round(time.Millisecond),
	}
	if err == nil || opts.Sender {
		// rsyncd's log_exit: its receiver logs the totals only when the
		// session succeeded, its sender always.
		attrs = append(attrs, rsyncdlog.Line(fmt.Sprintf("sent %d bytes  received %d bytes  total size %d",
			res.Wrote, res.Read, res.Stats.TotalSize)))
	}
	obs.Transfer(m.Name, direction(opts), res.Read, res.Wrote, time.Since(start), err != nil)
	if err != nil {
		s.log.Warn("transfer failed", append(attrs, "code", rerr.Code(err), "err", err)...)
		if c := rerr.Code(err); opts.Sender || (c != rerr.Partial && c != rerr.Vanished) {
			// A push that lost only some files ends without these lines
			// in stock's log (its receiver's exit is not logged).
			s.logFailure(err, role)
		}
	} else {
		s.log.Info("transfer done", attrs...)
	}
	s.linger()
}

// maxVerbosityLevels is rsync's MAX_VERBOSITY: a "max verbosity" above
// it limits nothing (options.c limit_output_verbosity).
const maxVerbosityLevels = 5

// limitVerbosity caps the client's -v count at the module's "max
// verbosity", as rsyncd caps its output levels once the arguments are in
// ("don't allow the logs to be flooded too fast").
func limitVerbosity(v, limit int) int {
	if limit > maxVerbosityLevels || v <= limit {
		return v
	}
	return max(limit, 0)
}

// connectHost is the client's name in "connect from": its looked-up name
// unless every module has "reverse lookup" off (rsyncd's global setting).
// Only a log in rsyncd's words shows it, so only that one costs a lookup.
func (s *conn) connectHost(ctx context.Context) string {
	if !s.stockLog() {
		return modules.UndeterminedHost
	}
	for i := range s.cfg.Modules {
		if s.cfg.Modules[i].ReverseLookup {
			return s.clientName(ctx, s.remote.Addr())
		}
	}
	return modules.UndeterminedHost
}

// stockLog tells whether the log is written in rsyncd's own form, whose
// lines carry the client's looked-up name.
func (s *conn) stockLog() bool {
	_, stock := s.log.Handler().(*rsyncdlog.Handler)
	return stock
}

// logRequest logs rsyncd's "rsync to MODULE/PATH from USER@HOST (ADDR)"
// ("rsync on" for a pull) once the arguments are in.
func (s *conn) logRequest(user string, sender bool, rawPaths []string) {
	dir := "to"
	if sender {
		dir = "on"
	}
	who := s.peerHost()
	if user != "" {
		who = user + "@" + who
	}
	s.log.Info("request", rsyncdlog.Line(fmt.Sprintf("rsync %s %s from %s (%s)", dir, request(rawPaths), who, s.remote.Addr())))
}

// logFailure logs what the client was told of a session's failure: the
// message, as rsyncd logs every error it reports (the engine logged the
// per-file ones itself), then the "rsync error" line.
func (s *conn) logFailure(err error, role string) {
	code := rerr.Code(err)
	var re *rerr.Error
	switch {
	case code == rerr.Partial || code == rerr.Vanished || code == rerr.SocketIO || code == rerr.Timeout || code == rerr.StreamIO:
	case errors.As(err, &re) && re.Msg != "":
		s.log.Info("error", rsyncdlog.Line(re.Msg))
	default:
		s.log.Info("error", rsyncdlog.Line(err.Error()))
	}
	s.logExit(code, role)
}

// logExit logs the "rsync error: ..." line rsyncd's session writes when it
// exits with code; where it failed is this daemon's name, as the client
// is told.
func (s *conn) logExit(code int, role string) {
	s.log.Info("exit", rsyncdlog.Line(fmt.Sprintf("rsync error: %s (code %d) at rsyncd-go [%s]", rerr.Describe(code), code, role)))
}

// linger half-closes the connection and reads what the client still sends
// (some clients write after the final goodbye), so closing does not reset
// the connection under the client's last read.
func (s *conn) linger() {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := s.c.(closeWriter)
	if !ok {
		return
	}
	_ = s.w.Flush()
	_ = cw.CloseWrite()
	_ = s.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(s.c, 1<<20))
}

func direction(o *options.Options) string {
	if o.Sender {
		return "send"
	}
	return "receive"
}

// greeting is what a client's "@RSYNCD: N.M digests" line says.
type greeting struct {
	protocol int    // the protocol both sides will speak
	digests  string // the client's auth digest list
	listSent bool   // whether the line had a digest list at all
}

// parseGreeting settles the protocol version from the client's greeting as
// exchange_protocols does. Its error text is the @ERROR reply.
func parseGreeting(line string) (greeting, error) {
	var g greeting
	startup := errors.New("protocol startup error")
	rest, found := strings.CutPrefix(line, "@RSYNCD: ")
	if !found {
		return g, startup
	}
	ver, list, hasList := strings.Cut(rest, " ")
	major, minor, hasMinor := strings.Cut(ver, ".")
	remote, err := strconv.Atoi(major)
	if err != nil || remote < 0 {
		return g, startup
	}
	sub := 0
	if hasMinor {
		if sub, err = strconv.Atoi(minor); err != nil {
			return g, startup
		}
	} else if remote >= 30 {
		return g, fmt.Errorf("your client omitted the subprotocol value: %s", line)
	}
	if !hasList && remote > 31 {
		return g, fmt.Errorf("your client omitted the digest name list: %s", line)
	}
	proto := ProtocolVersion
	if proto > remote {
		proto = remote
		if sub != 0 {
			proto--
		}
	} else if proto == remote && sub != 0 {
		proto--
	}
	if proto < MinProtocolVersion {
		return g, fmt.Errorf("protocol version %d is not supported (rsyncd-go speaks %d to %d)", remote, MinProtocolVersion, ProtocolVersion)
	}
	return greeting{protocol: proto, digests: list, listSent: hasList}, nil
}

func (s *conn) sendListing() {
	for i := range s.cfg.Modules {
		m := &s.cfg.Modules[i]
		if m.List {
			_ = s.w.WriteString(fmt.Sprintf("%-15s\t%s\n", m.Name, m.Comment))
		}
	}
	if s.proto >= 25 {
		_ = s.w.WriteString("@RSYNCD: EXIT\n")
	}
	_ = s.w.Flush()
}

func (s *conn) findModule(name string) *modules.Module {
	for i := range s.cfg.Modules {
		if s.cfg.Modules[i].Name == name {
			return &s.cfg.Modules[i]
		}
	}
	return nil
}

// authenticate runs the challenge/response of auth_server.
func (s *conn) authenticate(m *modules.Module, digestList string, listSent bool, host string) (string, auth.Access, bool) {
	peer := auth.Peer{Module: m.Name, Host: host, Addr: s.remote.Addr().String()}
	fail := func(err error) (string, auth.Access, bool) {
		// Repeated failures from one address are answered ever more slowly.
		delay := s.srv.guard.authFailed(s.remote.Addr(), time.Now())
		s.srv.observer().AuthFailed(m.Name)
		s.log.Warn("auth failed", "err", err, "delay", delay, rsyncdlog.Line(authLine(err, m.Name, host, peer.Addr)))
		if delay > 0 {
			time.Sleep(delay)
		}
		_ = s.printf("@ERROR: auth failed on module %s\n", m.Name)
		return "", auth.Default, false
	}
	d, err := auth.Negotiate(s.proto, digestList, listSent)
	if err != nil {
		s.log.Warn("auth digest negotiation failed", "err", err)
		_ = s.printf("@ERROR: %s\n", err)
		return "", auth.Default, false
	}
	if err := auth.CheckMinDigest(peer, d, m.AuthDigest); err != nil {
		return fail(err)
	}
	rules, err := auth.ParseUsers(m.AuthUsers)
	if err != nil {
		return fail(err)
	}
	challenge, err := auth.NewChallenge(d, peer.Addr)
	if err != nil {
		return fail(err)
	}
	if err := s.printf("@RSYNCD: AUTHREQD %s\n", challenge); err != nil {
		return "", auth.Default, false
	}
	line, err := s.r.ReadLine(auth.MaxLineLen)
	if err != nil {
		return fail(fmt.Errorf("reading the response: %w", err))
	}
	s.srv.guard.progress(s.remote.Addr(), s.c, time.Now())
	user, access, err := auth.Check(auth.Request{
		Peer:        peer,
		Digest:      d,
		Challenge:   challenge,
		Line:        line,
		Rules:       rules,
		SecretsFile: m.SecretsFile,
		StrictModes: m.StrictModes,
	})
	if err != nil {
		return fail(err)
	}
	s.srv.guard.authOK(s.remote.Addr())
	return user, access, true
}

// authLine is rsyncd's log line of a failed authentication: auth/ words
// its errors as stock does ("auth failed on module M from H (A) for U:
// password mismatch"); anything else gets that prefix.
func authLine(err error, module, host, addr string) string {
	if msg := err.Error(); strings.HasPrefix(msg, "auth failed on module ") {
		return msg
	}
	return fmt.Sprintf("auth failed on module %s from %s (%s): %v", module, host, addr, err)
}

// readArgs reads the client's arguments: NUL-terminated from protocol 30,
// lines before; an empty one ends the list.
func (s *conn) readArgs() ([]string, error) {
	var args []string
	total := 0
	for {
		var a string
		var err error
		if s.proto >= 30 {
			a, err = s.r.ReadArg(maxArgLen)
		} else {
			a, err = s.r.ReadLine(maxArgLen)
		}
		if err != nil {
			return nil, err
		}
		if a == "" {
			return args, nil
		}
		total += len(a)
		if len(args) >= maxArgs || total > maxArgsLen {
			return nil, errors.New("too many arguments")
		}
		args = append(args, a)
	}
}

// stripModule turns the path arguments after the "." into paths inside the
// module: "backup/dir" becomes "dir", "backup" becomes ".".
func stripModule(args []string, module string) []string {
	dot := -1
	for i, a := range args {
		if a == "." {
			dot = i
			break
		}
	}
	if dot < 0 {
		return args
	}
	out := append([]string(nil), args...)
	for i := dot + 1; i < len(out); i++ {
		p := out[i]
		if rest, ok := strings.CutPrefix(p, module); ok && (rest == "" || rest[0] == '/') {
			p = strings.TrimLeft(rest, "/")
		}
		if p == "" {
			p = "."
		}
		out[i] = p
	}
	return out
}

// peerHost is the client's host name for %h, RSYNC_HOST_NAME and the
// logs: the access check's, else its address (no module chosen yet).
func (s *conn) peerHost() string {
	if s.host != "" {
		return s.host
	}
	return s.remote.Addr().String()
}
