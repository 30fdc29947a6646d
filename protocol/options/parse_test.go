package options

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func srv(args ...string) []string { return append([]string{"--server"}, args...) }

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		cfg   *Config
		check func(*Options) bool
	}{
		{"bundle up to -e", srv("-logDtprze.iLsfxCIvu", ".", "m/"), nil, func(o *Options) bool {
			return o.Links && o.Owner && o.Group && o.Devices && o.Specials && o.Times && o.Perms &&
				o.Recursive && o.Compress && o.Capabilities == ".iLsfxCIvu" && o.HasCapability('v') &&
				!o.HasCapability('V') && slices.Equal(o.Args, []string{".", "m/"})
		}},
		{"-B attached", srv("-B1024", "."), nil, func(o *Options) bool { return o.BlockSize == 1024 }},
		{"-B with =", srv("-vB=2048", "."), nil, func(o *Options) bool { return o.BlockSize == 2048 && o.Verbose == 1 }},
		{"-B separate", srv("-B", "4096", "."), nil, func(o *Options) bool { return o.BlockSize == 4096 }},
		{"--block-size=", srv("--block-size=8k", "."), nil, func(o *Options) bool { return o.BlockSize == 8192 }},
		{"--block-size separate", srv("--block-size", "100", "."), nil, func(o *Options) bool { return o.BlockSize == 100 }},
		{"-B max for protocol 29", srv("-B536870912", "."), &Config{Protocol: 29}, func(o *Options) bool { return o.BlockSize == 1<<29 }},
		{"-vvv counts", srv("-vvv", "-v", "."), nil, func(o *Options) bool { return o.Verbose == 4 }},
		{"--no-verbose resets", srv("-vv", "--no-v", "."), nil, func(o *Options) bool { return o.Verbose == 0 }},
		{"--no-OPTION after -a", srv("-a", "--no-perms", "--no-D", "--no-r", "."), nil, func(o *Options) bool {
			return !o.Perms && !o.Devices && !o.Specials && !o.Recursive && o.Links && o.Times && !o.Dirs
		}},
		{"options after paths", srv(".", "m/", "-v", "--delete", "-r"), nil, func(o *Options) bool {
			return o.Verbose == 1 && o.Delete == DeleteDefault && slices.Equal(o.Args, []string{".", "m/"})
		}},
		{"-- ends options", srv("--", "-v", "."), nil, func(o *Options) bool {
			return o.Verbose == 0 && slices.Equal(o.Args, []string{"-v", "."})
		}},
		{"lone dash is a path", srv("-", "."), nil, func(o *Options) bool { return slices.Equal(o.Args, []string{"-", "."}) }},
		{"-server is -s -e rver", []string{"-server", "--server"}, nil, func(o *Options) bool {
			return o.NeedSecluded() && o.Capabilities == "rver"
		}},
		{"options before --server are seen twice", []string{"-v", "--server", "."}, nil, func(o *Options) bool { return o.Verbose == 2 }},
		{"--server clears --iconv", []string{"--iconv=utf8", "--server", "."}, &Config{Charset: true}, func(o *Options) bool { return o.Iconv == "" }},
		{"--iconv after --server", srv("--iconv=utf8", "."), &Config{Charset: true}, func(o *Options) bool { return o.Iconv == "utf8" }},
		{"--no-iconv clears", srv("--iconv=utf8", "--no-iconv", "."), &Config{Charset: true}, func(o *Options) bool { return o.Iconv == "" }},
		{"!#:+ takes the next path", srv("--suffix=x!#:+y", "-b", "a", "."), nil, func(o *Options) bool {
			return o.Suffix == "xay" && slices.Equal(o.Args, []string{"."})
		}},
		{"!#:+ without a path stays", srv("--suffix=!#:+", "-b"), nil, func(o *Options) bool { return o.Suffix == "!#:+" }},
		{"sender", srv("--sender", "-r", "."), nil, func(o *Options) bool { return o.Sender && o.Recursive }},
		{"max-delete absent", srv("."), nil, func(o *Options) bool { return o.MaxDelete == -1 }},
		{"max-delete 5", srv("--max-delete=5", "."), nil, func(o *Options) bool { return o.MaxDelete == 5 }},
		{"max-delete 0", srv("--max-delete=0", "."), nil, func(o *Options) bool { return o.MaxDelete == 0 }},
		{"max-delete -1 means none", srv("--max-delete=-1", "."), nil, func(o *Options) bool { return o.MaxDelete == 0 }},
		{"max-delete INT_MIN is rsync's unset", srv("--max-delete=-2147483648", "."), nil, func(o *Options) bool { return o.MaxDelete == -1 }},
		{"max-delete hex", srv("--max-delete=0x10", "."), nil, func(o *Options) bool { return o.MaxDelete == 16 }},
		{"max-delete octal", srv("--max-delete=010", "."), nil, func(o *Options) bool { return o.MaxDelete == 8 }},
		{"empty int is 0", srv("--timeout=", "."), nil, func(o *Options) bool { return o.Timeout == 0 }},
		{"sizes", srv("--max-size=1.5m", "--min-size=1kb", "."), nil, func(o *Options) bool {
			return o.MaxSize == 1572864 && o.MinSize == 1000
		}},
		{"size -1 suffix", srv("--max-size=2G-1", "--min-size=1KiB+1", "."), nil, func(o *Options) bool {
			return o.MaxSize == 2<<30-1 && o.MinSize == 1025
		}},
		{"bwlimit in KiB", srv("--bwlimit=1m", "."), nil, func(o *Options) bool { return o.Bwlimit == 1024 }},
		{"bwlimit default unit K", srv("--bwlimit=100", "."), nil, func(o *Options) bool { return o.Bwlimit == 100 }},
		{"bwlimit 0", srv("--bwlimit=0", "."), nil, func(o *Options) bool { return o.Bwlimit == 0 }},
		{"delete default timing", srv("-r", "--delete", "."), nil, func(o *Options) bool {
			return o.Delete == DeleteDefault && o.DeleteTiming(30) == DeleteDuring && o.DeleteTiming(29) == DeleteBefore
		}},
		{"delete-excluded implies delete", srv("-r", "--delete-excluded", "."), nil, func(o *Options) bool {
			return o.Delete == DeleteDefault && o.DeleteExcluded
		}},
		{"--del is during", srv("-r", "--del", "."), nil, func(o *Options) bool { return o.Delete == DeleteDuring }},
		{"delete-delay", srv("-r", "--delete-delay", "."), nil, func(o *Options) bool { return o.DeleteTiming(27) == DeleteDelay }},
		{"delete with -d", srv("-d", "--no-r", "--delete", "."), nil, func(o *Options) bool { return o.Dirs && !o.Recursive }},
		{"delete-missing-args", srv("--delete-missing-args", "--ignore-missing-args", "."), nil, func(o *Options) bool {
			return o.DeleteMissingArgs && !o.IgnoreMissingArgs
		}},
		{"-zz is zlibx", srv("-zz", "."), nil, func(o *Options) bool { return o.Compress && o.CompressChoice == "zlibx" }},
		{"choice auto", srv("-z", "--zc=auto", "."), nil, func(o *Options) bool { return o.Compress && o.CompressChoice == "" }},
		{"choice implies compression", srv("--zc=zstd", "."), nil, func(o *Options) bool { return o.Compress && o.CompressChoice == "zstd" }},
		{"choice none", srv("-z", "--zc=none", "."), nil, func(o *Options) bool { return !o.Compress && o.CompressChoice == "" }},
		{"level alone compresses", srv("--zl=3", "."), nil, func(o *Options) bool {
			return o.Compress && o.CompressLevelSet && o.CompressLevel == 3
		}},
		{"threads capped", srv("-z", "--zt=100", "."), nil, func(o *Options) bool { return o.CompressThreads == 8 }},
		{"checksum none forces whole file", srv("--cc=none", "."), nil, func(o *Options) bool { return o.WholeFile == 1 }},
		{"checksum auto drops", srv("--cc=AUTO,auto", "."), nil, func(o *Options) bool { return o.ChecksumChoice == "" }},
		{"-P", srv("-P", "."), nil, func(o *Options) bool { return o.Partial && o.Progress }},
		{"inplace clears partial", srv("--partial", "--inplace", "."), nil, func(o *Options) bool { return o.Inplace && !o.Partial }},
		{"append implies inplace", srv("--append", "."), nil, func(o *Options) bool { return o.Inplace && o.Append == 1 }},
		{"append twice is verify", srv("--append", "--append", "."), nil, func(o *Options) bool { return o.Append == 2 }},
		{"append before --server", []string{"--append", "--server", "."}, nil, func(o *Options) bool { return o.Append == 2 }},
		{"partial-dir cleaned", srv("--partial-dir=a/b/../../c/./d//", "."), nil, func(o *Options) bool {
			return o.PartialDir == "c/d" && o.Partial
		}},
		{"partial-dir dot means none", srv("--partial-dir=./", "."), nil, func(o *Options) bool { return o.PartialDir == "" && o.Partial }},
		{"delay-updates default dir", srv("--delay-updates", "."), nil, func(o *Options) bool { return o.PartialDir == ".~tmp~" }},
		{"backup-dir", srv("--backup-dir", "././b", "."), nil, func(o *Options) bool {
			return o.Backup && o.BackupDir == "b/" && o.Suffix == "" && o.OmitDirTimes == 0
		}},
		{"backup without dir omits dir times", srv("-b", "."), nil, func(o *Options) bool { return o.Suffix == "~" && o.OmitDirTimes == -1 }},
		{"empty suffix is fine for a sender", srv("--sender", "--suffix=", "."), nil, func(o *Options) bool { return o.Suffix == "" }},
		{"chown", srv("--chown=u:", "."), nil, func(o *Options) bool { return o.Usermap == "*:u" && o.Groupmap == "" && o.Owner && !o.Group }},
		{"-A implies -p", srv("-A", "."), nil, func(o *Options) bool { return o.ACLs && o.Perms }},
		{"-UU opens noatime", srv("-UU", "."), nil, func(o *Options) bool { return o.Atimes == 2 && o.OpenNoatime }},
		{"super modes", srv("--super", "--fake-super", "."), nil, func(o *Options) bool { return o.Super == SuperFake }},
		{"no-super", srv("--no-super", "."), nil, func(o *Options) bool { return o.Super == SuperOff }},
		{"files-from resets -a's recursion", srv("-a", "--files-from=-", "--from0", "."), nil, func(o *Options) bool {
			return !o.Recursive && o.Dirs && o.Relative && o.ImpliedDirs && o.FilesFrom == "-" && o.From0
		}},
		{"files-from keeps -r", srv("-r", "--files-from=-", "."), nil, func(o *Options) bool { return o.Recursive }},
		{"old-dirs", srv("--old-dirs", "."), nil, func(o *Options) bool {
			return o.Recursive && o.Dirs && len(o.Filters) == 1 && o.Filters[0] == Filter{FilterRule, "- /*/*"}
		}},
		{"filters in order", srv("-f", "- a", "--exclude=b", "--include", "c", "-FF", "-F", "."), nil, func(o *Options) bool {
			return slices.Equal(o.Filters, []Filter{{FilterRule, "- a"}, {Exclude, "b"}, {Include, "c"},
				{FilterRule, ": /.rsync-filter"}, {FilterRule, "- .rsync-filter"}})
		}},
		{"fuzzy twice counts basis dirs", srv("-yy", "--link-dest=a", "--link-dest=b", "."), nil, func(o *Options) bool {
			return o.Fuzzy == 3 && slices.Equal(o.LinkDest, []string{"a", "b"})
		}},
		{"log format %i", srv("-i", "--log-format=%i", "."), nil, func(o *Options) bool { return o.LogFormatHasI == 1 && o.LogFormatHasOI }},
		{"log format %I on a server", srv("--log-format=%i%I", "."), nil, func(o *Options) bool { return o.LogFormatHasI == 2 }},
		{"log format %o", srv("--log-format=%o", "."), nil, func(o *Options) bool { return o.LogFormatHasI == 0 && o.LogFormatHasOI }},
		{"log format X", srv("--log-format=X", "."), nil, func(o *Options) bool { return o.LogFormatHasI == 0 && !o.LogFormatHasOI }},
		{"itemize without format", srv("-ii", "."), nil, func(o *Options) bool { return o.LogFormatHasI == 2 }},
		{"stderr prefix", srv("--stderr=a", "."), nil, func(o *Options) bool { return o.Msgs2Stderr == 1 }},
		{"help stops", srv("--help", "--bogus"), nil, func(o *Options) bool { return o.Help }},
		{"info=help stops", srv("--info=name,help2"), nil, func(o *Options) bool { return o.Help }},
		{"version", srv("-V", "."), nil, func(o *Options) bool { return o.Version == 1 }},
		{"protocol", srv("--protocol=29", "."), nil, func(o *Options) bool { return o.Protocol == 29 }},
		{"unescape before the dot only", srv("--suffix=a\\ b", "-b", ".", "m/a\\ b"), nil, func(o *Options) bool {
			return o.Suffix == "a b" && o.Args[1] == "m/a\\ b"
		}},
		{"escaped dot ends unescaping", srv("\\.", "m/\\x"), nil, func(o *Options) bool {
			return slices.Equal(o.Args, []string{".", "m/\\x"})
		}},
		{"trailing backslash kept", srv("--suffix=x\\", "-b", "."), nil, func(o *Options) bool { return o.Suffix == "x\\" }},
		{"stop-after", srv("--stop-after=2", "."), &Config{Now: fixedNow}, func(o *Options) bool {
			return o.StopAt.Equal(fixedNow().Add(2 * time.Minute))
		}},
		{"inc recursion", srv("-r", "-e.iL", "."), nil, func(o *Options) bool { return o.IncRecurse() }},
		{"no inc recursion without i", srv("-r", "-e.L", "."), nil, func(o *Options) bool { return !o.IncRecurse() }},
		{"no inc recursion for delete-after", srv("-r", "--delete-after", "-e.i", "."), nil, func(o *Options) bool { return !o.IncRecurse() }},
		{"inc recursion for a sender", srv("--sender", "-r", "--delete-after", "-e.i", "."), nil, func(o *Options) bool { return o.IncRecurse() }},
		{"sub protocol", srv("-e31.14iL", "."), nil, func(o *Options) bool {
			p, s, ok := o.SubProtocol()
			return ok && p == 31 && s == 14
		}},
		{"no sub protocol", srv("-e.iL", "."), nil, func(o *Options) bool {
			_, _, ok := o.SubProtocol()
			return !ok
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse(tt.args, tt.cfg)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.args, err)
			}
			if !tt.check(o) {
				t.Errorf("Parse(%q) = %+v", tt.args, *o)
			}
		})
	}
}

func fixedNow() time.Time { return time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC) }

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		args []string
		cfg  *Config
		want string
		code int
	}{
		{srv("--foo", "."), nil, "on remote machine: --foo: unknown option", ExitUnsupported},
		{[]string{"--foo", "--server", "."}, nil, "--foo: unknown option", ExitUnsupported},
		{srv("--delet", "."), nil, "on remote machine: --delet: unknown option", ExitUnsupported},
		{srv("-vZ", "."), nil, "on remote machine: -vZ: unknown option", ExitUnsupported},
		{srv("--use-qsort", "."), nil, "on remote machine: --use-qsort: unknown option", ExitUnsupported},
		{srv("--timeout", "abc", "."), nil, "on remote machine: abc: invalid numeric value", ExitUnsupported},
		{srv("--timeout=99999999999", "."), nil, "on remote machine: --timeout=99999999999: number too large or too small", ExitUnsupported},
		{srv("-B"), nil, "on remote machine: -B: missing argument", ExitUnsupported},
		{srv("--dry-run=1", "."), nil, "on remote machine: --dry-run=1: option does not take an argument", ExitUnsupported},
		{srv("-v=1", "."), nil, "on remote machine: -v=1: option does not take an argument", ExitUnsupported},
		{srv("--timeout="+long, "."), nil, ("on remote machine: --timeout=" + long)[:199], ExitUnsupported},
		{srv("-B131073", "."), nil, "--block-size=131073 is too large (max: 128.00K)", ExitUnsupported},
		{srv("-B536870913", "."), &Config{Protocol: 29}, "--block-size=536870913 is too large (max: 512.00M)", ExitUnsupported},
		{srv("--bwlimit=3b", "."), nil, "--bwlimit=3b is too small (min: 512 or 0 for unlimited)", ExitUnsupported},
		{srv("--max-size=-1", "."), nil, "--max-size=-1 is too large", ExitUnsupported},
		{srv("--max-size=1e3", "."), nil, "--max-size=1e3 is invalid", ExitUnsupported},
		{srv("--max-alloc=1k", "."), nil, "--max-alloc=1k is too small (min: 1.00M or 0 for unlimited)", ExitUnsupported},
		{srv("--max-alloc=0", "."), nil, "max-alloc must be greater than zero", ExitUnsupported},
		{srv("--chmod=u+q", "."), nil, "Invalid argument passed to --chmod (u+q)", ExitUnsupported},
		{srv("--cc=foo,md5", "."), nil, "unknown checksum name: foo,md5", ExitUnsupported},
		{srv("--cc=md5,foo", "."), nil, "unknown checksum name: foo", ExitUnsupported},
		{srv("--cc=xxh3", "."), &Config{Checksums: []string{"md5", "md4"}}, "unknown checksum name: xxh3", ExitUnsupported},
		{srv("--zc=lz4", "."), &Config{Compressions: []string{"zlib", "none"}}, "unknown compress name: lz4", ExitUnsupported},
		{srv("--only-write-batch=b", "--zc=zstd", "."), nil, "Your --compress-choice value (zstd) was refused by the server.", ExitUnsupported},
		{srv("-r", "--delete-before", "--del", "."), nil, "You may not combine multiple --delete-WHEN options.", ExitUnsupported},
		{srv("--delete", "."), nil, "--delete does not work without --recursive (-r) or --dirs (-d).", ExitUnsupported},
		{srv("--append", "-W", "."), nil, "--append cannot be used with --whole-file", ExitUnsupported},
		{srv("--inplace", "--delay-updates", "."), nil, "--inplace cannot be used with --delay-updates", ExitUnsupported},
		{srv("--append", "--partial-dir=p", "."), nil, "--append cannot be used with --partial-dir", ExitUnsupported},
		{srv("--link-dest=a", "--copy-dest=b", "."), nil, "ERROR: the --copy-dest option conflicts with the --link-dest option", ExitUnsupported},
		{srv(slices.Repeat([]string{"--compare-dest=a"}, 21)...), nil, "ERROR: at most 20 --compare-dest args may be specified", ExitUnsupported},
		{srv("--suffix=", "."), nil, "--suffix cannot be empty without a --backup-dir", ExitUnsupported},
		{srv("--backup-dir=.", "."), nil, "--suffix cannot be empty when --backup-dir is the same as the dest dir", ExitUnsupported},
		{srv("-b", "--suffix=a/b", "."), nil, "--suffix cannot contain slashes: a/b", ExitUnsupported},
		{srv("--fake-super", "-XX", "."), nil, "--fake-super conflicts with -XX", ExitUnsupported},
		{srv("--old-args", "--protect-args", "."), nil, "--secluded-args conflicts with --old-args.", ExitUnsupported},
		{srv("--usermap=a", "--usermap=b", "."), nil, "You can only specify --usermap once.", ExitUnsupported},
		{srv("--chown=u", "--usermap=b", "."), nil, "--usermap conflicts with prior --chown.", ExitUnsupported},
		{srv("-M", "x", "."), nil, "Remote option must start with a dash: x", ExitUnsupported},
		{srv("--stderr=x", "."), nil, `--stderr mode "x" is not one of errors, all, or client`, ExitUnsupported},
		{srv("--stop-after=0", "."), nil, "invalid --stop-after value: 0", ExitUnsupported},
		{srv("--stop-at=2000-01-01", "."), nil, "--stop-at time is not in the future: 2000-01-01", ExitUnsupported},
		{srv("--stop-at=T25:00", "."), nil, "invalid --stop-at format: T25:00", ExitUnsupported},
		{srv("--files-from=host:list", "."), nil, "The --files-from sent to the server cannot specify a host.", ExitUnsupported},
		{srv("--files-from=rsync://h/x", "."), nil, "The --files-from sent to the server cannot specify a host.", ExitUnsupported},
		{srv("--temp-dir="+strings.Repeat("t", 4086), "."), nil, "the --temp-dir path is WAY too long.", ExitUnsupported},
		{srv("--daemon", "."), nil, "Attempt to hack rsync thwarted!", ExitUnsupported},
		{srv("--config", "x", "."), nil, "Attempt to hack rsync thwarted!", ExitUnsupported},
		{[]string{"--sender", "--server", "."}, nil, "syntax or usage error: --sender without --server", ExitSyntax},
		{srv("--files-from=-", ".", "a", "b"), nil, "syntax or usage error: --files-from with more than 2 arguments", ExitSyntax},
		{[]string{"--debug=bogus", "--server", "."}, nil, `Unknown --debug item: "bogus"`, ExitSyntax},
	}
	for _, tt := range tests {
		_, err := Parse(tt.args, tt.cfg)
		if err == nil {
			t.Errorf("Parse(%.80q) succeeded, want %q", tt.args, tt.want)
			continue
		}
		if err.Error() != tt.want || ExitCode(err) != tt.code {
			t.Errorf("Parse(%.80q) = %q (code %d), want %q (code %d)", tt.args, err, ExitCode(err), tt.want, tt.code)
		}
	}
}

func TestSecluded(t *testing.T) {
	o, err := Parse([]string{"--server", "--sender", "-slogDtpre.iLsfxCIvu", "--iconv=utf8"}, &Config{Charset: true})
	if err != nil {
		t.Fatal(err)
	}
	if !o.NeedSecluded() || len(o.Args) != 0 {
		t.Fatalf("first list: NeedSecluded=%v Args=%q", o.NeedSecluded(), o.Args)
	}
	o2, err := o.ParseSecluded([]string{"rsync", "--delete", "--suffix=a\\b", ".", "mod/x y"})
	if err != nil {
		t.Fatal(err)
	}
	if o2.NeedSecluded() || !o2.Sender || !o2.Recursive || o2.Delete != DeleteDefault || o2.Iconv != "utf8" ||
		o2.Suffix != "a\\b" || o2.Secluded != 2 || !slices.Equal(o2.Args, []string{".", "mod/x y"}) {
		t.Errorf("secluded result: %+v", *o2)
	}
	if _, err := o2.ParseSecluded([]string{"rsync"}); err == nil {
		t.Error("second ParseSecluded accepted")
	}
	if _, err := o.ParseSecluded(nil); err == nil || err.Error() != "argc is zero!" {
		t.Errorf("empty secluded list: %v", err)
	}
	if _, err := o.ParseSecluded([]string{"rsync", "--old-args", "."}); err == nil || err.Error() != "--secluded-args conflicts with --old-args." {
		t.Errorf("old-args in the secluded list: %v", err)
	}
}

func TestRefuse(t *testing.T) {
	tests := []struct {
		refuse  string
		charset bool
		args    []string
		want    string // "" when accepted
	}{
		{"c delete", false, srv("-c", "."), "The server is configured to refuse --checksum (-c)"},
		{"c delete", false, srv("-r", "--delete-after", "."), "The server is configured to refuse --delete"},
		{"c delete", false, srv("-r", "--delete-excluded", "."), "The server is configured to refuse --delete"},
		{"c delete", false, srv("--delete-missing-args", "."), "The server is configured to refuse --delete"},
		{"c delete", false, srv("--sender", "--remove-source-files", "."), "The server is configured to refuse --delete"},
		{"delete-*", false, srv("--sender", "--remove-source-files", "."), ""},
		{"c delete", false, srv("--remove-source-files", "."), ""},
		{"delete-* !delete-during", false, srv("-r", "--delete", "."), ""},
		{"delete-* !delete-during", false, srv("-r", "--delete-before", "."), "The server is configured to refuse --delete-before"},
		{"delete-before delete-during", false, srv("-r", "--delete", "."), "The server is configured to refuse --delete-before"},
		{"del", false, srv("-r", "--delete-during", "."), "The server is configured to refuse --delete-during"},
		{"existing", false, srv("--ignore-non-existing", "."), "The server is configured to refuse --ignore-non-existing"},
		{"cc", false, srv("--checksum-choice=md5", "."), "The server is configured to refuse --checksum-choice"},
		{"* !a !v", false, srv("-vlogDtpre.iLsfxCIvu", "--server", "-n", "--sender", "-0", "--checksum-seed=1", ".", "m/"), ""},
		{"* !a !v", false, srv("--stats", "."), "The server is configured to refuse --stats"},
		{"*", false, srv("--log-format=%i", "."), ""},
		{"*", false, srv("--out-format=%i", "."), "The server is configured to refuse --out-format"},
		{"log-format", false, srv("--out-format=%i", "."), "The server is configured to refuse --out-format"},
		{"a", false, srv("-r", "."), "The server is configured to refuse --recursive (-r)"},
		{"a", false, srv("-a", "."), "The server is configured to refuse --archive (-a)"},
		{"archive*", false, srv("-a", "."), "The server is configured to refuse --archive (-a)"},
		{"archive* !a", false, srv("-a", "."), ""}, // "a" also matches the archive row's letter
		{"archive* !a", false, srv("-r", "."), ""},
		{"t", false, srv("-a", "."), "The server is configured to refuse --times (-t)"},
		{"times perms", false, srv("-a", "."), "The server is configured to refuse --times (-t)"}, // the last in table order
		{"D", false, srv("-D", "."), "The server is configured to refuse --(null) (-D)"},
		{"P", false, srv("-P", "."), "The server is configured to refuse --(null) (-P)"},
		{"partial", false, srv("-P", "."), "The server is configured to refuse --partial"},
		{"progress", false, srv("-P", "."), "The server is configured to refuse --progress"},
		{"partial", false, srv("--inplace", "."), "The server is configured to refuse --partial"},
		{"partial", false, srv("--partial-dir=.", "."), "The server is configured to refuse --partial"},
		{"partial", false, srv("--partial-dir=p", "."), ""},
		{"inplace", false, srv("--append", "."), "The server is configured to refuse --inplace"},
		{"inplace !write-devices", false, srv("--write-devices", "."), "The server is configured to refuse --inplace"},
		{"z", false, srv("--zc=zlib", "."), "The server is configured to refuse --compress (-z)"},
		{"z", false, srv("--zl=1", "."), "The server is configured to refuse --compress (-z)"},
		{"z", false, srv("--zc=none", "."), ""},
		{"compress*", false, srv("--new-compress", "."), "The server is configured to refuse --compress (-z)"},
		{"* !compress*", false, srv("--new-compress", "."), "The server is configured to refuse --new-compress"},
		{"* !compress*", false, srv("-z", "--compress-level=3", "."), ""},
		{"", false, srv("--write-devices", "."), "The server is configured to refuse --write-devices"},
		{"", false, srv("--copy-devices", "."), "The server is configured to refuse --copy-devices"},
		{"!copy-devices !write-devices", false, srv("--copy-devices", "--write-devices", "."), ""},
		{"* !copy-devices", false, srv("--copy-devices", "."), ""},
		{"!log-file*", false, srv("--log-file=x", "."), "The server is configured to refuse --log-file"},
		{"!log-file-format", false, srv("--log-file-format=x", "."), "The server is configured to refuse --log-file-format"},
		{"!insecure-links", false, srv("--insecure-links", "."), "The server is configured to refuse --insecure-links"},
		{"", false, srv("--iconv=utf8", "."), "The server is configured to refuse --iconv"},
		{"", true, srv("--iconv=utf8", "."), ""},
		{"no-iconv", true, srv("."), "The server is configured to refuse --no-iconv"},
		{"no-iconv", true, srv("--iconv=utf8", "."), ""},
		{"delete-missing-args", false, srv("--delete-missing-args", "."), "The server is configured to refuse --delete-missing-args"},
		{"[[:upper:]]", false, srv("-R", "."), "The server is configured to refuse --relative (-R)"},
		{"[[:upper:]]", false, srv("-r", "."), ""},
		{"no-?", false, srv("--no-v", "."), "The server is configured to refuse --no-v"},
		{"\\delete", false, srv("-r", "--delete", "."), "The server is configured to refuse --delete"},
		{"e s n", false, srv("-e.i", "."), "The server is configured to refuse --rsh (-e)"},
		{"secluded-args", false, srv("--protect-args", "."), "The server is configured to refuse --protect-args"},
		{"bogus", false, srv("-r", "."), ""},
	}
	for _, tt := range tests {
		_, err := Parse(tt.args, &Config{Refuse: []string{tt.refuse}, Charset: tt.charset})
		got := ""
		if err != nil {
			got = err.Error()
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Errorf("refuse %q, %q: %T %v, want a *RefusedError", tt.refuse, tt.args, err, err)
			}
		}
		if got != tt.want {
			t.Errorf("refuse %q, %q: got %q, want %q", tt.refuse, tt.args, got, tt.want)
		}
	}
}

func TestUnmatchedRefuse(t *testing.T) {
	got := UnmatchedRefuse([]string{"c  delete bogus", "!x*y", "a", "[z"})
	if want := []string{"bogus", "x*y", "[z"}; !slices.Equal(got, want) {
		t.Errorf("UnmatchedRefuse = %q, want %q", got, want)
	}
}

func TestImplemented(t *testing.T) {
	cfg := &Config{Implemented: []string{"archive", "recursive", "dirs", "perms", "times", "owner", "group", "D",
		"links", "delete-during", "delete", "compress", "relative", "implied-dirs", "specials"}}
	tests := []struct {
		args []string
		want string
	}{
		{srv("-logDtprze.iLsfxCIvu", "--delete", ".", "m/"), ""},
		{srv("-a", "-d", "--no-r", "--no-implied-dirs", "--no-specials", "-R", "--del", "."), ""},
		{srv("-H", "."), "The server does not support --hard-links (-H)"},
		{srv("--no-H", "."), "The server does not support --no-H"},
		{srv("-r", "--delete-after", "."), "The server does not support --delete-after"},
		{srv("-r", "--delete", "--delete-excluded", "."), "The server does not support --delete-excluded"},
		{srv("--devices", "."), "The server does not support --devices"},
		{srv("--zc=zstd", "."), "The server does not support --zc"},
		{srv("--compress-choice=zstd", "."), "The server does not support --compress-choice"},
		{srv("--sender", "--no-iconv", "."), "The server does not support --no-iconv"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.args, cfg)
		got := ""
		if err != nil {
			got = err.Error()
			var ue *UnsupportedError
			if !errors.As(err, &ue) {
				t.Errorf("%q: %T %v, want an *UnsupportedError", tt.args, err, err)
			}
		}
		if got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.args, got, tt.want)
		}
	}
	// A module refusal wins over "not implemented".
	_, err := Parse(srv("-H", "."), &Config{Implemented: []string{}, Refuse: []string{"H"}})
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Errorf("refused and unimplemented: %v", err)
	}
	// -a reports the part the daemon lacks.
	_, err = Parse(srv("-a", "."), &Config{Implemented: []string{"archive", "recursive"}})
	if err == nil || err.Error() != "The server does not support --links (-l)" {
		t.Errorf("-a with missing parts: %v", err)
	}
	// The plain --delete timing avoids an unimplemented one.
	o, err := Parse(srv("-r", "--delete", "."), &Config{Implemented: []string{"recursive", "delete", "delete-after", "delete-during"}})
	if err != nil || o.Delete != DeleteDuring {
		t.Errorf("--delete without delete-before: %v %v", o, err)
	}
}

func TestBounds(t *testing.T) {
	if _, err := Parse(make([]string, MaxArgs+1), nil); err == nil {
		t.Error("accepted too many arguments")
	}
	if _, err := Parse(srv(strings.Repeat("x", MaxArgLen+1)), nil); err == nil {
		t.Error("accepted an over-long argument")
	}
	big := make([]string, 300)
	for i := range big {
		big[i] = strings.Repeat("y", 4000)
	}
	if _, err := Parse(big, nil); err == nil {
		t.Error("accepted over MaxArgsBytes")
	}
	if _, err := Parse(srv(strings.Repeat("x", MaxArgLen)), nil); err != nil {
		t.Errorf("rejected an argument of MaxArgLen: %v", err)
	}
}

func TestKnown(t *testing.T) {
	k := Known()
	if len(k) != len(table) {
		t.Fatalf("Known has %d rows, table %d", len(k), len(table))
	}
	find := func(long string) Info {
		for _, i := range k {
			if i.Long == long {
				return i
			}
		}
		t.Fatalf("%s missing from Known", long)
		return Info{}
	}
	if i := find("block-size"); i.Short != 'B' || !i.HasArg || !i.Stored || !i.Wild {
		t.Errorf("block-size: %+v", i)
	}
	if i := find("server"); i.Wild {
		t.Errorf("server is wild: %+v", i)
	}
	if i := find("port"); i.Stored {
		t.Errorf("port is stored: %+v", i)
	}
	// Every option a client builds in server_options must be in the table.
	for _, name := range []string{"server", "sender", "list-only", "no-r", "compress-level", "no-specials", "specials",
		"log-format", "msgs2stderr", "no-msgs2stderr", "timeout", "bwlimit", "backup-dir", "suffix", "checksum-choice",
		"new-compress", "old-compress", "compress-choice", "max-delete", "min-size", "max-size", "delete-before",
		"delete-delay", "delete-during", "delete-after", "delete", "delete-excluded", "force", "only-write-batch",
		"super", "size-only", "stats", "skip-compress", "max-alloc", "delete-missing-args", "ignore-missing-args",
		"modify-window", "checksum-seed", "partial-dir", "delay-updates", "partial", "ignore-errors",
		"copy-unsafe-links", "safe-links", "numeric-ids", "usermap", "groupmap", "ignore-existing", "existing",
		"temp-dir", "fsync", "compare-dest", "copy-dest", "link-dest", "info", "append", "inplace", "no-W",
		"files-from", "from0", "no-relative", "no-implied-dirs", "write-devices", "remove-source-files",
		"remove-sent-files", "copy-devices", "preallocate", "open-noatime", "mkpath", "iconv"} {
		find(name)
	}
}

func TestReadArgs(t *testing.T) {
	tests := []struct {
		in    string
		nulls bool
		want  []string
		err   bool
	}{
		{"--server\x00-r\x00.\x00m/\x00\x00rest", true, []string{"--server", "-r", ".", "m/"}, false},
		{"--server\n-r\n.\nm/\n\n", false, []string{"--server", "-r", ".", "m/"}, false},
		{"--server\r\n.\n\n", false, []string{"--server"}, false}, // "\r\n" ends an argument, then the list
		{"a b\x00\x00", true, []string{"a b"}, false},
		{"\x00", true, nil, false},
		{"--server\x00", true, nil, true},
		{"", true, nil, true},
		{strings.Repeat("x", MaxArgLen) + "\x00\x00", true, []string{strings.Repeat("x", MaxArgLen)}, false},
		{strings.Repeat("x", MaxArgLen+1) + "\x00\x00", true, nil, true},
		{strings.Repeat("a\x00", MaxArgs+1) + "\x00", true, nil, true},
	}
	for _, tt := range tests {
		got, err := ReadArgs(strings.NewReader(tt.in), tt.nulls)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("ReadArgs(%.40q) = %q, %v", tt.in, got, err)
		}
	}
}
