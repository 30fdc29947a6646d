package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSeedPush runs the pipeline's own command twice: a first full push,
// then a push after edits, deletes, renames and with an extraneous file in
// the destination, which --delete must remove. Trees must match byte for
// byte with modes, mtimes (nanoseconds on protocol 31+) and symlinks.
func TestSeedPush(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	makeTree(t, src, 1)

	mustRsync(t, d, "-az", src+"/", "--delete", d.URL("backup"))
	compareTrees(t, src, d.Data, true)

	mutateTree(t, src)
	must(t, os.WriteFile(filepath.Join(d.Data, "extraneous"), []byte("only on the backup"), 0o644))
	must(t, os.MkdirAll(filepath.Join(d.Data, "olddir", "deep"), 0o755))
	must(t, os.WriteFile(filepath.Join(d.Data, "olddir", "deep", "f"), []byte("old"), 0o644))
	res := mustRsync(t, d, "-az", src+"/", "--delete", "-v", d.URL("backup"))
	compareTrees(t, src, d.Data, true)
	for _, want := range []string{"deleting extraneous", "deleting olddir/"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("client output lacks %q:\n%s", want, res.Stdout)
		}
	}
	assertNoTemps(t, d.Data)
}

// TestProtocols pushes with every protocol from 27 to 32, with and without
// compression, and then a changed tree, checking the result each time.
func TestProtocols(t *testing.T) {
	for proto := 27; proto <= 32; proto++ {
		for _, z := range []bool{false, true} {
			name := fmt.Sprintf("proto%d", proto)
			if z {
				name += "-z"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				d := startDaemon(t, "", "")
				src := filepath.Join(t.TempDir(), "data")
				makeTree(t, src, uint64(proto))
				args := []string{"-a", "--delete", fmt.Sprintf("--protocol=%d", proto)}
				if z {
					args = append(args, "-z")
				}
				mustRsync(t, d, append(args, src+"/", d.URL("backup/"))...)
				compareTrees(t, src, d.Data, proto >= 31)
				mutateTree(t, src)
				mustRsync(t, d, append(args, src+"/", d.URL("backup/"))...)
				compareTrees(t, src, d.Data, proto >= 31)
			})
		}
	}
}

// TestCompressChoices pushes with each compression the stock client offers.
func TestCompressChoices(t *testing.T) {
	for _, c := range []string{"zstd", "lz4", "zlibx", "zlib", "none"} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			d := startDaemon(t, "", "")
			src := filepath.Join(t.TempDir(), "data")
			makeTree(t, src, 7)
			mustRsync(t, d, "-az", "--delete", "--compress-choice="+c, src+"/", d.URL("backup/"))
			compareTrees(t, src, d.Data, true)
			// A delta pass exercises matched blocks inside the compressed stream.
			mutateTree(t, src)
			mustRsync(t, d, "-az", "--delete", "--no-whole-file", "--compress-choice="+c, src+"/", d.URL("backup/"))
			compareTrees(t, src, d.Data, true)
		})
	}
}

// TestChecksumChoices pushes with each checksum the stock client offers,
// with -c so the file-list checksums are used too.
func TestChecksumChoices(t *testing.T) {
	for _, c := range []string{"xxh128", "xxh3", "xxh64", "md5", "md4", "sha1", "none"} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			d := startDaemon(t, "", "")
			src := filepath.Join(t.TempDir(), "data")
			makeTree(t, src, 11)
			mustRsync(t, d, "-a", "--delete", "--checksum-choice="+c, src+"/", d.URL("backup/"))
			compareTrees(t, src, d.Data, true)
			mutateTree(t, src)
			// -c compares file-list checksums; stock clients refuse it with "none".
			second := "-ac"
			if c == "none" {
				second = "-aI"
			}
			mustRsync(t, d, second, "--delete", "--no-whole-file", "--checksum-choice="+c, src+"/", d.URL("backup/"))
			compareTrees(t, src, d.Data, true)
		})
	}
}

var literalRE = regexp.MustCompile(`Literal data: ([\d,]+) bytes`)

// TestDeltaUpdate changes 4 KiB in the middle of an 8 MiB file: the second
// push must send little literal data, the rest coming from the basis.
func TestDeltaUpdate(t *testing.T) {
	d := startDaemon(t, "", "")
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>9)
	}
	must(t, os.WriteFile(filepath.Join(src, "big"), big, 0o644))
	mustRsync(t, d, "-a", src+"/", d.URL("backup/"))
	copy(big[4<<20:], strings.Repeat("changed!", 512))
	must(t, os.WriteFile(filepath.Join(src, "big"), big, 0o644))
	for _, z := range []string{"", "-z"} {
		args := []string{"-a", "--no-whole-file", "--stats"}
		if z != "" {
			args = append(args, z)
		}
		res := mustRsync(t, d, append(args, src+"/", d.URL("backup/"))...)
		compareTrees(t, src, d.Data, true)
		m := literalRE.FindStringSubmatch(res.Stdout)
		if m == nil {
			t.Fatalf("no literal data in --stats output:\n%s", res.Stdout)
		}
		lit, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
		if z == "" && lit > 64<<10 {
			t.Errorf("delta update sent %d literal bytes for a 4 KiB change", lit)
		}
		// Make the next round change again.
		copy(big[2<<20:], strings.Repeat("again!!!", 512))
		must(t, os.WriteFile(filepath.Join(src, "big"), big, 0o644))
	}
}

// assertNoTemps fails if any temp file of the daemon is left in dir.
func assertNoTemps(t testing.TB, dir string) {
	t.Helper()
	must(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.Contains(fi.Name(), ".rsyncd-go-tmp.") {
			t.Errorf("temp file left behind: %s", p)
		}
		return err
	}))
}
