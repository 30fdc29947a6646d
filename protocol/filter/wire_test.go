package filter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

func parseAll(t *testing.T, proto int, from Source, texts ...string) []Rule {
	t.Helper()
	var out []Rule
	for _, s := range texts {
		rs, err := Parse(s, proto, from)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		out = append(out, rs...)
	}
	return out
}

func writeWire(t *testing.T, rules []Rule, proto int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := wire.NewWriter(&b)
	if err := WriteWire(w, rules, proto); err != nil {
		t.Fatalf("WriteWire: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wireList builds a wire list from raw rule strings.
func wireList(rules ...string) []byte {
	var b []byte
	for _, r := range rules {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
		b = append(b, r...)
	}
	return binary.LittleEndian.AppendUint32(b, 0)
}

func TestWireRoundTrip(t *testing.T) {
	modern := []string{"- foo", "+ bar/", "P x", "R,p y", "H h", "-! */", "-/ /abs", ":e .r",
		"dir-merge,n- .ex", ":C", "-x user.*", "+sr both", "- a b", "!", "merge,+ m"}
	old := []string{"- foo", "+ bar/", "*.o", "- - x", "+ + y", "!"}
	for _, c := range []struct {
		proto int
		texts []string
	}{{32, modern}, {31, modern}, {30, modern}, {28, old}, {27, old}} {
		rules := parseAll(t, c.proto, FromWire, c.texts...)
		b := writeWire(t, rules, c.proto)
		got, err := ReadWire(wire.NewReader(bytes.NewReader(b)), c.proto, Limits{})
		if err != nil {
			t.Fatalf("proto %d: ReadWire: %v", c.proto, err)
		}
		if !reflect.DeepEqual(got, rules) {
			t.Errorf("proto %d:\n got %v\nwant %v", c.proto, got, rules)
		}
	}
}

func TestWireBytes(t *testing.T) {
	cases := []struct {
		proto int
		texts []string
		want  []string
	}{
		{32, []string{"P foo", "-p x", "R,p y", ":e .r", "- foo/"}, []string{"-r foo", "-p x", "+rp y", "- .r", ": .r", "- foo/"}},
		// Before 30 the perishable mark is dropped, before 29 sides too.
		{29, []string{"-p x", "H y"}, []string{"- x", "-s y"}},
		{28, []string{"- *.o", "+ keep", "- - x", "H y", "-p z"}, []string{"*.o", "+ keep", "- - x", "y", "z"}},
	}
	for _, c := range cases {
		got := writeWire(t, parseAll(t, 32, FromArg, c.texts...), c.proto)
		if want := wireList(c.want...); !bytes.Equal(got, want) {
			t.Errorf("proto %d %q:\n got %q\nwant %q", c.proto, c.texts, got, want)
		}
	}
	// Rules protocol 28 cannot carry.
	for _, s := range []string{": .r", "-! x", "-/ x", ". m"} {
		var b bytes.Buffer
		if err := WriteWire(wire.NewWriter(&b), parseAll(t, 32, FromArg, s), 28); err == nil {
			t.Errorf("WriteWire(%q, 28) succeeded", s)
		}
	}
}

// TestWireProto28 reads what a protocol-28 client sends: no prefix means
// exclude, and modern prefixes are just pattern text.
func TestWireProto28(t *testing.T) {
	got, err := ReadWire(wire.NewReader(bytes.NewReader(wireList("*.o", "+ keep", "P foo", ": .r", "!", "- last"))), 28, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{ex("*.o", 0), in("keep", 0), ex("P foo", 0), ex(": .r", 0), {Action: Clear}, ex("last", 0)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestReadWireLimits(t *testing.T) {
	le := func(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
	cases := []struct {
		name string
		in   []byte
		lim  Limits
		want string
	}{
		{"negative length", le(-1), Limits{}, "exceeds"},
		{"too long", le(MaxLineLen + 1), Limits{}, "exceeds"},
		{"custom length", wireList("- abcdef"), Limits{MaxRuleLen: 4}, "exceeds"},
		{"too many", wireList("- a", "- b", "- c"), Limits{MaxRules: 2}, "more than 2"},
		{"too big", wireList("- aa", "- bb", "- cc"), Limits{MaxBytes: 10}, "exceed 10 bytes"},
		{"truncated rule", append(le(10), "- ab"...), Limits{}, "unexpected EOF"},
		{"no terminator", wireList("- a")[:7], Limits{}, "EOF"},
		{"bad rule", wireList("x y"), Limits{}, "unknown filter rule"},
		{"empty rule", wireList("-"), Limits{}, "unexpected end"},
	}
	for _, c := range cases {
		_, err := ReadWire(wire.NewReader(bytes.NewReader(c.in)), 32, c.lim)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// The longest rule rsync accepts is accepted.
	long := "- " + strings.Repeat("a", MaxLineLen-2)
	got, err := ReadWire(wire.NewReader(bytes.NewReader(wireList(long))), 32, Limits{})
	if err != nil || len(got) != 0 { // accepted, then dropped: the pattern is over MaxPatternLen
		t.Errorf("longest rule: %v, %v", got, err)
	}
	// A NUL ends the rule text, as in C.
	got, err = ReadWire(wire.NewReader(bytes.NewReader(wireList("- a\x00junk"))), 32, Limits{})
	if err != nil || !reflect.DeepEqual(got, []Rule{ex("a", 0)}) {
		t.Errorf("NUL: %v, %v", got, err)
	}
	_, err = ReadWire(wire.NewReader(bytes.NewReader(nil)), 32, Limits{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("empty input: %v", err)
	}
}

// TestWireAgainstRsyncClient captures what a stock rsync client sends to
// its server over a remote shell and checks that it holds exactly the
// bytes WriteWire produces for the same rules (minus the sender-only ones,
// which a pushing client keeps to itself), and that ReadWire reads them.
func TestWireAgainstRsyncClient(t *testing.T) {
	needRsync(t)
	cases := []struct {
		proto   int
		filters []string
	}{
		{32, []string{"P foo", "- *.o", "H hidden", ":e .r", "-p x", "R,p y", "+/ /abs", "-! */", "dir-merge,n- .ex", ":C", "S shown", "-x user.*", "-!/ neg/abs", "+sr both"}},
		{30, []string{"P foo", "-p x", "exclude,/ a/b/", ": /.rsync-filter"}},
		{29, []string{"protect foo", "- *.o", ":e .r", "hide h"}},
		{28, []string{"- *.o", "+ keep", "- - x", "H y"}},
		{27, []string{"- a", "+ b/"}},
	}
	for _, c := range cases {
		dir := t.TempDir()
		capture := filepath.Join(dir, "in.bin")
		script := filepath.Join(dir, "rsh.sh")
		// The "remote shell" runs the server locally and records its
		// input; a FIFO keeps the server, not tee, as the process the
		// client waits for.
		err := os.WriteFile(script, []byte(`#!/bin/sh
shift
fifo="`+dir+`/fifo"
mkfifo "$fifo"
exec 3<&0
tee "`+capture+`" <&3 >"$fifo" &
exec "$@" <"$fifo" 3<&-
`), 0o755)
		if err != nil {
			t.Fatal(err)
		}
		src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
		makeTree(t, src, map[string]string{"f": "x"})
		makeTree(t, dst, map[string]string{})
		args := []string{"-a", "--delete", "-e", script, "--rsync-path=" + rsyncBin, "--protocol=" + strconv.Itoa(c.proto)}
		for _, f := range c.filters {
			args = append(args, "--filter="+f)
		}
		args = append(args, src+"/", "lh:"+dst+"/")
		if out, err := exec.Command(rsyncBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("rsync %q: %v\n%s", args, err, out)
		}
		got, err := os.ReadFile(capture)
		if err != nil {
			t.Fatal(err)
		}
		var rules []Rule
		for _, r := range parseAll(t, 32, FromArg, c.filters...) {
			if r.Mods&(ModSender|ModReceiver) != ModSender {
				rules = append(rules, r)
			}
		}
		want := writeWire(t, rules, c.proto)
		k := bytes.Index(got, want)
		if k < 0 {
			t.Errorf("proto %d %q: client stream\n%q\ndoes not hold\n%q", c.proto, c.filters, got, want)
			continue
		}
		back, err := ReadWire(wire.NewReader(bytes.NewReader(got[k:])), c.proto, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if c.proto < 29 {
			// Old prefixes lose sides; compare the re-encoding instead.
			if !bytes.Equal(writeWire(t, back, c.proto), want) {
				t.Errorf("proto %d: read back %v", c.proto, back)
			}
		} else if !reflect.DeepEqual(back, stripForProto(rules, c.proto)) {
			t.Errorf("proto %d: read back\n%v\nwant\n%v", c.proto, back, rules)
		}
	}
}

// stripForProto drops the marks protocol proto cannot carry.
func stripForProto(rules []Rule, proto int) []Rule {
	out := append([]Rule(nil), rules...)
	for i := range out {
		if proto < 30 {
			out[i].Mods &^= ModPerishable
		}
	}
	return out
}

func FuzzReadWire(f *testing.F) {
	f.Add(wireList("- foo", "+ bar/", ":e .r", "P x"), 32)
	f.Add(wireList("*.o", "+ keep", "!"), 28)
	f.Add(wireList("x y"), 31)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 32)
	f.Add(wireList("- a\x00b"), 30)
	f.Fuzz(func(t *testing.T, data []byte, proto int) {
		rules, err := ReadWire(wire.NewReader(bytes.NewReader(data)), proto, Limits{MaxRules: 64})
		if err != nil {
			return
		}
		if len(rules) > 64*2 { // 'e' adds one rule per string at most
			t.Fatalf("%d rules from at most 64 strings", len(rules))
		}
		// What was read can be written for a modern peer and reads back
		// the same.
		if proto < 29 {
			return
		}
		var b bytes.Buffer
		w := wire.NewWriter(&b)
		if err := WriteWire(w, rules, 32); err != nil {
			t.Fatalf("WriteWire of %v: %v", rules, err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		again, err := ReadWire(wire.NewReader(&b), 32, Limits{})
		if err != nil {
			t.Fatalf("re-read of %v: %v", rules, err)
		}
		if !reflect.DeepEqual(again, rules) {
			t.Fatalf("round trip\n%v\n%v", rules, again)
		}
		// Every rule compiles into a list and can be checked.
		l := New(Config{Protocol: proto})
		var plain []Rule
		for _, r := range rules {
			if r.Action != Merge {
				plain = append(plain, r)
			}
		}
		if err := l.Add(plain, nil); err != nil {
			t.Fatalf("Add: %v", err)
		}
		l.Check("a/b/c", Receiver, IsDir)
	})
}
