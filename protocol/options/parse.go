package options

import (
	"errors"
	"math"
	"strings"
	"time"
)

// Bounds on what Parse and ReadArgs accept. Stock rsyncd reads at most
// 16000 arguments (MAX_DAEMON_ARGS) into a 5120-byte line buffer; it
// truncates longer lines, this package rejects them instead.
const (
	MaxArgs      = 16000
	MaxArgLen    = 5119
	MaxArgsBytes = 1 << 20 // total of one list
)

const (
	maxBasisDirs     = 20      // MAX_BASIS_DIRS
	maxPathLen       = 4096    // MAXPATHLEN on Linux
	maxBatchName     = 256     // MAX_BATCH_NAME_LEN
	maxBlockSize     = 1 << 17 // MAX_BLOCK_SIZE
	oldMaxBlock      = 1 << 29 // OLD_MAX_BLOCK_SIZE (protocol < 30)
	clvlNotGiven     = math.MinInt32
	maxDeleteUnset   = math.MinInt32
	tmpPartialDir    = ".~tmp~"
	maxDaemonThreads = 8
)

// Config is the daemon's side of the parse: the module's policy.
type Config struct {
	// Protocol is the protocol negotiated in the greeting (it bounds -B);
	// 0 means 32.
	Protocol int
	// Refuse holds the module's "refuse options" terms (each element may
	// itself be a space-separated list, as in rsyncd.conf).
	Refuse []string
	// Charset reports that the module sets "charset"; without it rsyncd
	// refuses --iconv.
	Charset bool
	// Implemented lists the options this daemon implements, by long name
	// (or letter, for -D, -F, -P). Any other option of rsync's table is
	// answered with an UnsupportedError when met. Nil means all. An
	// option's aliases (--del for --delete-during, --cc, ...) and its
	// negation (--no-NAME, --no-L) come with it; --server, --sender and -e
	// are always accepted.
	Implemented []string
	// Checksums and Compressions are the accepted --checksum-choice and
	// --compress-choice names; nil means stock 3.5.0's lists.
	Checksums    []string
	Compressions []string
	// Now is the clock for --stop-after and --stop-at; nil means time.Now.
	Now func() time.Time

	// stockServer makes Parse behave like "rsync --server" run by a remote
	// shell instead of rsyncd (no daemon refusals, no un-escaping, no
	// --crtimes); the tests compare it with the real binary.
	stockServer bool
}

// Stock 3.5.0's names (its --version "Checksum list" and "Compress list").
var (
	stockChecksums    = []string{"xxh128", "xxh3", "xxh64", "xxhash", "md5", "md4", "sha1", "none"}
	stockCompressions = []string{"zstd", "lz4", "zlibx", "zlib", "none"}
)

type state struct {
	cfg                               *Config
	policy                            *policy
	i                                 [nIvars]int
	s                                 [nSvars]string
	set                               [nSvars]bool
	protoSet                          bool
	info                              []string
	debug                             []string
	chmod                             []string
	filters                           []Filter
	basis                             []string
	remote                            []string
	maxSize                           int64
	minSize                           int64
	maxAlloc                          int64
	blockSize                         int32
	stopAt                            time.Time
	usermapViaChown, groupmapViaChown bool
	help                              bool
	needSecluded                      bool
	args                              []string
}

// errStop ends a parse early without an error (--help, -V).
var errStop = errors.New("stop")

// Parse parses the first argument list a client sends after "@RSYNCD: OK",
// exactly as received (without an argv[0]), applying the module's policy
// in cfg (nil: no refusals beyond rsyncd's built-in ones). Like rsyncd's
// read_args, it first removes the backslash escapes a client adds to the
// elements before the "." (its safe_arg quoting); the paths after the
// "." are left as they are. When the result's NeedSecluded reports true,
// the caller must read the second list and call ParseSecluded.
//
// Errors are *RefusedError, *UnsupportedError or *OptionError, worded as
// stock rsyncd words them; ExitCode gives the matching exit code.
//
// Where this differs from stock rsyncd 3.5.0, on purpose: a refused
// --delete-missing-args or --ignore-missing-args is refused (popt lets a
// refused bit-set option through silently); --crtimes is left to
// Config.Implemented (a stock Linux build refuses it); --help, -V and
// --info=help set Help/Version instead of printing; an argument over
// MaxArgLen is an error (rsyncd truncates it); filter rules, --chown
// names and --files-from/--exclude-from paths are not checked against the
// module here ("Your options have been rejected by the server" is the
// caller's, as is sanitizing paths).
func Parse(args []string, cfg *Config) (*Options, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if err := checkBounds(args); err != nil {
		return nil, err
	}
	if !cfg.stockServer {
		args = unescapeArgs(args)
	}
	st := newState(cfg)
	err := st.parse(args)
	if err != nil && err != errStop {
		return nil, err
	}
	return st.options(), nil
}

// ParseSecluded parses the second list of a -s client (rsync's
// send_protected_args: argv[0], the options not sent in the first list,
// ".", the paths) on top of what Parse found. The first element is
// argv[0] and is skipped, as popt does.
func (o *Options) ParseSecluded(args []string) (*Options, error) {
	if !o.NeedSecluded() {
		return nil, errors.New("options: no secluded argument list expected")
	}
	if err := checkBounds(args); err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return nil, newErr(ExitUnsupported, "argc is zero!")
	}
	st := o.st.clone()
	st.needSecluded = false
	st.i[iProtectArgs] = 2
	err := st.parse(args[1:])
	if err != nil && err != errStop {
		return nil, err
	}
	return st.options(), nil
}

func checkBounds(args []string) error {
	if len(args) > MaxArgs {
		return newErr(ExitUnsupported, "too many daemon arguments")
	}
	total := 0
	for _, a := range args {
		if len(a) > MaxArgLen {
			return newErr(ExitUnsupported, "argument of %d bytes is too long (max %d)", len(a), MaxArgLen)
		}
		total += len(a)
	}
	if total > MaxArgsBytes {
		return newErr(ExitUnsupported, "arguments total %d bytes (max %d)", total, MaxArgsBytes)
	}
	return nil
}

func newState(cfg *Config) *state {
	st := &state{cfg: cfg, policy: newPolicy(cfg)}
	st.i[iMsgs2stderr] = 2
	st.i[iOutputMotd] = 1
	st.i[iHumanReadable] = 1
	st.i[iAllowIncRecurse] = 1
	st.i[iXferDirs] = -1
	st.i[iRelative] = -1
	st.i[iImpliedDirs] = 1
	st.i[iWholeFile] = -1
	st.i[iProtectArgs] = -1
	st.i[iOldArgs] = -1
	st.i[iMaxDelete] = maxDeleteUnset
	st.i[iAmRoot] = int(SuperDefault)
	st.i[iCompressLevel] = clvlNotGiven
	st.i[iBlockingIO] = -1
	st.i[iProtocol] = 32
	if cfg.Protocol != 0 {
		st.i[iProtocol] = cfg.Protocol
	}
	st.maxSize, st.minSize = -1, -1
	return st
}

func (st *state) clone() *state {
	c := *st
	c.info = append([]string(nil), st.info...)
	c.debug = append([]string(nil), st.debug...)
	c.chmod = append([]string(nil), st.chmod...)
	c.filters = append([]Filter(nil), st.filters...)
	c.basis = append([]string(nil), st.basis...)
	c.remote = append([]string(nil), st.remote...)
	c.args = nil
	return &c
}

func (st *state) now() time.Time {
	if st.cfg.Now != nil {
		return st.cfg.Now()
	}
	return time.Now()
}

// parse is rsync's parse_arguments for a daemon.
func (st *state) parse(args []string) error {
	origProtect := st.i[iProtectArgs]
	if err := st.popLoop(args); err != nil {
		return err
	}
	return st.finish(origProtect, len(args)+1)
}

func (st *state) popLoop(args []string) error {
	p := newPopt(args)
	for {
		occ, ok, perr := p.nextOpt()
		if perr != poptOK {
			prefix := ""
			if st.i[iServer] != 0 {
				prefix = "on remote machine: "
			}
			return newErr(ExitUnsupported, "%s%s: %s", prefix, p.badOpt(), perr)
		}
		if !ok {
			st.args = p.left
			return nil
		}
		r := &table[occ.idx]
		if err := st.policy.check(occ.idx, st.i[iServer] != 0); err != nil {
			return err
		}
		st.store(r, occ)
		if r.act == aServer && st.i[iServer] == 0 {
			// rsync restarts popt when it meets --server, so the options
			// before it are seen twice.
			st.i[iServer] = 1
			st.set[sIconv] = false
			p = newPopt(args)
			continue
		}
		if err := st.action(r, occ.value); err != nil {
			return err
		}
	}
}

// store does what popt itself does with a row that has a destination.
func (st *state) store(r *row, occ occurrence) {
	switch r.typ {
	case argNone:
		if r.iv != iNone {
			st.i[r.iv] = 1
		}
	case argVal:
		st.i[r.iv] = r.val
	case argBitSet:
		st.i[r.iv] |= r.val
	case argString:
		if r.sv != sNone {
			st.s[r.sv], st.set[r.sv] = occ.value, true
		}
	case argInt:
		if r.iv != iNone {
			st.i[r.iv] = occ.num
			if r.iv == iProtocol {
				st.protoSet = true
			}
		}
	}
}

// action is the body of rsync's switch on what popt returned.
func (st *state) action(r *row, v string) error {
	switch r.act {
	case aNone:
	case aHelp:
		st.help = true
		return errStop
	case aVersion:
		st.i[iVersion]++
	case aServer:
		st.set[sIconv] = false
	case aSender:
		if st.i[iServer] == 0 {
			return &OptionError{Msg: "syntax or usage error: --sender without --server", Code: ExitSyntax}
		}
		st.i[iSender] = 1
	case aDaemon:
		return newErr(ExitUnsupported, "Attempt to hack rsync thwarted!")
	case aModifyWindow:
		st.i[iModifyWindowSet] = 1
	case aFilter:
		st.filters = append(st.filters, Filter{FilterRule, v})
	case aExclude:
		st.filters = append(st.filters, Filter{Exclude, v})
	case aInclude:
		st.filters = append(st.filters, Filter{Include, v})
	case aExcludeFrom:
		st.filters = append(st.filters, Filter{ExcludeFrom, v})
	case aIncludeFrom:
		st.filters = append(st.filters, Filter{IncludeFrom, v})
	case aArchive:
		if err := st.policy.implied(st.policy.archivePart); err != nil {
			return err
		}
		if st.i[iRecurse] == 0 {
			st.i[iRecurse] = 1
		}
		for _, iv := range []ivar{iLinks, iPerms, iMtimes, iGID, iUID, iDevices, iSpecials} {
			st.i[iv] = 1
		}
	case aD:
		st.i[iDevices], st.i[iSpecials] = 1, 1
	case aNoD:
		st.i[iDevices], st.i[iSpecials] = 0, 0
	case aHuman:
		st.i[iHumanReadable]++
	case aHardLinks:
		st.i[iHardLinks]++
	case aItemize:
		st.i[iItemize]++
	case aAtimes:
		st.i[iAtimes]++
		if st.i[iAtimes] > 1 {
			st.i[iOpenNoatime] = 1
		}
	case aVerbose:
		st.i[iVerbose]++
	case aFuzzy:
		st.i[iFuzzy]++
	case aQuiet:
		st.i[iQuiet]++
	case aOneFS:
		st.i[iOneFileSystem]++
	case aF:
		st.i[iFCount]++
		switch st.i[iFCount] {
		case 1:
			st.filters = append(st.filters, Filter{FilterRule, ": /.rsync-filter"})
		case 2:
			st.filters = append(st.filters, Filter{FilterRule, "- .rsync-filter"})
		}
	case aP:
		if st.policy.partial >= 0 {
			return st.policy.implied(st.policy.partial)
		}
		if err := st.policy.implied(st.policy.progress); err != nil {
			return err
		}
		st.i[iProgress], st.i[iKeepPartial] = 1, 1
	case aCompress:
		st.i[iCompress]++
	case aOldCompress:
		st.s[sCompressChoice], st.set[sCompressChoice] = "zlib", true
	case aNewCompress:
		st.s[sCompressChoice], st.set[sCompressChoice] = "zlibx", true
	case aNoCompress:
		st.i[iCompress] = 0
		st.set[sCompressChoice] = false
	case aOldArgs:
		if st.i[iOldArgs] <= 0 {
			st.i[iOldArgs] = 1
		} else {
			st.i[iOldArgs]++
		}
	case aRemoteOption:
		if !strings.HasPrefix(v, "-") {
			return newErr(ExitUnsupported, "Remote option must start with a dash: %s", v)
		}
		st.remote = append(st.remote, v)
	case aWriteBatch:
		st.i[iWriteBatch] = 1
		st.s[sBatchName], st.set[sBatchName] = v, true
	case aOnlyWriteBatch:
		st.i[iWriteBatch] = -1
		st.s[sBatchName], st.set[sBatchName] = v, true
	case aReadBatch:
		st.i[iReadBatch] = 1
		st.s[sBatchName], st.set[sBatchName] = v, true
	case aNoIconv:
		st.set[sIconv] = false
	case aBlockSize:
		maxB := int64(maxBlockSize)
		if st.i[iProtocol] < 30 {
			maxB = oldMaxBlock
		}
		n, err := parseSize(v, 'b', "block-size", 0, maxB, false)
		if err != nil {
			return err
		}
		st.blockSize = int32(n)
	case aMaxSize:
		n, err := parseSize(v, 'b', "max-size", 0, -1, false)
		if err != nil {
			return err
		}
		st.maxSize = n
	case aMinSize:
		n, err := parseSize(v, 'b', "min-size", 0, -1, false)
		if err != nil {
			return err
		}
		st.minSize = n
	case aBwlimit:
		n, err := parseSize(v, 'K', "bwlimit", 512, -1, true)
		if err != nil {
			return err
		}
		st.i[iBwlimit] = int((n + 512) / 1024)
	case aAppend:
		if st.i[iServer] != 0 {
			st.i[iAppendMode]++
		} else {
			st.i[iAppendMode] = 1
		}
	case aLinkDest, aCopyDest, aCompareDest:
		want := map[act]int{aCompareDest: 1, aCopyDest: 2, aLinkDest: 3}[r.act]
		if t := st.i[iAltDestType]; t != 0 && t != want {
			return newErr(ExitUnsupported, "ERROR: the %s option conflicts with the %s option", altDestOpt(want), altDestOpt(t))
		}
		st.i[iAltDestType] = want
		if len(st.basis) >= maxBasisDirs {
			return newErr(ExitUnsupported, "ERROR: at most %d %s args may be specified", maxBasisDirs, altDestOpt(want))
		}
		st.basis = append(st.basis, v)
	case aChmod:
		if !validChmod(v) {
			return newErr(ExitUnsupported, "Invalid argument passed to --chmod (%s)", v)
		}
		st.chmod = append(st.chmod, v)
	case aInfo, aDebug:
		words, what := infoWords, "--info"
		if r.act == aDebug {
			words, what = debugWords, "--debug"
		}
		for _, w := range strings.Split(v, ",") {
			if w == "" {
				continue
			}
			name := w
			if !isDigit(w[0]) {
				name = strings.TrimRightFunc(w, isDigitRune)
			}
			switch {
			case strings.EqualFold(name, "help"):
				st.help = true
				return errStop
			case strings.EqualFold(name, "none"), strings.EqualFold(name, "all"):
			case !containsFold(words, name) && st.i[iServer] == 0:
				// A server ignores words it does not know.
				return newErr(ExitSyntax, "Unknown %s item: \"%s\"", what, name)
			}
		}
		if r.act == aInfo {
			st.info = append(st.info, v)
		} else {
			st.debug = append(st.debug, v)
		}
	case aUsermap:
		if st.set[sUsermap] {
			if st.usermapViaChown {
				return newErr(ExitUnsupported, "--usermap conflicts with prior --chown.")
			}
			return newErr(ExitUnsupported, "You can only specify --usermap once.")
		}
		st.s[sUsermap], st.set[sUsermap] = v, true
		st.usermapViaChown = false
		st.i[iUID] = 1
	case aGroupmap:
		if st.set[sGroupmap] {
			if st.groupmapViaChown {
				return newErr(ExitUnsupported, "--groupmap conflicts with prior --chown.")
			}
			return newErr(ExitUnsupported, "You can only specify --groupmap once.")
		}
		st.s[sGroupmap], st.set[sGroupmap] = v, true
		st.groupmapViaChown = false
		st.i[iGID] = 1
	case aChown:
		user, group, hasGroup := v, "", false
		if c := strings.IndexByte(v, ':'); c >= 0 {
			user, group, hasGroup = v[:c], v[c+1:], true
		}
		if user != "" {
			if st.set[sUsermap] {
				if !st.usermapViaChown {
					return newErr(ExitUnsupported, "--chown conflicts with prior --usermap.")
				}
				return newErr(ExitUnsupported, "You can only specify a user-affecting --chown once.")
			}
			st.s[sUsermap], st.set[sUsermap] = "*:"+user, true
			st.usermapViaChown = true
			st.i[iUID] = 1
		}
		if hasGroup && group != "" {
			if st.set[sGroupmap] {
				if !st.groupmapViaChown {
					return newErr(ExitUnsupported, "--chown conflicts with prior --groupmap.")
				}
				return newErr(ExitUnsupported, "You can only specify a group-affecting --chown once.")
			}
			st.s[sGroupmap], st.set[sGroupmap] = "*:"+group, true
			st.groupmapViaChown = true
			st.i[iGID] = 1
		}
	case aACLs:
		st.i[iACLs], st.i[iPerms] = 1, 1
	case aXattrs:
		st.i[iXattrs]++
	case aStopAfter:
		now := st.now()
		mins := atol(v)
		if mins <= 0 || mins > math.MaxInt64/60 || math.MaxInt64-mins*60 < now.Unix() {
			return newErr(ExitUnsupported, "invalid --stop-after value: %s", v)
		}
		st.stopAt = time.Unix(now.Unix()+mins*60, 0)
	case aStopAt:
		now := st.now()
		t, ok := parseTime(v, now)
		if !ok {
			return newErr(ExitUnsupported, "invalid --stop-at format: %s", v)
		}
		if t.Unix() <= now.Unix() {
			return newErr(ExitUnsupported, "--stop-at time is not in the future: %s", v)
		}
		st.stopAt = t
	case aStderr:
		switch {
		case v != "" && strings.HasPrefix("errors", v):
			st.i[iMsgs2stderr] = 2
		case v != "" && strings.HasPrefix("all", v):
			st.i[iMsgs2stderr] = 1
		case v != "" && strings.HasPrefix("client", v):
			st.i[iMsgs2stderr] = 0
		default:
			return newErr(ExitUnsupported, "--stderr mode \"%s\" is not one of errors, all, or client", v)
		}
		st.i[iSawStderr] = 1
	}
	return nil
}

func isDigitRune(r rune) bool { return r >= '0' && r <= '9' }

// The --info and --debug words of rsync 3.5.0.
var (
	infoWords  = []string{"BACKUP", "COPY", "DEL", "FLIST", "MISC", "MOUNT", "NAME", "NONREG", "PROGRESS", "REMOVE", "SKIP", "STATS", "SYMSAFE"}
	debugWords = []string{"ACL", "BACKUP", "BIND", "CHDIR", "CONNECT", "CMD", "DEL", "DELTASUM", "DUP", "EXIT", "FILTER", "FLIST", "FUZZY", "GENR", "HASH", "HLINK", "ICONV", "IO", "NSTR", "OWN", "PROTO", "RECV", "SEND", "TIME"}
)

func containsFold(list []string, s string) bool {
	for _, w := range list {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}

func altDestOpt(t int) string {
	return [...]string{"", "--compare-dest", "--copy-dest", "--link-dest"}[t]
}

// atol is C's atol, saturating instead of overflowing.
func atol(s string) int64 {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var n int64
	for ; i < len(s) && isDigit(s[i]); i++ {
		d := int64(s[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + d
	}
	if neg {
		return -n
	}
	return n
}

// finish is the part of parse_arguments after the option loop.
// argc counts argv[0] as rsync's does.
func (st *state) finish(origProtect, argc int) error {
	s := &st.i
	if s[iMsgs2stderr] != 2 {
		s[iSawStderr] = 1
	}
	if s[iVersion] > 0 {
		return errStop
	}
	if st.set[sMaxAlloc] {
		n, err := parseSize(st.s[sMaxAlloc], 'B', "max-alloc", 1<<20, -1, true)
		if err != nil {
			return err
		}
		if n == 0 {
			return newErr(ExitUnsupported, "max-alloc must be greater than zero")
		}
		st.maxAlloc = n
	}
	if s[iOldArgs] < 0 {
		s[iOldArgs] = 0
	} else if s[iOldArgs] > 0 {
		if s[iProtectArgs] > 0 {
			return newErr(ExitUnsupported, "--secluded-args conflicts with --old-args.")
		}
		s[iProtectArgs] = 0
	}
	if s[iProtectArgs] < 0 {
		s[iProtectArgs] = 0
	}
	if st.set[sChecksumChoice] {
		cc := st.s[sChecksumChoice]
		if strings.EqualFold(cc, "auto") || strings.EqualFold(cc, "auto,auto") {
			st.set[sChecksumChoice] = false
		} else if err := st.checkChecksumChoice(cc); err != nil {
			return err
		}
	}
	if s[iHumanReadable] > 1 && argc == 2 && s[iServer] == 0 {
		// rsync keeps the old meaning of a lone -hh: --help.
		st.help = true
		return errStop
	}
	if !st.set[sCompressChoice] && s[iCompress] > 1 {
		st.s[sCompressChoice], st.set[sCompressChoice] = "zlibx", true
	}
	if st.set[sCompressChoice] && !strings.EqualFold(st.s[sCompressChoice], "auto") {
		num, err := st.compressNum(st.s[sCompressChoice])
		if err != nil {
			return err
		}
		if s[iServer] != 0 && s[iWriteBatch] != 0 && num != 1 {
			return newErr(ExitUnsupported, "Your --compress-choice value (%s) was refused by the server.", st.s[sCompressChoice])
		}
		s[iCompress] = num
		if num == 0 {
			st.set[sCompressChoice] = false
		}
	} else {
		st.set[sCompressChoice] = false
	}
	if s[iCompress] != 0 || s[iCompressLevel] != clvlNotGiven {
		if s[iCompress] == 0 {
			s[iCompress] = -1 // CPRES_AUTO
		}
		if err := st.policy.implied(st.policy.compress); err != nil {
			return err
		}
		if s[iCompressThreads] < 0 {
			s[iCompressThreads] = 0
		}
		if s[iCompressThreads] > maxDaemonThreads && !st.cfg.stockServer {
			s[iCompressThreads] = maxDaemonThreads
		}
	}
	if st.policy.noIconv >= 0 && !st.set[sIconv] {
		return st.policy.implied(st.policy.noIconv)
	}
	if s[iFuzzy] > 1 {
		s[iFuzzy] = len(st.basis) + 1
	}
	if origProtect == 2 && s[iServer] != 0 {
		s[iProtectArgs] = origProtect
	}
	if s[iProtectArgs] == 1 && s[iServer] != 0 {
		// The real arguments follow as a secluded list.
		st.needSecluded = true
		st.args = nil
		return nil
	}
	if s[iAmRoot] < 0 && s[iXattrs] > 1 {
		return newErr(ExitUnsupported, "--fake-super conflicts with -XX")
	}
	if s[iWriteBatch] != 0 && s[iReadBatch] != 0 {
		return newErr(ExitUnsupported, "--write-batch and --read-batch can not be used together")
	}
	if s[iWriteBatch] > 0 || s[iReadBatch] != 0 {
		if s[iServer] != 0 {
			// rsync says "ignoring --%s-batch option sent to server".
			s[iWriteBatch], s[iReadBatch] = 0, 0
			st.set[sBatchName] = false
		} else if s[iDryRun] != 0 {
			s[iWriteBatch] = 0
		}
	} else if s[iWriteBatch] < 0 && s[iDryRun] != 0 {
		s[iWriteBatch] = 0
	}
	if s[iReadBatch] != 0 && st.set[sFilesFrom] {
		return newErr(ExitUnsupported, "--read-batch cannot be used with --files-from")
	}
	if s[iReadBatch] != 0 && s[iRemoveSourceFiles] != 0 {
		which := "source"
		if s[iRemoveSourceFiles] != 1 {
			which = "sent"
		}
		return newErr(ExitUnsupported, "--read-batch cannot be used with --remove-%s-files", which)
	}
	if st.set[sBatchName] && len(st.s[sBatchName]) > maxBatchName {
		return newErr(ExitUnsupported, "the batch-file name must be %d characters or less.", maxBatchName)
	}
	if st.set[sTempDir] && len(st.s[sTempDir]) >= maxPathLen-10 {
		return newErr(ExitUnsupported, "the --temp-dir path is WAY too long.")
	}
	if s[iMaxDelete] < 0 && s[iMaxDelete] != maxDeleteUnset {
		s[iMaxDelete] = 0
	}
	if st.set[sFilesFrom] {
		if s[iRecurse] == 1 {
			s[iRecurse] = 0
		}
		if s[iXferDirs] < 0 {
			s[iXferDirs] = 1
		}
	}
	if len(st.args) < 2 && s[iReadBatch] == 0 && s[iServer] == 0 {
		s[iListOnly] |= 1
	}
	switch {
	case s[iXferDirs] >= 4:
		st.filters = append(st.filters, Filter{FilterRule, "- /*/*"})
		s[iRecurse], s[iXferDirs] = 1, 1
	case s[iRecurse] != 0:
		s[iXferDirs] = 1
	case s[iXferDirs] < 0:
		s[iXferDirs] = 0
		if s[iListOnly] != 0 {
			s[iXferDirs] = 1
		}
	}
	if s[iRelative] < 0 {
		s[iRelative] = 0
		if st.set[sFilesFrom] {
			s[iRelative] = 1
		}
	}
	if s[iRelative] == 0 {
		s[iImpliedDirs] = 0
	}
	if err := st.finishDelete(); err != nil {
		return err
	}
	if err := st.finishBackup(); err != nil {
		return err
	}
	if err := st.finishInplace(); err != nil {
		return err
	}
	if st.set[sFilesFrom] {
		ff := st.s[sFilesFrom]
		if len(st.args) > 2 || (st.cfg.stockServer && s[iServer] == 0 && len(st.args) == 1) {
			return &OptionError{Msg: "syntax or usage error: --files-from with more than 2 arguments", Code: ExitSyntax}
		}
		if ff != "-" {
			if path, ok := hostspecPath(ff); ok {
				if s[iServer] != 0 {
					return newErr(ExitUnsupported, "The --files-from sent to the server cannot specify a host.")
				}
				if path == "-" {
					return newErr(ExitUnsupported, "Invalid --files-from remote filename")
				}
			}
		}
	}
	return nil
}

func (st *state) finishDelete() error {
	s := &st.i
	during := 0
	if s[iDeleteDuring] != 0 {
		during = 1
	}
	if s[iDeleteBefore]+during+s[iDeleteAfter] > 1 {
		return newErr(ExitUnsupported, "You may not combine multiple --delete-WHEN options.")
	}
	if s[iDeleteBefore] != 0 || s[iDeleteDuring] != 0 || s[iDeleteAfter] != 0 {
		s[iDeleteMode] = 1
	} else if s[iDeleteMode] != 0 || s[iDeleteExcluded] != 0 {
		// rsync picks a timing now only when one of them is refused.
		if st.policy.deleteBefore >= 0 {
			if st.policy.deleteDuring < 0 {
				s[iDeleteDuring] = 1
			} else {
				return st.policy.implied(st.policy.deleteBefore)
			}
		} else if st.policy.deleteDuring >= 0 {
			s[iDeleteBefore] = 1
		}
		s[iDeleteMode] = 1
	}
	if s[iXferDirs] == 0 && s[iDeleteMode] != 0 {
		return newErr(ExitUnsupported, "--delete does not work without --recursive (-r) or --dirs (-d).")
	}
	if s[iMissingArgs] == 3 {
		s[iMissingArgs] = 2
	}
	if s[iDeleteMode] != 0 || s[iMissingArgs] == 2 {
		if err := st.policy.implied(st.policy.delete); err != nil {
			return err
		}
	}
	if s[iRemoveSourceFiles] != 0 && s[iSender] != 0 {
		if err := st.policy.implied(st.policy.delete); err != nil {
			return err
		}
	}
	return nil
}

func (st *state) finishBackup() error {
	s := &st.i
	if !st.set[sSuffix] {
		st.s[sSuffix], st.set[sSuffix] = "~", true
		if st.set[sBackupDir] {
			st.s[sSuffix] = ""
		}
	}
	if strings.IndexByte(st.s[sSuffix], '/') >= 0 {
		return newErr(ExitUnsupported, "--suffix cannot contain slashes: %s", st.s[sSuffix])
	}
	backupDirLen := 0
	if st.set[sBackupDir] {
		s[iMakeBackups] = 1
		bd := st.s[sBackupDir]
		for strings.HasPrefix(bd, "./") {
			bd = bd[2:]
		}
		if bd == "." {
			bd = ""
		}
		if len(bd) > maxPathLen-128 {
			return newErr(ExitUnsupported, "the --backup-dir path is WAY too long.")
		}
		if bd == "" {
			backupDirLen = -1
			st.set[sBackupDir] = false
		} else if !strings.HasSuffix(bd, "/") {
			bd += "/"
		}
		st.s[sBackupDir] = bd
	}
	if !st.set[sBackupDir] && st.s[sSuffix] == "" && (s[iServer] == 0 || s[iSender] == 0) {
		if backupDirLen < 0 {
			return newErr(ExitUnsupported, "--suffix cannot be empty when --backup-dir is the same as the dest dir")
		}
		return newErr(ExitUnsupported, "--suffix cannot be empty without a --backup-dir")
	}
	if s[iMakeBackups] != 0 && !st.set[sBackupDir] {
		s[iOmitDirTimes] = -1
	}
	return nil
}

func (st *state) finishInplace() error {
	s := &st.i
	if s[iAppendMode] != 0 {
		if s[iWholeFile] > 0 {
			return newErr(ExitUnsupported, "--append cannot be used with --whole-file")
		}
		if err := st.policy.implied(st.policy.inplace); err != nil {
			return err
		}
		s[iInplace] = 1
	}
	if s[iWriteDevices] != 0 {
		if err := st.policy.implied(st.policy.inplace); err != nil {
			return err
		}
		s[iInplace] = 1
	}
	if s[iDelayUpdates] != 0 && !st.set[sPartialDir] {
		st.s[sPartialDir], st.set[sPartialDir] = tmpPartialDir, true
	}
	if s[iInplace] != 0 {
		if st.set[sPartialDir] {
			a, b := "inplace", "partial-dir"
			if s[iAppendMode] != 0 {
				a = "append"
			}
			if s[iDelayUpdates] != 0 {
				b = "delay-updates"
			}
			return newErr(ExitUnsupported, "--%s cannot be used with --%s", a, b)
		}
		// --inplace implies --partial for refusal purposes only.
		if err := st.policy.implied(st.policy.partial); err != nil {
			return err
		}
		s[iKeepPartial] = 0
		return nil
	}
	if st.set[sPartialDir] {
		pd := st.s[sPartialDir]
		if pd != "" {
			pd = cleanFname(pd)
		}
		if pd == "" || pd == "." {
			st.set[sPartialDir] = false
			pd = ""
			if err := st.policy.implied(st.policy.partial); err != nil {
				return err
			}
		}
		st.s[sPartialDir] = pd
		s[iKeepPartial] = 1
	}
	return nil
}

func (st *state) checkChecksumChoice(cc string) error {
	names := st.cfg.Checksums
	if names == nil {
		names = stockChecksums
	}
	valid := func(name string) bool {
		if strings.EqualFold(name, "auto") {
			return true
		}
		for _, n := range names {
			if strings.EqualFold(n, name) {
				return true
			}
		}
		return false
	}
	xfer, file := cc, cc
	tail := cc
	if c := strings.IndexByte(cc, ','); c >= 0 {
		xfer, file = cc[:c], cc[c+1:]
		tail = file
	}
	// rsync names the rest of the string from the bad name on.
	if !valid(xfer) {
		return newErr(ExitUnsupported, "unknown checksum name: %s", cc)
	}
	if !valid(file) {
		return newErr(ExitUnsupported, "unknown checksum name: %s", tail)
	}
	if st.i[iServer] != 0 && st.i[iWriteBatch] != 0 {
		// A batch always negotiates the old choice, so a server checks the
		// client's choice against it (rsync's getenv_nstr/validate_choice_vs_env).
		want := "md5"
		if st.i[iProtocol] < 30 {
			want = "md4"
		}
		for _, n := range []string{xfer, file} {
			if !strings.EqualFold(n, "auto") && !strings.EqualFold(n, want) {
				return newErr(ExitUnsupported, "Your --checksum-choice value (%s) was refused by the server.", cc)
			}
		}
	}
	if strings.EqualFold(xfer, "none") {
		st.i[iWholeFile] = 1
	}
	return nil
}

// compressNum maps a --compress-choice name to rsync's CPRES_* number.
func (st *state) compressNum(name string) (int, error) {
	names := st.cfg.Compressions
	if names == nil {
		names = stockCompressions
	}
	for _, n := range names {
		if strings.EqualFold(n, name) {
			switch strings.ToLower(n) {
			case "none":
				return 0, nil
			case "zlib":
				return 1, nil
			case "zlibx":
				return 2, nil
			case "lz4":
				return 3, nil
			case "zstd":
				return 4, nil
			}
			return 5, nil
		}
	}
	return 0, newErr(ExitUnsupported, "unknown compress name: %s", name)
}

// options builds the result from the state.
func (st *state) options() *Options {
	s := &st.i
	str := func(v svar) string {
		if st.set[v] {
			return st.s[v]
		}
		return ""
	}
	o := &Options{
		Server:            s[iServer] != 0,
		Sender:            s[iSender] != 0,
		Capabilities:      str(sRsh),
		Args:              st.args,
		Verbose:           s[iVerbose],
		Quiet:             s[iQuiet],
		ItemizeChanges:    s[iItemize],
		LogFormat:         str(sStdoutFormat),
		Info:              st.info,
		Debug:             st.debug,
		Stats:             s[iDoStats] != 0,
		Progress:          s[iProgress] != 0,
		HumanReadable:     s[iHumanReadable],
		Msgs2Stderr:       s[iMsgs2stderr],
		EightBitOutput:    s[iEightBit] != 0,
		Help:              st.help,
		Version:           s[iVersion],
		DryRun:            s[iDryRun] != 0,
		ListOnly:          s[iListOnly] != 0,
		Recursive:         s[iRecurse] != 0,
		Dirs:              s[iXferDirs] > 0,
		IncRecursive:      s[iAllowIncRecurse] != 0,
		Relative:          s[iRelative] > 0,
		ImpliedDirs:       s[iImpliedDirs] != 0,
		FilesFrom:         str(sFilesFrom),
		From0:             s[iEolNulls] != 0,
		Filters:           st.filters,
		CVSExclude:        s[iCvsExclude] != 0,
		OneFileSystem:     s[iOneFileSystem],
		PruneEmptyDirs:    s[iPruneEmptyDirs] != 0,
		IgnoreMissingArgs: s[iMissingArgs] == 1,
		DeleteMissingArgs: s[iMissingArgs] >= 2,
		MaxSize:           st.maxSize,
		MinSize:           st.minSize,
		MaxAlloc:          st.maxAlloc,
		Links:             s[iLinks] != 0,
		CopyLinks:         s[iCopyLinks] != 0,
		CopyUnsafeLinks:   s[iCopyUnsafeLinks] != 0,
		SafeLinks:         s[iSafeLinks] != 0,
		CopyDirlinks:      s[iCopyDirlinks] != 0,
		KeepDirlinks:      s[iKeepDirlinks] != 0,
		HardLinks:         s[iHardLinks],
		Perms:             s[iPerms] != 0,
		Executability:     s[iExecutability] != 0,
		Chmod:             st.chmod,
		Times:             s[iMtimes] != 0,
		Atimes:            s[iAtimes],
		OpenNoatime:       s[iOpenNoatime] != 0,
		Crtimes:           s[iCrtimes] != 0,
		OmitDirTimes:      s[iOmitDirTimes],
		OmitLinkTimes:     s[iOmitLinkTimes] != 0,
		Owner:             s[iUID] != 0,
		Group:             s[iGID] != 0,
		NumericIDs:        s[iNumericIDs] != 0,
		Usermap:           str(sUsermap),
		Groupmap:          str(sGroupmap),
		Devices:           s[iDevices] != 0,
		Specials:          s[iSpecials] != 0,
		CopyDevices:       s[iCopyDevices] != 0,
		WriteDevices:      s[iWriteDevices] != 0,
		DropDevices:       s[iDropDevices] != 0,
		ACLs:              s[iACLs] != 0,
		Xattrs:            s[iXattrs],
		Super:             SuperMode(s[iAmRoot]),
		Checksum:          s[iAlwaysChecksum] != 0,
		ChecksumChoice:    str(sChecksumChoice),
		ChecksumSeed:      int32(s[iChecksumSeed]),
		BlockSize:         st.blockSize,
		WholeFile:         s[iWholeFile],
		IgnoreTimes:       s[iIgnoreTimes] != 0,
		SizeOnly:          s[iSizeOnly] != 0,
		ModifyWindow:      s[iModifyWindow],
		ModifyWindowSet:   s[iModifyWindowSet] != 0,
		Update:            s[iUpdateOnly] != 0,
		Existing:          s[iIgnoreNonExisting] != 0,
		IgnoreExisting:    s[iIgnoreExisting] != 0,
		Inplace:           s[iInplace] != 0,
		Append:            s[iAppendMode],
		Partial:           s[iKeepPartial] != 0,
		PartialDir:        str(sPartialDir),
		DelayUpdates:      s[iDelayUpdates] != 0,
		Backup:            s[iMakeBackups] != 0,
		BackupDir:         str(sBackupDir),
		Suffix:            str(sSuffix),
		Fuzzy:             s[iFuzzy],
		TempDir:           str(sTempDir),
		Sparse:            s[iSparse] != 0,
		Preallocate:       s[iPreallocate] != 0,
		Fsync:             s[iFsync] != 0,
		Mkpath:            s[iMkpath] != 0,
		DeleteExcluded:    s[iDeleteExcluded] != 0,
		Force:             s[iForceDelete] != 0,
		MaxDelete:         s[iMaxDelete],
		IgnoreErrors:      s[iIgnoreErrors] != 0,
		RemoveSourceFiles: s[iRemoveSourceFiles],
		Compress:          s[iCompress] != 0,
		CompressChoice:    str(sCompressChoice),
		CompressLevel:     s[iCompressLevel],
		CompressLevelSet:  s[iCompressLevel] != clvlNotGiven,
		CompressThreads:   s[iCompressThreads],
		SkipCompress:      str(sSkipCompress),
		Timeout:           s[iTimeout],
		Bwlimit:           int64(s[iBwlimit]),
		Secluded:          s[iProtectArgs],
		OldArgs:           s[iOldArgs],
		Iconv:             str(sIconv),
		StopAt:            st.stopAt,
		QSort:             s[iQsort] != 0,
		TrustSender:       s[iTrustSender] != 0,
		CopyAs:            str(sCopyAs),
		OnlyWriteBatch:    s[iWriteBatch] < 0,
		RemoteOptions:     st.remote,
		st:                st,
	}
	if st.protoSet {
		o.Protocol = s[iProtocol]
	}
	if !o.CompressLevelSet {
		o.CompressLevel = 0
	}
	if o.MaxDelete == maxDeleteUnset {
		o.MaxDelete = -1
	}
	switch s[iAltDestType] {
	case 1:
		o.CompareDest = st.basis
	case 2:
		o.CopyDest = st.basis
	case 3:
		o.LinkDest = st.basis
	}
	switch {
	case s[iDeleteBefore] != 0:
		o.Delete = DeleteBefore
	case s[iDeleteDuring] == 2:
		o.Delete = DeleteDelay
	case s[iDeleteDuring] != 0:
		o.Delete = DeleteDuring
	case s[iDeleteAfter] != 0:
		o.Delete = DeleteAfter
	case s[iDeleteMode] != 0:
		o.Delete = DeleteDefault
	}
	// rsync's stdout_format_has_i / _has_o_or_i, as a server computes them.
	switch {
	case o.LogFormat != "":
		if o.Server && LogFormatHas(o.LogFormat, 'I') {
			o.LogFormatHasI = 2
		} else if LogFormatHas(o.LogFormat, 'i') {
			o.LogFormatHasI = o.ItemizeChanges | 1
		}
		o.LogFormatHasOI = o.LogFormatHasI != 0 || LogFormatHas(o.LogFormat, 'o')
	case o.ItemizeChanges != 0:
		o.LogFormatHasI = o.ItemizeChanges
		o.LogFormatHasOI = true
	}
	return o
}

// String shows the option set in rsync's terms, for logs.
func (m SuperMode) String() string {
	switch m {
	case SuperFake:
		return "fake-super"
	case SuperOff:
		return "no-super"
	case SuperOn:
		return "super"
	}
	return "default"
}

// unescapeArgs undoes the client's safe_arg quoting ("\\X" becomes "X") on
// the elements up to and including the first ".", as rsyncd's read_args
// does for a daemon, which has no shell to do it.
func unescapeArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if strings.IndexByte(a, '\\') >= 0 {
			b := make([]byte, 0, len(a))
			for j := 0; j < len(a); j++ {
				if a[j] == '\\' && j+1 < len(a) {
					j++
				}
				b = append(b, a[j])
			}
			a = string(b)
			out[i] = a
		}
		if a == "." {
			break
		}
	}
	return out
}
