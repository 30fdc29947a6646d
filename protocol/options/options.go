// Package options parses the arguments a stock rsync client sends to a
// daemon (--server ... . module/path) with rsync 3.5.0's popt semantics.
package options

import (
	"strconv"
	"strings"
	"time"
)

// DeleteMode says whether and when the receiver deletes extraneous files.
type DeleteMode uint8

const (
	DeleteNone DeleteMode = iota
	// DeleteDefault is a plain --delete (or --delete-excluded): rsync picks
	// the timing from the negotiated protocol; see Options.DeleteTiming.
	DeleteDefault
	DeleteBefore // --delete-before
	DeleteDuring // --delete-during, --del
	DeleteDelay  // --delete-delay
	DeleteAfter  // --delete-after
)

func (m DeleteMode) String() string {
	return [...]string{"none", "default", "before", "during", "delay", "after"}[m]
}

// SuperMode is what the client asked about super-user activities.
type SuperMode int8

const (
	SuperFake    SuperMode = -1 // --fake-super
	SuperOff     SuperMode = 0  // --no-super
	SuperDefault SuperMode = 1  // not given: the daemon's own privileges decide
	SuperOn      SuperMode = 2  // --super
)

// FilterKind is how a filter given as an argument is to be read.
type FilterKind uint8

const (
	FilterRule  FilterKind = iota // --filter, -f, -F; a rule with rsync's rule syntax
	Exclude                       // --exclude: a pattern, old "+ "/"- " prefixes allowed
	Include                       // --include
	ExcludeFrom                   // --exclude-from: a file of the daemon's to read
	IncludeFrom                   // --include-from
)

// Filter is a filter rule that came as an argument. Stock clients send
// their filters on the wire after the arguments, not as arguments; these
// come from clients that pass them with -M or from non-rsync clients.
type Filter struct {
	Kind FilterKind
	Rule string
}

// Options is the effect of a client's server arguments, resolved the way
// rsync's parse_arguments resolves them on the daemon side. Fields hold
// rsync's meanings; counters count repeated letters (-vv, -HH, -XX, -UU).
type Options struct {
	Server bool // --server was given
	Sender bool // --sender: the daemon sends (the client pulls)

	// Capabilities is the value of -e, the client's compatibility string
	// (".iLsfxCIvu", or "31.14iLs..." from a pre-release client); rsync
	// looks single letters up in it. "" when absent (protocol < 30).
	Capabilities string

	// Args are the positional arguments: "." then the module paths as the
	// client sent them ("backup/", "backup/sub/file").
	Args []string

	// Output and logging.
	Verbose        int
	Quiet          int
	ItemizeChanges int
	LogFormat      string   // --log-format/--out-format as given ("" if none)
	LogFormatHasI  int      // rsync's stdout_format_has_i: 2 for %I on a server
	LogFormatHasOI bool     // rsync's stdout_format_has_o_or_i
	Info, Debug    []string // --info / --debug values, in order
	Stats          bool
	Progress       bool
	HumanReadable  int  // 1 unless changed
	Msgs2Stderr    int  // 2 errors (default), 1 all, 0 none
	EightBitOutput bool // -8
	Help           bool // --help (or -hh alone): stock prints usage and ends
	Version        int  // -V count: stock prints its version and ends

	// What to transfer.
	DryRun            bool
	ListOnly          bool
	Recursive         bool
	Dirs              bool // rsync's xfer_dirs after resolution
	IncRecursive      bool // not --no-inc-recursive (see also Options.IncRecurse)
	Relative          bool
	ImpliedDirs       bool
	FilesFrom         string // "" none, "-" from the connection, else a daemon-side path
	From0             bool
	Filters           []Filter
	CVSExclude        bool
	OneFileSystem     int
	PruneEmptyDirs    bool
	IgnoreMissingArgs bool
	DeleteMissingArgs bool
	MaxSize, MinSize  int64 // -1 when not given
	MaxAlloc          int64 // 0 when not given

	// Links.
	Links           bool
	CopyLinks       bool
	CopyUnsafeLinks bool
	SafeLinks       bool
	CopyDirlinks    bool
	KeepDirlinks    bool
	HardLinks       int

	// Metadata.
	Perms         bool
	Executability bool
	Chmod         []string // --chmod values, each checked like rsync's parse_chmod
	Times         bool
	Atimes        int
	OpenNoatime   bool
	Crtimes       bool
	OmitDirTimes  int // 1 given, -1 implied by --backup without --backup-dir
	OmitLinkTimes bool
	Owner, Group  bool
	NumericIDs    bool
	Usermap       string // --usermap, or "*:USER" from --chown
	Groupmap      string
	Devices       bool
	Specials      bool
	CopyDevices   bool
	WriteDevices  bool
	DropDevices   bool
	ACLs          bool
	Xattrs        int
	Super         SuperMode

	// Deciding what changed, and the delta transfer.
	Checksum        bool   // -c
	ChecksumChoice  string // --checksum-choice as given ("" for none or "auto")
	ChecksumSeed    int32  // 0: not given (rsync then uses the time)
	BlockSize       int32  // 0: automatic
	WholeFile       int    // -1 not given, 0 --no-whole-file, 1 -W (or checksum "none")
	IgnoreTimes     bool
	SizeOnly        bool
	ModifyWindow    int
	ModifyWindowSet bool
	Update          bool
	Existing        bool // --existing / --ignore-non-existing
	IgnoreExisting  bool
	Inplace         bool
	Append          int // 1 --append, 2 --append-verify (or --append twice)
	Partial         bool
	PartialDir      string // cleaned; ".~tmp~" when --delay-updates without one
	DelayUpdates    bool
	Backup          bool
	BackupDir       string // cleaned, with a trailing "/"; "" for none
	Suffix          string // "~" by default, "" with a --backup-dir
	Fuzzy           int
	CompareDest     []string
	CopyDest        []string
	LinkDest        []string
	TempDir         string
	Sparse          bool
	Preallocate     bool
	Fsync           bool
	Mkpath          bool

	// Deletion.
	Delete            DeleteMode
	DeleteExcluded    bool
	Force             bool
	MaxDelete         int // -1 no limit, 0 no deletions at all, else the limit
	IgnoreErrors      bool
	RemoveSourceFiles int // 1 --remove-source-files, 2 --remove-sent-files

	// Compression.
	Compress         bool   // data is compressed (-z, a choice other than none, or a level)
	CompressChoice   string // "" negotiate/default; else as given (lower case kept as sent)
	CompressLevel    int
	CompressLevelSet bool
	CompressThreads  int // capped at 8, as rsyncd does
	SkipCompress     string

	// Connection and protocol.
	Timeout int
	Bwlimit int64 // KiB per second, 0 none
	// Protocol is the value of --protocol, 0 if not given (clients never
	// send it; stock rsyncd would adopt it as its protocol version).
	Protocol       int
	Secluded       int // 1 -s given; 2 while parsing the secluded list
	OldArgs        int
	Iconv          string // --iconv value ("" none)
	StopAt         time.Time
	QSort          bool
	TrustSender    bool
	CopyAs         string
	OnlyWriteBatch bool     // --only-write-batch: rsyncd then forces a dry run
	RemoteOptions  []string // -M values (meaningless on a server)

	st *state // kept for ParseSecluded
}

// NeedSecluded reports that the client sent -s (--secluded-args): its
// real arguments follow as a second, NUL-separated list, which the caller
// reads and hands to ParseSecluded before using the options.
func (o *Options) NeedSecluded() bool { return o.st != nil && o.st.needSecluded }

// DeleteTiming resolves DeleteDefault the way rsync does once the
// protocol is negotiated: before for protocols below 30, else during.
func (o *Options) DeleteTiming(protocol int) DeleteMode {
	if o.Delete != DeleteDefault {
		return o.Delete
	}
	if protocol < 30 {
		return DeleteBefore
	}
	return DeleteDuring
}

// HasCapability reports whether the client's -e string holds the letter c
// (rsync's strchr(client_info, c)).
func (o *Options) HasCapability(c byte) bool {
	return strings.IndexByte(o.Capabilities, c) >= 0
}

// SubProtocol returns the protocol and sub-protocol a pre-release client
// announced at the start of its -e string ("31.14..."), as rsync's
// check_sub_protocol reads them; ok is false for a released client.
func (o *Options) SubProtocol() (proto, sub int, ok bool) {
	proto = atoi(o.Capabilities)
	dot := strings.IndexByte(o.Capabilities, '.')
	if proto == 0 || dot < 0 {
		return 0, 0, false
	}
	sub = atoi(o.Capabilities[dot+1:])
	if sub == 0 {
		return 0, 0, false
	}
	return proto, sub, true
}

// IncRecurse reports whether the daemon may use the incremental recursion
// of protocol 30+ (rsync's set_allow_inc_recurse on the server side).
func (o *Options) IncRecurse() bool {
	switch {
	case !o.IncRecursive || !o.Recursive || o.QSort:
		return false
	case !o.Sender && (o.Delete == DeleteBefore || o.Delete == DeleteAfter || o.DelayUpdates || o.PruneEmptyDirs):
		return false
	}
	return o.HasCapability('i')
}

// atoi is C's atoi: leading blanks, a sign, digits; 0 when none.
func atoi(s string) int {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	j := i
	if j < len(s) && (s[j] == '+' || s[j] == '-') {
		j++
	}
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	n, err := strconv.ParseInt(s[i:j], 10, 32)
	if err != nil {
		return 0
	}
	return int(n)
}

// LogFormatHas reports whether an rsync log format uses the escape esc
// (rsync's log_format_has: "%'-10n" style flags and widths are skipped).
func LogFormatHas(format string, esc byte) bool {
	const maxWidth = 32 - 8 // LOG_FMT_SIZE - 8
	for p := 0; ; {
		i := strings.IndexByte(format[p:], '%')
		if i < 0 {
			return false
		}
		p += i + 1
		for p < len(format) && format[p] == '\'' {
			p++
		}
		width := 1
		if p < len(format) && format[p] == '-' {
			p++
			width++
		}
		for p < len(format) && isDigit(format[p]) && width < maxWidth {
			p++
			width++
		}
		for p < len(format) && format[p] == '\'' {
			p++
		}
		if p == len(format) {
			return false
		}
		if format[p] == esc {
			return true
		}
		if format[p] == '%' {
			p++
		}
	}
}
