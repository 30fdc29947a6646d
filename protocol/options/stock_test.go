package options

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The differential test runs the real "rsync --server" (stock 3.5.0) on
// generated argument vectors and checks that Parse, in its stock-server
// mode, accepts and rejects the same vectors with the same message.

const stockRsync = "/usr/bin/rsync"

func needStockRsync(t *testing.T) {
	t.Helper()
	out, err := exec.Command(stockRsync, "--version").Output()
	if err != nil {
		t.Fatalf("this test needs stock rsync 3.5.0 at %s (apt-get install rsync): %v", stockRsync, err)
	}
	if !bytes.Contains(out, []byte("version 3.5.0 ")) {
		t.Fatalf("this test needs rsync 3.5.0 at %s, found: %s", stockRsync, bytes.SplitN(out, []byte("\n"), 2)[0])
	}
}

// stockOutcome runs rsync --server with stdin at EOF and classifies how it
// ended: "ok" (parsing passed, the protocol then found EOF), "stop" (help
// or version), "usage", or "err: <message>".
func stockOutcome(dir string, args []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, stockRsync, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LC_ALL=C"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	rc := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		rc = ee.ExitCode()
	} else if err != nil {
		return "other: " + err.Error()
	}
	out := stderr.String()
	for strings.HasPrefix(out, "ignoring --") {
		_, out, _ = strings.Cut(out, "\n")
	}
	first, _, _ := strings.Cut(out, "\n")
	// A message cut by rsync's err_buf has no newline before the next line.
	first, _, _ = strings.Cut(first, "rsync error: ")
	switch {
	case rc == 12 && strings.Contains(first, "connection unexpectedly closed"):
		return "ok"
	case rc == 0:
		return "stop"
	case rc == 1 && strings.HasPrefix(first, "rsync: "):
		return "err: " + strings.TrimPrefix(first, "rsync: ")
	case rc == 1 && strings.HasPrefix(first, "rsync  version"):
		return "usage"
	case rc == 1:
		return "err: " + first
	case rc == 4:
		return "err: " + first
	}
	return fmt.Sprintf("other rc=%d: %s", rc, stderr.String())
}

func ourOutcome(args []string) string {
	o, err := Parse(args, &Config{stockServer: true, Now: time.Now})
	if err == nil && o.NeedSecluded() {
		o, err = o.ParseSecluded(nil)
	}
	var oe *OptionError
	switch {
	case errors.As(err, &oe) && oe.Code == ExitSyntax && strings.HasPrefix(oe.Msg, "syntax or usage error"):
		return "usage"
	case err != nil:
		return "err: " + err.Error()
	case o.Help || o.Version > 0:
		return "stop"
	case len(o.Args) == 0:
		// rsync's main() wants a path after the options; rsyncd does not.
		return "usage"
	}
	return "ok"
}

// Values per option, chosen to reach rsync's checks without making the
// stock server touch files or the network.
var (
	intVals   = []string{"0", "1", "-1", "5", "030", "0x1f", "0x", "08", "", " 7", "7 ", "abc", "99999999999", "-2147483648", "2147483647", "2147483648", "+3", "-"}
	sizeVals  = []string{"10", "1k", "1.5m", "2G-1", "1kb", "1KiB", "1ib", "1iB", "x", "", "-1", "0", "512", "511", "3b", "100000000000000000000", "1p", "8p", "9.5", ".5k", "1k+1", "10-1", "1e3", "128k", "131072", "131073", "536870912", "1m+1", "k", "+5", "1.", "7Mb", "1t", "0.1"}
	chmodVals = []string{"u+x", "Dg+s,ug+w", "F644", "755", "8", "u+", "", "a=rwX", "go-w,", "u+rg", "ug=u", "o=x,D+t", "Fu+x,D", "07777", "17777", "DF+x", "+s", "u=g,o-x", "a+st", "g=rs"}
	valsFor   = map[string][]string{
		"checksum-choice":  {"md5", "xxh3", "auto", "AUTO,auto", "md5,md4", "foo", "md5,foo", ",md5", "md5,", "none", "XXH128", "auto,md5"},
		"compress-choice":  {"zstd", "lz4", "zlibx", "zlib", "none", "auto", "foo", "ZSTD", "None"},
		"stderr":           {"errors", "e", "all", "client", "c", "x", ""},
		"stop-after":       {"0", "5", "-1", "x", "99999999999999999", " 3"},
		"stop-at":          {"2000-01-01", "3000-01-01T00:00", "bogus", "25:00", "T12", "2000-01-01T12", "3000-1-1", "1-1-1-1", "12:61"},
		"usermap":          {"a:b", "*:u", "u"},
		"groupmap":         {"a:b", "*:g"},
		"chown":            {"u:g", ":g", "u:", "u", "", ":"},
		"info":             {"name", "NAME0,del2", "help", "stats3", "", "progress2,help1", "2help"},
		"debug":            {"del2", "HELP", "flist,,x9"},
		"iconv":            {"utf8", "."},
		"remote-option":    {"--foo", "x", "-v"},
		"partial-dir":      {"p", ".", "./", "a/../b", "", "x/", "//", "../x"},
		"backup-dir":       {"b", ".", "./", "././b", "", "x/"},
		"temp-dir":         {"t", ""},
		"suffix":           {"~", "", ".x", "a/b"},
		"files-from":       {"-", ":x", "h:x", "rsync://h/x", "[::1]:x", "h::-", "rsync://h:12/-"},
		"filter":           {"- *.o", "+ x"},
		"exclude":          {"*.c", "- x"},
		"include":          {"x"},
		"skip-compress":    {"gz/jpg"},
		"out-format":       {"%i", "%n%L", "%o", "%I", "X"},
		"rsh":              {".iLsfxCIvu", "31.14iL"},
		"read-batch":       {"bf"},
		"write-batch":      {"bf"},
		"only-write-batch": {"bf", strings.Repeat("b", 257)},
		"outbuf":           {"L"},
		"address":          {"x"},
		"sockopts":         {"x"},
		"password-file":    {"x"},
		"early-input":      {"x"},
		"rsync-path":       {"x"},
		// Not "0": the source (and this package) refuse it, the binary
		// built from an earlier 3.5.0 snapshot does not.
		"max-alloc": {"1m", "1k", "2g", "x", "1.5M"},
	}
	// Options whose effect reaches past parsing in a stock server (files,
	// daemon mode), which the comparison cannot follow.
	skipLong = map[string]bool{
		"config": true, "daemon": true, "dparam": true, "detach": true, "no-detach": true,
		"confine-root": true, "log-file": true, "log-file-format": true,
		"exclude-from": true, "include-from": true, "copy-as": true, "server": true,
	}
)

func valueFor(r *row, rnd *rand.Rand) string {
	name := r.long
	switch name {
	case "cc":
		name = "checksum-choice"
	case "zc":
		name = "compress-choice"
	case "log-format":
		name = "out-format"
	case "time-limit":
		name = "stop-after"
	case "compare-dest", "copy-dest", "link-dest":
		return []string{"a", "b"}[rnd.IntN(2)]
	case "max-size", "min-size", "bwlimit", "block-size":
		return sizeVals[rnd.IntN(len(sizeVals))]
	case "chmod":
		return chmodVals[rnd.IntN(len(chmodVals))]
	}
	if r.short == 'e' {
		name = "rsh"
	}
	if vs, ok := valsFor[name]; ok {
		v := vs[rnd.IntN(len(vs))]
		if rnd.IntN(40) == 0 && name != "iconv" {
			v += "!#:+"
		}
		return v
	}
	if r.typ == argInt {
		return intVals[rnd.IntN(len(intVals))]
	}
	return "v"
}

// genToken returns one or two argument elements.
func genToken(rnd *rand.Rand) []string {
	switch rnd.IntN(20) {
	case 0:
		return []string{[]string{"--", "-", "-=x", "--=x", "--no-such", "-Z", "-v=1", "--dry-run=1", "--server", "--sender", "-s", "!#:+", "--no-iconv", "-hh", "--help"}[rnd.IntN(15)]}
	case 1, 2, 3, 4:
		// a bundle of letters, maybe ending in one that takes a value
		var b strings.Builder
		b.WriteByte('-')
		n := 1 + rnd.IntN(4)
		for range n {
			for {
				r := &table[rnd.IntN(len(table))]
				if r.short == 0 || r.typ == argString || r.typ == argInt || r.short == 's' && rnd.IntN(4) != 0 {
					continue
				}
				b.WriteByte(r.short)
				break
			}
		}
		if rnd.IntN(3) == 0 {
			for {
				r := &table[rnd.IntN(len(table))]
				if r.short == 0 || (r.typ != argString && r.typ != argInt) {
					continue
				}
				b.WriteByte(r.short)
				v := valueFor(r, rnd)
				switch rnd.IntN(3) {
				case 0:
					return []string{b.String(), v}
				case 1:
					return []string{b.String() + "=" + v}
				}
				return []string{b.String() + v}
			}
		}
		return []string{b.String()}
	}
	for {
		r := &table[rnd.IntN(len(table))]
		if r.long == "" || skipLong[r.long] || (r.long == "help" && rnd.IntN(10) != 0) {
			continue
		}
		if r.typ != argString && r.typ != argInt {
			return []string{"--" + r.long}
		}
		v := valueFor(r, rnd)
		if rnd.IntN(3) == 0 {
			return []string{"--" + r.long, v}
		}
		return []string{"--" + r.long + "=" + v}
	}
}

// takesNext reports whether popt would take the element after tok as its
// value (or stop option parsing), which would hide a following --server.
func takesNext(tok string) bool {
	switch {
	case tok == "--":
		return true
	case strings.HasPrefix(tok, "--"):
		i, ok := byLong[strings.TrimPrefix(tok, "--")]
		return ok && (table[i].typ == argString || table[i].typ == argInt)
	case strings.HasPrefix(tok, "-") && len(tok) > 1:
		for j := 1; j < len(tok); j++ {
			i := byShort[tok[j]]
			if i >= 0 && (table[i].typ == argString || table[i].typ == argInt) {
				return j == len(tok)-1
			}
		}
	}
	return false
}

func genVector(rnd *rand.Rand) []string {
	var args []string
	if rnd.IntN(8) == 0 {
		// an option before --server (seen twice: rsync restarts popt)
		if tok := genToken(rnd); len(tok) == 1 && !takesNext(tok[0]) {
			args = append(args, tok...)
		}
	}
	args = append(args, "--server")
	for range rnd.IntN(7) {
		args = append(args, genToken(rnd)...)
	}
	switch rnd.IntN(6) {
	case 0:
		args = append(args, ".")
	case 1:
		args = append(args, ".", "x", "y")
	default:
		args = append(args, ".", "x")
	}
	return args
}

// curated vectors that exercise popt and rsync corner cases directly.
var curated = [][]string{
	{"--server", "-logDtprze.iLsfxCIvu", "--delete", ".", "x"},
	{"--server", "-vZ", ".", "x"},
	{"--server", "--timeout", "abc", ".", "x"},
	{"--server", "--timeout", ".", "x"},
	{"--server", "-B", ".", "x"},
	{"--server", ".", "x", "-B"},
	{"--server", ".", "x", "-v", "--delete"},
	{"--server", "--", "-v", ".", "x"},
	{"--server", "-e", "--delete", "x"},
	{"--server", "-server", ".", "x"},
	{"--server", "--delete-before", "--delete-after", "-r", ".", "x"},
	{"--server", "--delete", ".", "x"},
	{"--server", "-d", "--delete", ".", "x"},
	{"--server", "--old-dirs", "--delete", ".", "x"},
	{"--server", "--files-from=-", "--delete", ".", "x"},
	{"--server", "-a", "--files-from=-", "--delete", ".", "x"},
	{"--server", "-r", "--files-from=-", "--delete", ".", "x"},
	{"--server", "--append", "-W", ".", "x"},
	{"--server", "--inplace", "--partial-dir=p", ".", "x"},
	{"--server", "--inplace", "--delay-updates", ".", "x"},
	{"--server", "--append", "--delay-updates", ".", "x"},
	{"--server", "--link-dest=a", "--copy-dest=b", ".", "x"},
	{"--server", "--suffix=", ".", "x"},
	{"--server", "--sender", "--suffix=", ".", "x"},
	{"--server", "--backup-dir=.", ".", "x"},
	{"--server", "--backup-dir=./", "--suffix=", ".", "x"},
	{"--server", "--fake-super", "-XX", ".", "x"},
	{"--server", "--old-args", "--secluded-args", ".", "x"},
	{"--server", "--write-batch=a", "--read-batch=b", ".", "x"},
	{"--server", "--only-write-batch=" + strings.Repeat("b", 257), ".", "x"},
	{"--server", "--temp-dir=" + strings.Repeat("t", 4086), ".", "x"},
	{"--server", "--temp-dir=" + strings.Repeat("t", 4085), ".", "x"},
	{"--server", "--backup-dir=" + strings.Repeat("b", 3969), ".", "x"},
	{"--server", "--backup-dir=" + strings.Repeat("b", 3968), ".", "x"},
	{"--server", "--max-size=" + strings.Repeat("9", 300), ".", "x"},
	{"--server", "--timeout=" + strings.Repeat("x", 300), ".", "x"},
	{"--server", "--protocol=29", "-B536870912", ".", "x"},
	{"--server", "-B536870912", "--protocol=29", ".", "x"},
	{"--server", "--suffix=!#:+", ".", "x"},
	{"--server", "--suffix", "!#:+", ".", "x"},
	{"--server", "--suffix=!#:+!#:+", "-v", "a", ".", "x"},
	{"--server", "--usermap=a", "--chown=u", ".", "x"},
	{"--server", "--chown=u", "--usermap=a", ".", "x"},
	{"--server", "--chown=u", "--chown=v", ".", "x"},
	{"--server", "--chown=:g", "--chown=:h", ".", "x"},
	{"--server", "--groupmap=a", "--groupmap=b", ".", "x"},
	{"--server", "-zz", "--zc=auto", ".", "x"},
	{"--server", "--zl=3", "--zc=none", ".", "x"},
	{"--server", "--no-z", "--zc=foo", ".", "x"},
	{"--server", "-M", "v", ".", "x"},
	{"-v", "--server", ".", "x"},
	{"--iconv=utf8", "--server", ".", "x"},
	{"--sender", "--server", ".", "x"},
	{"--crtimes", "--server", ".", "x"},
	{"--server", "-N", ".", "x"},
	{"--server", "--no-N", ".", "x"},
	{"--server", "--dirs", "--no-recursive", "--delete", ".", "x"},
	{"--server", "--sender", "--remove-source-files", ".", "x"},
	{"--server", "--delete-missing-args", "--ignore-missing-args", ".", "x"},
	{"--server", "--stop-at=3000-01-01T00:00", ".", "x"},
	{"--server", "--stop-at=T12:00", ".", "x"},
	{"--server", "--stop-at=:12:00", ".", "x"},
	{"--server", "--stop-at=12", ".", "x"},
	{"--server", "--stop-at=2-29", ".", "x"},
	{"--server", "--stop-at=12-31T23:59", ".", "x"},
	{"--server", "--stop-after=1", ".", "x"},
	{"--server", "--partial-dir=a/b/../../c/./d//", ".", "x"},
	{"--server", "--partial-dir=/../a", ".", "x"},
	{"--server", "--delay-updates", "--partial-dir=", ".", "x"},
	{"--server", "--info=help", ".", "x"},
	{"--server", "--checksum-choice=none", "--append", ".", "x"},
}

func TestAgainstStockServer(t *testing.T) {
	needStockRsync(t)
	n := 400
	if s := os.Getenv("OPTIONS_STOCK_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	seed := uint64(1)
	if s := os.Getenv("OPTIONS_STOCK_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rnd := rand.New(rand.NewPCG(seed, 2))
	vectors := append([][]string(nil), curated...)
	for range n {
		vectors = append(vectors, genVector(rnd))
	}
	dir := t.TempDir()
	type result struct {
		args        []string
		stock, ours string
	}
	results := make([]result, len(vectors))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, v := range vectors {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = result{v, stockOutcome(dir, v), ourOutcome(v)}
		}()
	}
	wg.Wait()
	bad := 0
	for _, r := range results {
		if r.stock != r.ours {
			bad++
			if bad <= 40 {
				t.Errorf("%q:\n stock: %s\n ours:  %s", r.args, r.stock, r.ours)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d vectors differ", bad, len(vectors))
	}
}
