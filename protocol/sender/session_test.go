package sender

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
	"github.com/rsyncd-go/rsyncd-go/protocol/token"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

func TestSanitize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{".", "."},
		{"./", "./"},
		{"/etc/passwd", "etc/passwd"},
		{"../../x", "x"},
		{"a/../../b/", "b/"},
		{"a/b/../c", "a/c"},
		{"dir0/../dir0/./", "dir0/./"},
		{"a//b/./c", "a/b/./c"},
		{"..", ""},
		{"../", ""},
	} {
		if got := sanitize(c.in); got != c.want {
			t.Errorf("sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSplitRelative(t *testing.T) {
	for _, c := range []struct{ in, dir, fn string }{
		{"a/b/c", "", "a/b/c"},
		{"a/./b/c", "a", "b/c"},
		{"a/.//b", "a", "b"},
		{"./a/x", "", "./a/x"},
	} {
		var b builder
		if dir, fn := b.splitRelative(c.in); dir != c.dir || fn != c.fn {
			t.Errorf("splitRelative(%q) = %q, %q; want %q, %q", c.in, dir, fn, c.dir, c.fn)
		}
	}
}

// sessionTree makes a small module for the session tests.
func sessionTree(t testing.TB) *os.Root {
	dir := t.TempDir()
	for name, data := range map[string]string{"a": "hello", "d/b": "world of data", "d/e/c": ""} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func sessionConfig(root *os.Root, proto int) *Config {
	kind := checksum.Default(proto)
	return &Config{
		Protocol: proto, Root: root, Module: "m",
		Checksum: kind, FileChecksum: kind, Seed: 7, Compression: token.None,
		Flist:     flist.Options{Protocol: proto, PreserveLinks: true, Recurse: true},
		Recursive: true, Dirs: true, Links: true,
	}
}

// clientInput is a client's side of a transfer of every file
// (indexes as int32s): request 1 with no sums, the phase ends, goodbye.
func clientInput(proto int, ndx int32) []byte {
	var b []byte
	put := func(v int32) { b = binary.LittleEndian.AppendUint32(b, uint32(v)) }
	put(ndx)
	if proto >= 29 {
		b = binary.LittleEndian.AppendUint16(b, 1<<15)
	}
	put(0) // count
	put(0) // blength
	put(0) // s2length
	put(0) // remainder
	put(-1)
	put(-1)
	put(-1)
	return b
}

func TestRunProtocol27(t *testing.T) {
	root := sessionTree(t)
	var out bytes.Buffer
	w := wire.NewWriter(&out)
	in := clientInput(27, 1) // sorted list: ".", "a", ...
	st, err := Run(context.Background(), wire.NewReader(bytes.NewReader(in)), w, nil, sessionConfig(root, 27))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Transferred != 1 || st.Literal != 5 || st.Files != 7 || st.TotalSize != 5+13+11 {
		t.Errorf("stats %+v", st)
	}
}

// FuzzSession runs the sender against arbitrary client input after the
// file list: every request, sum head and goodbye path must end with an
// error or success, never a panic or a hang.
func FuzzSession(f *testing.F) {
	f.Add(uint8(0), clientInput(27, 1))
	f.Add(uint8(2), clientInput(29, 2))
	f.Add(uint8(2), clientInput(29, 0))
	f.Add(uint8(2), clientInput(29, 99))
	f.Add(uint8(1), []byte{1, 0, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0x7f})
	root := sessionTree(f)
	f.Fuzz(func(t *testing.T, p uint8, in []byte) {
		proto := 27 + int(p)%3 // non-multiplexed protocols read plain ndx
		_, _ = Run(context.Background(), wire.NewReader(bytes.NewReader(in)), wire.NewWriter(io.Discard), nil, sessionConfig(root, proto))
	})
}

func TestOpenNoFollow(t *testing.T) {
	root := sessionTree(t)
	if err := root.Symlink("a", "d/link-in"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"d/b", true},
		{"link", false},      // to /etc/passwd
		{"d/link-in", false}, // to a file inside the module
		{"d/../a", true},     // ".." within the module is the root's business
		{"../a", false},      // and above it is refused
		{"nope", false},
	} {
		f, err := rootfs.OpenNoFollow(root, c.name)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if f != nil {
			f.Close()
		}
	}
}

func TestUnsafeLink(t *testing.T) {
	for _, c := range []struct {
		target, name string
		unsafe       bool
	}{
		{"/etc/passwd", "x", true},
		{"file", "x", false},
		{"../file", "x", true},
		{"../file", "d/x", false},
		{"../../file", "d/x", true},
		{"a/../../b", "x", true},
		{"a/./b/..", "x", true},   // a trailing "/.." is unsafe to rsync
		{"sub/../f", "d/l", true}, // so is a mid-path ".."
	} {
		if got := unsafeLink(c.target, c.name); got != c.unsafe {
			t.Errorf("unsafeLink(%q, %q) = %v", c.target, c.name, got)
		}
	}
}

// incInput is a client's side of an incremental-recursion pull: each
// value is an index (with item flags, and empty sums for a transfer when
// the flags say so) or a negative control code.
func incInput(steps ...[2]int32) []byte {
	var b []byte
	c := wire.NdxCodec{Protocol: 31}
	for _, s := range steps {
		b = c.Append(b, s[0])
		if s[0] >= 0 {
			b = binary.LittleEndian.AppendUint16(b, uint16(s[1]))
			if s[1]&itemTransfer != 0 {
				for range 4 {
					b = binary.LittleEndian.AppendUint32(b, 0)
				}
			}
		}
	}
	return b
}

func incConfig(root *os.Root, proto int) *Config {
	cfg := sessionConfig(root, proto)
	cfg.Flist.IncRecurse, cfg.Flist.VarintFlags, cfg.Flist.NdxStart = true, proto >= 31, 1
	return cfg
}

// TestRunIncRecurse runs a whole incremental pull of the session tree: a
// file from the second list, one NDX_DONE per list, then the phases.
func TestRunIncRecurse(t *testing.T) {
	root := sessionTree(t)
	// Lists: 1 [".", "a", "d", "link"], 6 ["d/b", "d/e"], 9 ["d/e/c"].
	// Three lists: two NDX_DONEs are echoed, the third ends phase 1.
	in := incInput([2]int32{6, itemTransfer}, [2]int32{ndxDone}, [2]int32{ndxDone}, [2]int32{ndxDone},
		[2]int32{ndxDone}, [2]int32{ndxDone}, [2]int32{ndxDone}, [2]int32{ndxDone})
	var out bytes.Buffer
	st, err := Run(context.Background(), wire.NewReader(bytes.NewReader(in)), wire.NewWriter(&out), nil, incConfig(root, 31))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Transferred != 1 || st.Literal != 13 || st.Files != 7 || st.TotalSize != 5+13+11 {
		t.Errorf("stats %+v", st)
	}
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"index of a list not sent", incInput([2]int32{500, itemTransfer}), "not in"},
		{"transfer of a directory", incInput([2]int32{0, itemTransfer}), "non-regular"},
		{"control code from the client", incInput([2]int32{ndxFlistOffset}), "Invalid file index"},
		{"list dropped, then named", incInput([2]int32{ndxDone}, [2]int32{2, 0}), "not in"},
	} {
		_, err := Run(context.Background(), wire.NewReader(bytes.NewReader(c.in)), wire.NewWriter(io.Discard), nil, incConfig(root, 31))
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// FuzzIncSession runs an incremental-recursion pull against arbitrary
// client input: indexes into lists not sent yet or already dropped,
// NDX_DONE at any time, with or without lists sent ahead while the client
// is quiet, must end in an error or success, never a panic.
func FuzzIncSession(f *testing.F) {
	f.Add(uint8(1), incInput([2]int32{6, itemTransfer}, [2]int32{ndxDone}, [2]int32{ndxDone}, [2]int32{ndxDone}, [2]int32{ndxDone}, [2]int32{ndxDone}, [2]int32{ndxDone}, [2]int32{ndxDone}))
	f.Add(uint8(0), incInput([2]int32{ndxDone}, [2]int32{ndxDone}, [2]int32{9, itemTransfer}))
	f.Add(uint8(2), incInput([2]int32{500, itemTransfer}))
	f.Add(uint8(1), incInput([2]int32{5, 0}, [2]int32{8, itemTransfer}, [2]int32{ndxFlistOffset - 1}))
	f.Add(uint8(1), incInput([2]int32{ndxDelStats}))
	f.Add(uint8(9), incInput([2]int32{6, itemTransfer}, [2]int32{ndxDone}, [2]int32{9, itemTransfer}, [2]int32{ndxDone}, [2]int32{ndxDone}))
	f.Add(uint8(5), incInput([2]int32{3, itemTransfer}, [2]int32{ndxDone}, [2]int32{6, itemTransfer}, [2]int32{ndxDone}, [2]int32{ndxDone}))
	root := sessionTree(f)
	f.Fuzz(func(t *testing.T, p uint8, in []byte) {
		cfg := incConfig(root, 30+int(p)%3)
		var args []string
		if p&4 != 0 {
			// --relative: implied directories and names in later lists.
			cfg.Relative, cfg.Flist.RelativePaths = true, true
			args = []string{"d/e/c", "d/b", "a"}
		}
		// A quiet client: the sender lists ahead while it waits.
		var conn io.Reader = bytes.NewReader(in)
		if p&8 != 0 {
			conn = &quietConn{Reader: bytes.NewReader(in)}
		}
		_, _ = Run(context.Background(), wire.NewReader(conn), wire.NewWriter(io.Discard), args, cfg)
	})
}

// quietConn holds a client's whole input: with arrived false, ReadNow
// reports that nothing has arrived (a client that is quiet whenever the
// sender could work ahead), with arrived true it returns the input.
type quietConn struct {
	*bytes.Reader
	arrived bool
}

func (c *quietConn) ReadNow(p []byte) (int, error) {
	if !c.arrived {
		return 0, nil
	}
	return c.Read(p)
}

// TestLookahead: while the client is quiet the sender sends lists ahead
// up to maxLookahead entries, no further; while requests are waiting it
// keeps minLookahead ahead only.
func TestLookahead(t *testing.T) {
	const dirs, per = 120, 100
	dir := t.TempDir()
	for d := range dirs {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", d))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range per {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", f)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	// One NDX_DONE per list (the first, then one per directory), then
	// the phases.
	var steps [][2]int32
	for range dirs + 1 + 4 {
		steps = append(steps, [2]int32{ndxDone})
	}
	in := incInput(steps...)
	heldRE := regexp.MustCompile(`incremental file lists sent.* max_held=(\d+)`)
	for _, c := range []struct {
		arrived  bool
		min, max int
	}{
		{false, maxLookahead, maxLookahead + 2*per + 1},
		{true, minLookahead, minLookahead + 2*per + 1},
	} {
		var log bytes.Buffer
		cfg := incConfig(root, 31)
		cfg.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
		conn := &quietConn{Reader: bytes.NewReader(in), arrived: c.arrived}
		if _, err := Run(context.Background(), wire.NewReader(conn), wire.NewWriter(io.Discard), nil, cfg); err != nil {
			t.Fatalf("arrived=%v: Run: %v", c.arrived, err)
		}
		m := heldRE.FindStringSubmatch(log.String())
		if m == nil {
			t.Fatalf("arrived=%v: no lists-sent line in the log:\n%s", c.arrived, log.String())
		}
		held, _ := strconv.Atoi(m[1])
		if held < c.min || held > c.max {
			t.Errorf("input arrived=%v: the sender held %d entries at most, want %d to %d", c.arrived, held, c.min, c.max)
		}
	}
}
