package checksum

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The stock-rsync test pushes a file with the system rsync through a "remote
// shell" that is this test binary: it runs the server side and records both
// directions of the protocol stream. The stream must then contain, byte for
// byte, what this package computes: the generator's sum head and block sums
// (weak sum + s2length bytes of the strong sum) over the basis file, the
// sender's whole-file transfer sum, and the --checksum file-list sum.

const (
	teeDirEnv   = "RSYNCD_GO_CHECKSUM_TEE_DIR"   // wrapper mode: where to record
	teeStripEnv = "RSYNCD_GO_CHECKSUM_TEE_STRIP" // capability letters to hide from the server
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(teeDirEnv); dir != "" {
		os.Exit(runTee(dir, os.Getenv(teeStripEnv), os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runTee is the remote shell: args are "host command...". It runs the
// command with the stream recorded to dir/c2s and dir/s2c.
func runTee(dir, strip string, args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "tee shell: no command")
		return 2
	}
	cmdArgs := append([]string(nil), args[1:]...)
	for i, a := range cmdArgs {
		// The client's capabilities follow "e." in the server's short options.
		if pre, caps, ok := strings.Cut(a, "e."); ok && strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") {
			caps = strings.Map(func(r rune) rune {
				if strings.ContainsRune(strip, r) {
					return -1
				}
				return r
			}, caps)
			cmdArgs[i] = pre + "e." + caps
		}
	}
	c2s, err := os.Create(filepath.Join(dir, "c2s"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tee shell:", err)
		return 2
	}
	s2c, err := os.Create(filepath.Join(dir, "s2c"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tee shell:", err)
		return 2
	}
	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tee shell:", err)
		return 2
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tee shell:", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "tee shell:", err)
		return 2
	}
	// The server has read everything the client sent by the time it exits,
	// so c2s is complete then; stdin may stay open, so don't wait for it.
	go func() {
		_, _ = io.Copy(in, io.TeeReader(os.Stdin, c2s))
		_ = in.Close()
	}()
	_, _ = io.Copy(io.MultiWriter(os.Stdout, s2c), out)
	err = cmd.Wait()
	_ = c2s.Close()
	_ = s2c.Close()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return 2
	}
	return 0
}

// demuxCandidates returns the stream with rsync's multiplexing removed, for
// every offset from which the rest parses as well-formed frames up to the
// end (the unmultiplexed handshake before it is kept as is), plus the raw
// stream itself (protocols < 30 send client data unmultiplexed).
func demuxCandidates(raw []byte) [][]byte {
	valid := map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true,
		8: true, 9: true, 10: true, 22: true, 33: true, 42: true, 86: true, 100: true, 101: true, 102: true}
	out := [][]byte{raw}
	for start := 0; start+4 <= len(raw); start++ {
		payload := append([]byte(nil), raw[:start]...)
		p, ok := start, true
		for p < len(raw) {
			if p+4 > len(raw) {
				ok = false
				break
			}
			h := binary.LittleEndian.Uint32(raw[p:])
			tag, n := int(h>>24)-7, int(h&0xffffff)
			if !valid[tag] || p+4+n > len(raw) {
				ok = false
				break
			}
			if tag == 0 {
				payload = append(payload, raw[p+4:p+4+n]...)
			}
			p += 4 + n
		}
		if ok {
			out = append(out, payload)
		}
	}
	return out
}

func countMax(streams [][]byte, want []byte) int {
	n := 0
	for _, s := range streams {
		n = max(n, bytes.Count(s, want))
	}
	return n
}

func containsAny(streams [][]byte, want []byte) bool {
	for _, s := range streams {
		if bytes.Contains(s, want) {
			return true
		}
	}
	return false
}

type stockCase struct {
	protocol int
	args     []string // extra client options
	env      string   // RSYNC_CHECKSUM_LIST, if set
	strip    string   // client capabilities hidden from the server
	seed     int32
	xfer     Kind
	file     Kind
	legacy   bool // expect LegacySeedOrder
}

func stockCases() []stockCase {
	var cs []stockCase
	for _, p := range []int{27, 28, 29} {
		for _, seed := range []int32{7, -5, 0x12345678} {
			cs = append(cs, stockCase{protocol: p, seed: seed, xfer: MD4Old, file: MD4Old})
		}
	}
	named := []Kind{XXH128, XXH3, XXH64, MD5, MD4, SHA1}
	for _, k := range named {
		cs = append(cs, stockCase{protocol: 29, args: []string{"--checksum-choice=" + k.String()}, seed: 99, xfer: k, file: k})
	}
	for _, p := range []int{30, 31, 32} {
		// The stock client offers its default list.
		client := []string{"xxh128", "xxh3", "xxh64", "md5", "md4", "sha1"}
		def, err := Choose(p, nil, client, true)
		if err != nil {
			panic(err)
		}
		cs = append(cs, stockCase{protocol: p, seed: 1234567, xfer: def, file: def})
		cs = append(cs, stockCase{protocol: p, seed: -77, xfer: def, file: def})
		for _, k := range named {
			cs = append(cs,
				stockCase{protocol: p, args: []string{"--checksum-choice=" + k.String()}, seed: 4242, xfer: k, file: k},
				stockCase{protocol: p, env: k.String(), seed: -4242, xfer: k, file: k})
		}
		cs = append(cs,
			stockCase{protocol: p, args: []string{"--checksum-choice=xxh3,md5"}, seed: 31, xfer: XXH3, file: MD5},
			stockCase{protocol: p, args: []string{"--checksum-choice=auto"}, seed: 31, xfer: def, file: def},
			stockCase{protocol: p, args: []string{"--checksum-choice=auto,sha1"}, seed: 31, xfer: MD5, file: SHA1},
			// A client without negotiation ('v'): implied md5, seed first.
			stockCase{protocol: p, strip: "v", seed: 555, xfer: Default(p), file: Default(p)},
			// And without the seed fix ('C') too, like rsync 3.0.0..3.1.1.
			stockCase{protocol: p, strip: "Cv", seed: 555, xfer: Default(p), file: Default(p), legacy: true},
		)
	}
	return cs
}

func TestStockRsync(t *testing.T) {
	rsync, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatalf("stock rsync 3.5.0 is needed to check sums against it; install it (apt-get install rsync): %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	basis := make([]byte, 700*64+123) // 64 full blocks and a short one
	for i := range basis {
		basis[i] = byte(rng.Uint32())
	}
	source := append([]byte("new head "), basis[1000:30000]...)
	source = append(source, bytes.Repeat([]byte{0xfe}, 5000)...)

	for _, c := range stockCases() {
		name := fmt.Sprintf("p%d/%s/%s/env=%s/strip=%s/seed=%d", c.protocol, c.xfer, c.file, c.env, c.strip, c.seed)
		name += strings.Join(c.args, ",")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			for _, d := range []string{src, dst} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(src, "f"), source, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, "f"), basis, 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"-e", self, "-r", "-c", "--no-whole-file",
				fmt.Sprintf("--protocol=%d", c.protocol), fmt.Sprintf("--checksum-seed=%d", c.seed)}
			args = append(args, c.args...)
			args = append(args, src+"/", "host:"+dst+"/")
			cmd := exec.Command(rsync, args...)
			cmd.Env = append(os.Environ(), teeDirEnv+"="+dir, teeStripEnv+"="+c.strip)
			if c.env != "" {
				cmd.Env = append(cmd.Env, "RSYNC_CHECKSUM_LIST="+c.env)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("rsync %q: %v\n%s", args, err, out)
			}
			got, err := os.ReadFile(filepath.Join(dst, "f"))
			if err != nil || !bytes.Equal(got, source) {
				t.Fatalf("transfer did not produce the source file (err %v)", err)
			}
			c2s, err := os.ReadFile(filepath.Join(dir, "c2s"))
			if err != nil {
				t.Fatal(err)
			}
			s2c, err := os.ReadFile(filepath.Join(dir, "s2c"))
			if err != nil {
				t.Fatal(err)
			}
			fromClient, fromServer := demuxCandidates(c2s), demuxCandidates(s2c)

			// Generator (server): sum head, then per block sum1 + s2length bytes of sum2.
			blength, s2length, count, rem := SumSizes(c.protocol, int64(len(basis)), 0, c.xfer)
			var opts []Option
			if c.legacy {
				opts = append(opts, LegacySeedOrder())
			}
			blk := NewBlock(c.xfer, c.protocol, c.seed, opts...)
			want := binary.LittleEndian.AppendUint32(nil, uint32(count))
			want = binary.LittleEndian.AppendUint32(want, uint32(blength))
			want = binary.LittleEndian.AppendUint32(want, uint32(s2length))
			want = binary.LittleEndian.AppendUint32(want, uint32(rem))
			var sum []byte
			for off := 0; off < len(basis); off += int(blength) {
				b := basis[off:min(off+int(blength), len(basis))]
				want = binary.LittleEndian.AppendUint32(want, Rolling1(b))
				sum = blk.Sum(sum[:0], b)
				want = append(want, sum[:s2length]...)
			}
			if !containsAny(fromServer, want) {
				t.Errorf("generator's block sums (count %d blength %d s2length %d) not found in the server's stream", count, blength, s2length)
			}

			// Sender (client): the whole-file transfer sum, right after the
			// token stream's end marker (int32 0).
			fh := NewFile(c.xfer, c.protocol, c.seed)
			fh.Write(source)
			xs := fh.Sum(nil)
			if !containsAny(fromClient, append([]byte{0, 0, 0, 0}, xs...)) {
				t.Errorf("transfer sum %x not found after the end of the tokens in the client's stream", xs)
			}

			// File list (client): the --checksum sum. Where it equals the
			// transfer sum, the stream must hold both copies.
			fs, err := NewFileSum(c.file, c.protocol)
			if err != nil {
				t.Fatal(err)
			}
			fs.Write(source)
			fsum, need := fs.Sum(nil), 1
			if bytes.Equal(fsum, xs) {
				need = 2
			}
			if n := countMax(fromClient, fsum); n < need {
				t.Errorf("file-list sum %x found %d times in the client's stream, want %d", fsum, n, need)
			}
		})
	}
}
