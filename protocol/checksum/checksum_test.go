package checksum

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	//lint:ignore SA1019 rsync peers use MD4; compatibility, not security, is the goal here.
	"golang.org/x/crypto/md4"
)

// naiveRolling is get_checksum1 written from its definition: signed bytes,
// s1 = sum x[i], s2 = sum (n-i)*x[i].
func naiveRolling(p []byte) uint32 {
	var s1, s2 int64
	for i, b := range p {
		x := int64(int8(b))
		s1 += x
		s2 += int64(len(p)-i) * x
	}
	return uint32(s1)&0xffff | uint32(s2)<<16
}

func TestRolling1(t *testing.T) {
	tests := []struct {
		in   []byte
		want uint32
	}{
		{nil, 0},
		{[]byte{1, 2, 3}, 10<<16 | 6},
		{[]byte{0xff}, 0xffffffff},              // -1: s1 = s2 = -1
		{[]byte{0x80, 0x01}, 0xff01ff81},        // -128, 1: s1 = -127, s2 = -255
		{[]byte{1, 2, 3, 4}, 20<<16 | 10},       // exactly one 4-byte step
		{[]byte{1, 2, 3, 4, 5}, 35<<16 | 15},    // a step and a tail byte
		{[]byte("abcdefgh"), 0x0df80324},        // s1 = 804 = 0x324, s2 = sum (8-i)*c = 3576
		{bytes.Repeat([]byte{0x7f}, 700), 0},    // filled below from the formula
		{bytes.Repeat([]byte{0xc3}, 1001), 0},   // likewise: negative bytes
		{bytes.Repeat([]byte{0x80}, 131072), 0}, // likewise: the largest block
	}
	for _, tc := range tests {
		want := tc.want
		if want == 0 && len(tc.in) > 0 {
			want = naiveRolling(tc.in)
		}
		if got := Rolling1(tc.in); got != want {
			t.Errorf("Rolling1(% x...) (len %d) = %#08x, want %#08x", tc.in[:min(len(tc.in), 8)], len(tc.in), got, want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 300 {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if got, want := Rolling1(p), naiveRolling(p); got != want {
			t.Fatalf("Rolling1 of %d random bytes = %#08x, formula %#08x", n, got, want)
		}
	}
	// Lengths around the 16-byte steps and the 4 KiB lane flushes, and
	// bytes that fill the lanes fastest (0x7f: 255 after the sign flip).
	for _, n := range []int{4095, 4096, 4097, 4111, 8192 + 15, 65536 + 13, 131072, 1<<20 + 5} {
		for _, fill := range []int{-1, 0x7f, 0x80, 0xff} {
			p := make([]byte, n)
			for i := range p {
				if fill < 0 {
					p[i] = byte(rng.Uint32())
				} else {
					p[i] = byte(fill)
				}
			}
			if got, want := Rolling1(p), naiveRolling(p); got != want {
				t.Fatalf("Rolling1 of %d bytes (fill %d) = %#08x, formula %#08x", n, fill, got, want)
			}
		}
	}
}

// checkRoller slides windows of size w over data, then shrinks the last
// window to nothing as rsync does at the end of a file, comparing with Rolling1.
func checkRoller(t testing.TB, data []byte, w int) {
	if w > len(data) {
		w = len(data)
	}
	var r Roller
	r.Init(data[:w])
	for i := 0; ; i++ {
		if got, want := r.Sum(), Rolling1(data[i:i+w]); got != want {
			t.Fatalf("window %d at %d: Roller %#08x, Rolling1 %#08x", w, i, got, want)
		}
		if i+w == len(data) {
			break
		}
		r.Roll(data[i], data[i+w])
	}
	for i := len(data) - w; i < len(data); i++ {
		r.RollOut(data[i])
		if got, want := r.Sum(), Rolling1(data[i+1:]); got != want || r.Len() != len(data)-i-1 {
			t.Fatalf("shrinking window at %d: Roller %#08x len %d, Rolling1 %#08x len %d",
				i, got, r.Len(), want, len(data)-i-1)
		}
	}
}

func TestRoller(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, w := range []int{1, 2, 3, 4, 5, 8, 700, 1024, 4999, 5000} {
		checkRoller(t, data, w)
	}
	var zero Roller
	if zero.Sum() != 0 || zero.Len() != 0 {
		t.Errorf("zero Roller: sum %#x len %d", zero.Sum(), zero.Len())
	}
}

func FuzzRolling(f *testing.F) {
	f.Add([]byte("hello, rolling world"), uint16(4))
	f.Add(bytes.Repeat([]byte{0x80, 0x7f, 0xff, 0x00}, 50), uint16(7))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, w uint16) {
		if len(data) == 0 {
			if Rolling1(data) != 0 {
				t.Fatal("empty data has a nonzero sum")
			}
			return
		}
		if got, want := Rolling1(data), naiveRolling(data); got != want {
			t.Fatalf("Rolling1 %#08x, formula %#08x", got, want)
		}
		checkRoller(t, data, 1+int(w)%len(data))
	})
}

func TestKinds(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		str  string
		size int
	}{
		{"xxh128", XXH128, "xxh128", 16},
		{"xxh3", XXH3, "xxh3", 8},
		{"xxh64", XXH64, "xxh64", 8},
		{"xxhash", XXH64, "xxh64", 8},
		{"XXHash", XXH64, "xxh64", 8},
		{"md5", MD5, "md5", 16},
		{"MD4", MD4, "md4", 16},
		{"sha1", SHA1, "sha1", 20},
		{"none", None, "none", 1},
	}
	for _, tc := range tests {
		k, err := ParseKind(tc.name)
		if err != nil || k != tc.kind || k.String() != tc.str || k.Size() != tc.size {
			t.Errorf("ParseKind(%q) = %v (%q, size %d), %v; want %v (%q, size %d)",
				tc.name, k, k.String(), k.Size(), err, tc.kind, tc.str, tc.size)
		}
	}
	for _, bad := range []string{"", "auto", "md", "sha256", "xxh", "md5 ", "\u017fha1", "md\u212a"} {
		if k, err := ParseKind(bad); err == nil {
			t.Errorf("ParseKind(%q) = %v, want an error", bad, k)
		}
	}
	if MD4Old.String() != "md4" || MD4Old.Size() != 16 {
		t.Errorf("MD4Old: %q size %d", MD4Old.String(), MD4Old.Size())
	}
	if k := Kind(2); k.Size() != 0 || k.String() != "Kind(2)" {
		t.Errorf("Kind(2): %q size %d", k.String(), k.Size())
	}
	want := []string{"xxh128", "xxh3", "xxh64", "md5", "md4", "sha1", "none"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	for _, n := range Names() {
		if _, err := ParseKind(n); err != nil {
			t.Errorf("Names() holds %q, which ParseKind rejects: %v", n, err)
		}
	}
	for p, want := range map[int]Kind{27: MD4Old, 28: MD4Old, 29: MD4Old, 30: MD5, 31: MD5, 32: MD5} {
		if got := Default(p); got != want {
			t.Errorf("Default(%d) = %v, want %v", p, got, want)
		}
	}
}

func TestChoose(t *testing.T) {
	stockClient := []string{"xxh128", "xxh3", "xxh64", "md5", "md4", "sha1"}
	tests := []struct {
		name      string
		protocol  int
		server    []string
		client    []string
		negotiate bool
		want      Kind
		wantErr   bool
	}{
		{"stock lists", 32, nil, stockClient, true, XXH128, false},
		{"client order wins", 31, nil, []string{"md5", "sha1", "xxh64"}, true, MD5, false},
		{"client order wins, stock desync case", 32, nil, []string{"sha1", "md5"}, true, SHA1, false},
		{"client order wins over a restricted server list", 32, []string{"md4", "md5"}, []string{"md5", "md4"}, true, MD5, false},
		{"restricted server list", 32, []string{"md5", "md4"}, stockClient, true, MD5, false},
		{"client alias maps to xxh64", 30, nil, []string{"xxhash"}, true, XXH64, false},
		{"case-insensitive", 30, nil, []string{"SHA1"}, true, SHA1, false},
		{"unknown client names skipped", 30, nil, []string{"blake3", "", "md4"}, true, MD4, false},
		{"none only if both list it", 30, nil, []string{"none"}, true, None, false},
		{"server without none", 30, []string{"md5"}, []string{"none"}, true, 0, true},
		{"empty client list", 30, nil, nil, true, 0, true},
		{"nothing in common", 30, []string{"xxh3"}, []string{"md5", "md4"}, true, 0, true},
		{"unknown server names dropped", 30, []string{"foo", "sha1"}, stockClient, true, SHA1, false},
		{"no negotiation, protocol 30", 30, nil, stockClient, false, MD5, false},
		{"no negotiation, protocol 29", 29, nil, nil, false, MD4Old, false},
		{"no negotiation, protocol 27", 27, nil, nil, false, MD4Old, false},
		{"no negotiation, md5 refused", 31, []string{"xxh128", "md4"}, nil, false, 0, true},
		{"no negotiation, md4 refused", 29, []string{"md5"}, nil, false, 0, true},
	}
	for _, tc := range tests {
		got, err := Choose(tc.protocol, tc.server, tc.client, tc.negotiate)
		if tc.wantErr {
			if err == nil || !errors.Is(err, ErrNegotiate) {
				t.Errorf("%s: got %v, %v; want ErrNegotiate", tc.name, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestParseChoice(t *testing.T) {
	tests := []struct {
		protocol   int
		choice     string
		xfer, file Kind
		chosen     bool
		wantErr    bool
	}{
		{31, "auto", 0, 0, false, false},
		{31, "AUTO,auto", 0, 0, false, false},
		{31, "md5", MD5, MD5, true, false},
		{29, "xxh128", XXH128, XXH128, true, false},
		{31, "xxh3,md5", XXH3, MD5, true, false},
		{31, "auto,sha1", MD5, SHA1, true, false},
		{29, "auto,sha1", MD4Old, SHA1, true, false},
		{29, "md4,auto", MD4, MD4Old, true, false},
		{31, "xxhash", XXH64, XXH64, true, false},
		{31, "none", None, None, true, false},
		{31, "", 0, 0, false, true},
		{31, "md5,", 0, 0, false, true},
		{31, ",md5", 0, 0, false, true},
		{31, "md5,sha256", 0, 0, false, true},
		{31, "md5,md4,sha1", 0, 0, false, true},
	}
	for _, tc := range tests {
		x, f, chosen, err := ParseChoice(tc.protocol, tc.choice)
		if tc.wantErr != (err != nil) || x != tc.xfer || f != tc.file || chosen != tc.chosen {
			t.Errorf("ParseChoice(%d, %q) = %v %v %v %v; want %v %v %v err=%v",
				tc.protocol, tc.choice, x, f, chosen, err, tc.xfer, tc.file, tc.chosen, tc.wantErr)
		}
	}
}

// vectorData is the data of the libxxhash vectors: byte i is i*131+7.
func vectorData(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*131 + 7)
	}
	return p
}

func le64(hexStr string) []byte {
	v, err := strconv.ParseUint(hexStr, 16, 64)
	if err != nil {
		panic(err)
	}
	return binary.LittleEndian.AppendUint64(nil, v)
}

// TestXXHashVectors checks block sums (seeded) and transfer sums (streamed
// in uneven pieces, unseeded) against vectors from the libxxhash that stock
// rsync links (testdata/gen_xxhash_vectors.py).
func TestXXHashVectors(t *testing.T) {
	fh, err := os.Open("testdata/xxhash_vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	lines := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		var n int
		var seed int32
		var h64, h3, lo, hi string
		if _, err := fmt.Sscan(sc.Text(), &n, &seed, &h64, &h3, &lo, &hi); err != nil {
			t.Fatalf("bad vector line %q: %v", sc.Text(), err)
		}
		lines++
		data := vectorData(n)
		want := map[Kind][]byte{XXH64: le64(h64), XXH3: le64(h3), XXH128: append(le64(lo), le64(hi)...)}
		for k, w := range want {
			if got := NewBlock(k, 31, seed).Sum(nil, data); !bytes.Equal(got, w) {
				t.Errorf("block %s len %d seed %d: %x, libxxhash %x", k, n, seed, got, w)
			}
			if seed != 0 {
				continue
			}
			for _, h := range []hashWriter{NewFile(k, 31, 12345), mustFileSum(t, k)} {
				for i, step := 0, 1; i < len(data); i, step = i+step, step*3+1 {
					h.Write(data[i:min(i+step, len(data))])
				}
				if got := h.Sum(nil); !bytes.Equal(got, w) {
					t.Errorf("streamed %s len %d: %x, libxxhash %x", k, n, got, w)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 1000 {
		t.Fatalf("only %d vectors read", lines)
	}
}

type hashWriter interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

func mustFileSum(t testing.TB, k Kind) hashWriter {
	h, err := NewFileSum(k, 31)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestXXH3RsyncSelfCheck is the check rsync runs before it offers xxh3 and
// xxh128 (checksum.c verify_digest).
func TestXXH3RsyncSelfCheck(t *testing.T) {
	buf := make([]byte, 32816)
	for j := range buf {
		buf[j] = byte(' ' + j%96)
	}
	h := NewFile(XXH3, 32, 0)
	for _, n := range []int{32816, 31152, 32474, 9322} {
		h.Write(buf[:n])
	}
	if got, want := h.Sum(nil), le64("adbcf16d4678d1de"); !bytes.Equal(got, want) {
		t.Errorf("xxh3 self check: %x, want %x", got, want)
	}
}

// TestMD4 checks the RFC 1320 test suite: for protocols 27+ every md4 kind
// is plain MD4, including lengths that are multiples of 64.
func TestMD4(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "31d6cfe0d16ae931b73c59d7e0c089c0"},
		{"a", "bde52cb31de33e46245e05fbdbd6fb24"},
		{"abc", "a448017aaf21d8525fc10ae87aa6729d"},
		{"message digest", "d9130a8164549fe818874806e1c7014b"},
		{"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "043f8582f241db351ce627e153e7f0e4"},
		{strings.Repeat("1234567890", 8), "e33b4ddc9c38f2199c3e7b164fcc0536"},
	}
	for _, tc := range tests {
		for _, k := range []Kind{MD4, MD4Old} {
			h := mustFileSum(t, k)
			h.Write([]byte(tc.in))
			if got := hex.EncodeToString(h.Sum(nil)); got != tc.want {
				t.Errorf("file sum %v of %q = %s, want %s", k, tc.in, got, tc.want)
			}
		}
		// A zero seed adds nothing to a block sum.
		if got := hex.EncodeToString(NewBlock(MD4Old, 29, 0).Sum(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("block md4 of %q, seed 0 = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func seedLE(seed int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(seed)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestBlockSeedRules(t *testing.T) {
	md4sum := func(p []byte) []byte { h := md4.New(); h.Write(p); return h.Sum(nil) }
	md5sum := func(p []byte) []byte { s := md5.Sum(p); return s[:] }
	sha1sum := func(p []byte) []byte { s := sha1.Sum(p); return s[:] }
	for _, n := range []int{0, 1, 60, 63, 64, 65, 128, 700, 2048} {
		data := vectorData(n)
		for _, seed := range []int32{0, 1, -1, 0x12345678} {
			s := seedLE(seed)
			if seed == 0 {
				s = nil
			}
			tests := []struct {
				name string
				b    *Block
				want []byte
			}{
				{"md4 old: seed after", NewBlock(MD4Old, 27, seed), md4sum(cat(data, s))},
				{"md4: seed after", NewBlock(MD4, 31, seed), md4sum(cat(data, s))},
				{"md5: seed before", NewBlock(MD5, 31, seed), md5sum(cat(s, data))},
				{"md5 at protocol 29: seed before", NewBlock(MD5, 29, seed), md5sum(cat(s, data))},
				{"md5 legacy: seed after", NewBlock(MD5, 30, seed, LegacySeedOrder()), md5sum(cat(data, s))},
				{"sha1: seed before", NewBlock(SHA1, 31, seed), sha1sum(cat(s, data))},
				{"sha1 ignores legacy order", NewBlock(SHA1, 30, seed, LegacySeedOrder()), sha1sum(cat(s, data))},
				{"none", NewBlock(None, 31, seed), []byte{0}},
			}
			for _, tc := range tests {
				dst := []byte("prefix")
				got := tc.b.Sum(dst, data)
				if !bytes.Equal(got, cat([]byte("prefix"), tc.want)) || len(got)-6 != tc.b.Size() {
					t.Errorf("%s, len %d seed %d: %x, want prefix+%x", tc.name, n, seed, got, tc.want)
				}
				// Reusing the Block must not leak state between blocks.
				if again := tc.b.Sum(nil, data); !bytes.Equal(again, tc.want) {
					t.Errorf("%s, len %d seed %d: second Sum %x, want %x", tc.name, n, seed, again, tc.want)
				}
			}
		}
	}
}

func TestNewFile(t *testing.T) {
	data := vectorData(1000)
	md4sum := func(p []byte) []byte { h := md4.New(); h.Write(p); return h.Sum(nil) }
	md5sum := func(p []byte) []byte { s := md5.Sum(p); return s[:] }
	sha1sum := func(p []byte) []byte { s := sha1.Sum(p); return s[:] }
	tests := []struct {
		name string
		kind Kind
		seed int32
		want []byte
	}{
		{"md4 old prefixes the seed", MD4Old, 0x01020304, md4sum(cat([]byte{4, 3, 2, 1}, data))},
		{"md4 old prefixes even a zero seed", MD4Old, 0, md4sum(cat([]byte{0, 0, 0, 0}, data))},
		{"md4 old negative seed", MD4Old, -2, md4sum(cat([]byte{0xfe, 0xff, 0xff, 0xff}, data))},
		{"md4 is unseeded", MD4, 77, md4sum(data)},
		{"md5 is unseeded", MD5, 77, md5sum(data)},
		{"sha1 is unseeded", SHA1, 77, sha1sum(data)},
		{"none is one zero byte", None, 77, []byte{0}},
	}
	for _, tc := range tests {
		h := NewFile(tc.kind, 30, tc.seed)
		if h.Size() != tc.kind.Size() || h.BlockSize() <= 0 {
			t.Errorf("%s: Size %d BlockSize %d", tc.name, h.Size(), h.BlockSize())
		}
		for i := 0; i < len(data); i += 97 {
			h.Write(data[i:min(i+97, len(data))])
		}
		if got := h.Sum(nil); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %x, want %x", tc.name, got, tc.want)
		}
		if got := h.Sum(nil); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: Sum changed the state: %x", tc.name, got)
		}
		h.Reset()
		h.Write(data)
		if got := h.Sum(nil); !bytes.Equal(got, tc.want) {
			t.Errorf("%s after Reset: %x, want %x", tc.name, got, tc.want)
		}
	}
	// --checksum sums are never seeded; none is refused.
	for _, k := range []Kind{MD4Old, MD4, MD5, SHA1, XXH64, XXH3, XXH128} {
		a, b := mustFileSum(t, k), NewFile(k, 31, 0)
		a.Write(data)
		if k == MD4Old {
			b = NewFile(MD4, 31, 0)
		}
		b.Write(data)
		if x, y := a.Sum(nil), b.Sum(nil); !bytes.Equal(x, y) || len(x) != k.Size() {
			t.Errorf("file sum %v = %x, want the unseeded %x", k, x, y)
		}
	}
	if _, err := NewFileSum(None, 31); !errors.Is(err, ErrNoFileSum) {
		t.Errorf("NewFileSum(None) error = %v, want ErrNoFileSum", err)
	}
	if _, err := NewFileSum(Kind(42), 31); err == nil {
		t.Error("NewFileSum(Kind(42)) succeeded")
	}
}

func TestInvalidKindPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"NewBlock": func() { NewBlock(Kind(1), 31, 0) },
		"NewFile":  func() { NewFile(Kind(-1), 31, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with an invalid kind did not panic", name)
				}
			}()
			f()
		}()
	}
}

var allKinds = []Kind{None, MD4Old, MD4, MD5, SHA1, XXH64, XXH3, XXH128}

func TestBlockSumDoesNotAllocate(t *testing.T) {
	data := vectorData(2048)
	for _, k := range allKinds {
		b := NewBlock(k, 31, 0x5eed)
		dst := make([]byte, 0, 64)
		if n := testing.AllocsPerRun(100, func() { dst = b.Sum(dst[:0], data) }); n != 0 {
			t.Errorf("Block(%v).Sum allocates %v times per call", k, n)
		}
	}
}

func BenchmarkRolling1(b *testing.B) {
	data := vectorData(2048)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Rolling1(data)
	}
}

func BenchmarkRollerRoll(b *testing.B) {
	data := vectorData(1 << 16)
	var r Roller
	r.Init(data[:2048])
	b.SetBytes(1)
	i := 0
	for b.Loop() {
		r.Roll(data[i&0xffff], data[(i+2048)&0xffff])
		i++
	}
	_ = r.Sum()
}

func BenchmarkBlockSum(b *testing.B) {
	data := vectorData(2048)
	for _, k := range allKinds {
		b.Run(k.String()+map[bool]string{true: "-old", false: ""}[k == MD4Old], func(b *testing.B) {
			blk := NewBlock(k, 31, 0x5eed)
			dst := make([]byte, 0, 64)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				dst = blk.Sum(dst[:0], data)
			}
		})
	}
}

func BenchmarkNewFile(b *testing.B) {
	data := vectorData(1 << 20)
	for _, k := range allKinds {
		b.Run(k.String()+map[bool]string{true: "-old", false: ""}[k == MD4Old], func(b *testing.B) {
			h := NewFile(k, 31, 0x5eed)
			dst := make([]byte, 0, 64)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				h.Reset()
				for i := 0; i < len(data); i += 32 << 10 { // rsync's CHUNK_SIZE pieces
					h.Write(data[i : i+32<<10])
				}
				dst = h.Sum(dst[:0])
			}
		})
	}
}
