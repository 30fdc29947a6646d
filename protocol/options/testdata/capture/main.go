// Command capture records the argument vectors that a stock rsync client
// sends to a daemon, by playing a minimal fake daemon on loopback.
//
//	go run ./protocol/options/testdata/capture -out protocol/options/testdata/vectors.json
//	go test ./protocol/options -run TestCapturedVectors -update  # fills in "want"
//
// Review the "want" fields after -update. The program is not part of the
// build (testdata is ignored by ./...).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

type vector struct {
	Name   string         `json:"name"`
	Client []string       `json:"client"`          // client options (module path omitted)
	Pull   bool           `json:"pull,omitempty"`  // rsync://.../backup/ dst/
	Proto  int            `json:"proto"`           // negotiated protocol
	Args   []string       `json:"args"`            // first argument list, as received
	Args2  []string       `json:"args2,omitempty"` // secluded (-s) list, as received
	Want   map[string]any `json:"want,omitempty"`
}

type tc struct {
	name string
	pull bool
	opts []string
}

var cases = []tc{
	{"seed -az --delete", false, []string{"-az", "--delete"}},
	{"-avzH --numeric-ids", false, []string{"-avzH", "--numeric-ids"}},
	{"-ac --checksum-choice=xxh3", false, []string{"-ac", "--checksum-choice=xxh3"}},
	{"-a --cc=md5,md4", false, []string{"-a", "--cc=md5,md4"}},
	{"-a --compress-choice=zstd --compress-level=3", false, []string{"-a", "--compress-choice=zstd", "--compress-level=3"}},
	{"-az --zl=9", false, []string{"-az", "--zl=9"}},
	{"-azz", false, []string{"-azz"}},
	{"-a --old-compress", false, []string{"-a", "--old-compress"}},
	{"-a --new-compress", false, []string{"-a", "--new-compress"}},
	{"-a --zc=none", false, []string{"-a", "--zc=none"}},
	{"-a --inplace", false, []string{"-a", "--inplace"}},
	{"-a --inplace -S", false, []string{"-a", "--inplace", "-S"}},
	{"-a --append", false, []string{"-a", "--append"}},
	{"-a --append-verify", false, []string{"-a", "--append-verify"}},
	{"-a --partial-dir=.p", false, []string{"-a", "--partial-dir=.p"}},
	{"-a --partial-dir=.p --delay-updates", false, []string{"-a", "--partial-dir=.p", "--delay-updates"}},
	{"-a --delay-updates", false, []string{"-a", "--delay-updates"}},
	{"-aP", false, []string{"-aP"}},
	{"-a --partial", false, []string{"-a", "--partial"}},
	{"-a --backup --backup-dir=b --suffix=.x", false, []string{"-a", "--backup", "--backup-dir=b", "--suffix=.x"}},
	{"-ab", false, []string{"-ab"}},
	{"-ab --suffix=.bak", false, []string{"-ab", "--suffix=.bak"}},
	{"-a --backup-dir=my dir", false, []string{"-a", "--backup-dir=my dir"}},
	{"-an", false, []string{"-an"}},
	{"-aW", false, []string{"-aW"}},
	{"-a --no-whole-file", false, []string{"-a", "--no-whole-file"}},
	{"-aR", false, []string{"-aR"}},
	{"-aR --no-implied-dirs", false, []string{"-aR", "--no-implied-dirs"}},
	{"-a --delete-before", false, []string{"-a", "--delete-before"}},
	{"-a --delete-after", false, []string{"-a", "--delete-after"}},
	{"-a --delete-delay", false, []string{"-a", "--delete-delay"}},
	{"-a --delete-during", false, []string{"-a", "--delete-during"}},
	{"-a --del", false, []string{"-a", "--del"}},
	{"-a --delete-excluded", false, []string{"-a", "--delete-excluded"}},
	{"-a --delete --delete-excluded", false, []string{"-a", "--delete", "--delete-excluded"}},
	{"-a --delete --force", false, []string{"-a", "--delete", "--force"}},
	{"-a --delete --max-delete=3", false, []string{"-a", "--delete", "--max-delete=3"}},
	{"-a --delete --max-delete=0", false, []string{"-a", "--delete", "--max-delete=0"}},
	{"-a --delete --ignore-errors", false, []string{"-a", "--delete", "--ignore-errors"}},
	{"-d --delete", false, []string{"-d", "--delete"}},
	{"-a --existing", false, []string{"-a", "--existing"}},
	{"-a --ignore-non-existing", false, []string{"-a", "--ignore-non-existing"}},
	{"-a --ignore-existing", false, []string{"-a", "--ignore-existing"}},
	{"-au", false, []string{"-au"}},
	{"-a --size-only", false, []string{"-a", "--size-only"}},
	{"-aI", false, []string{"-aI"}},
	{"-a --protocol=27", false, []string{"-a", "--protocol=27"}},
	{"-az --delete --protocol=28", false, []string{"-az", "--delete", "--protocol=28"}},
	{"-a --protocol=29", false, []string{"-a", "--protocol=29"}},
	{"-a --protocol=30", false, []string{"-a", "--protocol=30"}},
	{"-a --protocol=31", false, []string{"-a", "--protocol=31"}},
	{"pull -az", true, []string{"-az"}},
	{"pull -avz --delete", true, []string{"-avz", "--delete"}},
	{"pull -a --protocol=29", true, []string{"-a", "--protocol=29"}},
	{"-ai", false, []string{"-ai"}},
	{"pull -ai", true, []string{"-ai"}},
	{"-a --stats", false, []string{"-a", "--stats"}},
	{"pull -a --stats", true, []string{"-a", "--stats"}},
	{"--list-only", true, []string{"--list-only"}},
	{"-aA", false, []string{"-aA"}},
	{"-aX", false, []string{"-aX"}},
	{"-aXX", false, []string{"-aXX"}},
	{"-aAX pull", true, []string{"-aAX"}},
	{"-a --exclude=*.o --include=x", false, []string{"-a", "--exclude=*.o", "--include=x"}},
	{"-a --files-from=list", false, []string{"-a", "--files-from=LIST"}},
	{"-a --files-from=list pull", true, []string{"-a", "--files-from=LIST"}},
	{"-a --files-from=:rlist -0", false, []string{"-a", "--files-from=:rlist", "-0"}},
	{"-a --files-from=list --no-relative", false, []string{"-a", "--files-from=LIST", "--no-relative"}},
	{"-as", false, []string{"-as"}},
	{"-as --delete pull", true, []string{"-as", "--delete"}},
	{"-a --iconv=utf8,latin1", false, []string{"-a", "--iconv=utf8,latin1"}},
	{"-as --iconv=utf8", false, []string{"-as", "--iconv=utf8"}},
	{"-a --bwlimit=1m", false, []string{"-a", "--bwlimit=1m"}},
	{"-a --max-size=10M --min-size=1k", false, []string{"-a", "--max-size=10M", "--min-size=1k"}},
	{"-a -B8192", false, []string{"-a", "-B8192"}},
	{"-a --timeout=30", false, []string{"-a", "--timeout=30"}},
	{"-a --chmod=Dg+s,ug+w", false, []string{"-a", "--chmod=Dg+s,ug+w"}},
	{"-a --modify-window=2", false, []string{"-a", "--modify-window=2"}},
	{"-a -@-1", false, []string{"-a", "-@-1"}},
	{"-a --checksum-seed=5", false, []string{"-a", "--checksum-seed=5"}},
	{"-a --remove-source-files pull", true, []string{"-a", "--remove-source-files"}},
	{"-a --remove-sent-files pull", true, []string{"-a", "--remove-sent-files"}},
	{"-a --copy-unsafe-links --safe-links", false, []string{"-a", "--copy-unsafe-links", "--safe-links"}},
	{"-aLk", false, []string{"-aLk"}},
	{"-aLk pull", true, []string{"-aLk"}},
	{"-aKOJm", false, []string{"-aKOJm"}},
	{"-ayy --link-dest=a --link-dest=b", false, []string{"-ayy", "--link-dest=a", "--link-dest=b"}},
	{"-a --compare-dest=c", false, []string{"-a", "--compare-dest=c"}},
	{"-a --copy-dest=c", false, []string{"-a", "--copy-dest=c"}},
	{"-aSxxC", false, []string{"-aSxxC"}},
	{"-a --temp-dir=t", false, []string{"-a", "--temp-dir=t"}},
	{"-a --usermap=a:b --groupmap=c:d", false, []string{"-a", "--usermap=a:b", "--groupmap=c:d"}},
	{"-a --chown=u:g", false, []string{"-a", "--chown=u:g"}},
	{"-a --super", false, []string{"-a", "--super"}},
	{"-a --fake-super", false, []string{"-a", "--fake-super"}},
	{"-rltE", false, []string{"-rltE"}},
	{"-aUU --open-noatime", false, []string{"-aUU", "--open-noatime"}},
	{"-aU --open-noatime pull", true, []string{"-aU", "--open-noatime"}},
	{"-a --mkpath --preallocate --fsync", false, []string{"-a", "--mkpath", "--preallocate", "--fsync"}},
	{"-a --delete-missing-args", false, []string{"-a", "--delete-missing-args"}},
	{"-a --ignore-missing-args pull", true, []string{"-a", "--ignore-missing-args"}},
	{"-a --ignore-missing-args", false, []string{"-a", "--ignore-missing-args"}},
	{"-a --info=progress2,name0", false, []string{"-a", "--info=progress2,name0"}},
	{"-a --info=del2 pull", true, []string{"-a", "--info=del2,backup"}},
	{"-a --debug=del2,flist", false, []string{"-a", "--debug=del2,flist"}},
	{"-aq", false, []string{"-aq"}},
	{"-avvvv", false, []string{"-avvvv"}},
	{"-a --out-format=%n pull", true, []string{"-a", "--out-format=%n"}},
	{"-a --out-format=%o pull", true, []string{"-a", "--out-format=%o"}},
	{"-ai --out-format=%i%I pull", true, []string{"-ai", "--out-format=%i %I"}},
	{"-a -M--fake-super", false, []string{"-a", "-M--fake-super"}},
	{"-a --write-devices", false, []string{"-a", "--write-devices"}},
	{"-a --copy-devices pull", true, []string{"-a", "--copy-devices"}},
	{"-a --old-args", false, []string{"-a", "--old-args"}},
	{"-a --no-i-r", false, []string{"-a", "--no-i-r"}},
	{"-a --qsort", false, []string{"-a", "--qsort"}},
	{"-a --only-write-batch=bf", false, []string{"-a", "--only-write-batch=bf"}},
	{"-a --msgs2stderr", false, []string{"-a", "--msgs2stderr"}},
	{"-a --stderr=client", false, []string{"-a", "--stderr=client"}},
	{"-a --max-alloc=2g", false, []string{"-a", "--max-alloc=2g"}},
	{"-a --no-specials", false, []string{"-a", "--no-specials"}},
	{"-rlpt --specials", false, []string{"-rlpt", "--specials"}},
	{"-a --no-D", false, []string{"-a", "--no-D"}},
	{"-a --no-perms", false, []string{"-a", "--no-perms"}},
	{"-a --prune-empty-dirs pull", true, []string{"-a", "--prune-empty-dirs"}},
	{"-a -h --progress", false, []string{"-a", "-h", "--progress"}},
	{"-a --suffix=a b!", false, []string{"-ab", "--suffix=a b!"}},
	{"-a --omit-dir-times --omit-link-times pull", true, []string{"-a", "--omit-dir-times", "--omit-link-times"}},
	{"-a --fuzzy pull", true, []string{"-a", "--fuzzy"}},
	{"-a --keep-dirlinks pull", true, []string{"-a", "--keep-dirlinks"}},
	{"-a --trust-sender", false, []string{"-a", "--trust-sender"}},
	{"-a --8-bit-output", false, []string{"-a", "-8"}},
	{"-a --copy-as=root", false, []string{"-a", "--copy-as=root"}},
	{"-a --hard-links -HH", false, []string{"-aHH"}},
	{"-r --dirs --no-recursive", false, []string{"-d"}},
	{"-a --one-file-system pull", true, []string{"-ax"}},
	{"-a --cvs-exclude", false, []string{"-aC"}},
	{"-a -F", false, []string{"-aF"}},
	{"-a --stop-after=5", false, []string{"-a", "--stop-after=5"}},
	{"-a --contimeout=5", false, []string{"-a", "--contimeout=5"}},
	{"-a --sparse pull", true, []string{"-aS"}},
	{"-a --min-size=1.5k pull", true, []string{"-a", "--min-size=1.5k", "--max-size=2G-1"}},
	{"-a --delete --protocol=29 pull", true, []string{"-a", "--delete", "--protocol=29"}},
	{"pull path with spaces", true, []string{"-a"}},
}

func main() {
	out := flag.String("out", "vectors.json", "output file")
	flag.Parse()
	work, err := os.MkdirTemp("", "capture")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(work)
	for _, d := range []string{"src", "dst"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "src", "f"), []byte("x"), 0o644); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "LIST"), []byte("f\n"), 0o644); err != nil {
		fatal(err)
	}
	var vs []vector
	for _, c := range cases {
		v, err := capture(work, c)
		if err != nil {
			fatal(fmt.Errorf("%s: %w", c.name, err))
		}
		vs = append(vs, v)
	}
	b, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		fatal(err)
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "capture:", err)
	os.Exit(1)
}

func capture(work string, c tc) (vector, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return vector{}, err
	}
	defer ln.Close()
	url := fmt.Sprintf("rsync://%s/backup/", ln.Addr())
	args := append([]string(nil), c.opts...)
	switch {
	case c.name == "pull path with spaces":
		args = append(args, url+"a dir/x", url+"-lead", "dst/")
	case c.name == "--list-only":
		args = append(args, url)
	case c.pull:
		args = append(args, url, "dst/")
	default:
		args = append(args, "src/", url)
	}
	cmd := exec.Command("/usr/bin/rsync", args...)
	cmd.Dir = work
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + work, "USER=capture"}
	if err := cmd.Start(); err != nil {
		return vector{}, err
	}
	done := make(chan error, 1)
	var v vector
	go func() { done <- serve(ln, &v) }()
	var serr error
	select {
	case serr = <-done:
	case <-time.After(10 * time.Second):
		serr = fmt.Errorf("timeout")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if serr != nil {
		return vector{}, serr
	}
	v.Name, v.Client, v.Pull = c.name, c.opts, c.pull
	return v, nil
}

func serve(ln net.Listener, v *vector) error {
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(8 * time.Second))
	br := bufio.NewReader(conn)
	if _, err := io.WriteString(conn, "@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"); err != nil {
		return err
	}
	greet, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	var major, minor int
	if _, err := fmt.Sscanf(greet, "@RSYNCD: %d.%d", &major, &minor); err != nil {
		return fmt.Errorf("greeting %q: %w", greet, err)
	}
	v.Proto = min(major, 32)
	if _, err := br.ReadString('\n'); err != nil { // module name
		return err
	}
	if _, err := io.WriteString(conn, "@RSYNCD: OK\n"); err != nil {
		return err
	}
	sep := byte('\n')
	if v.Proto >= 30 {
		sep = 0
	}
	if v.Args, err = readList(br, sep); err != nil {
		return err
	}
	for _, a := range v.Args {
		if strings.HasPrefix(a, "-s") {
			if v.Args2, err = readList(br, 0); err != nil {
				return err
			}
			break
		}
	}
	return nil
}

func readList(br *bufio.Reader, sep byte) ([]string, error) {
	list := []string{}
	for {
		s, err := br.ReadString(sep)
		if err != nil {
			return nil, err
		}
		s = s[:len(s)-1]
		if s == "" {
			return list, nil
		}
		list = append(list, s)
	}
}
