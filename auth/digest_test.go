package auth

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"

	//lint:ignore SA1019 the test recomputes rsync's md4 responses.
	"golang.org/x/crypto/md4"
)

func TestDaemonDigests(t *testing.T) {
	want := []string{"sha512", "sha256", "sha1", "md5", "md4"}
	got := DaemonDigests()
	if !slices.Equal(got, want) {
		t.Fatalf("DaemonDigests() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if DaemonDigests()[0] != "sha512" {
		t.Error("DaemonDigests returns shared storage")
	}
}

func TestDigestNames(t *testing.T) {
	tests := []struct {
		d    Digest
		name string
	}{
		{SHA512, "sha512"}, {SHA256, "sha256"}, {SHA1, "sha1"}, {MD5, "md5"}, {MD4, "md4"}, {MD4Old, "md4"},
	}
	for _, tc := range tests {
		if got := tc.d.String(); got != tc.name {
			t.Errorf("%d.String() = %q, want %q", int(tc.d), got, tc.name)
		}
	}
	for _, in := range []string{"sha512", "SHA256", "Sha1", "MD5", "md4"} {
		d, ok := ParseDigest(in)
		if !ok || !strings.EqualFold(d.String(), in) || d == MD4Old {
			t.Errorf("ParseDigest(%q) = %v, %v", in, d, ok)
		}
	}
	for _, in := range []string{"", "sha384", "md4 ", "ſha1", "xxh3"} {
		if d, ok := ParseDigest(in); ok {
			t.Errorf("ParseDigest(%q) = %v, want failure", in, d)
		}
	}
}

func TestNegotiate(t *testing.T) {
	full := "sha512 sha256 sha1 md5 md4"
	tests := []struct {
		proto    int
		list     string
		sent     bool
		want     Digest
		wantFail bool
	}{
		{32, full, true, SHA512, false},
		{29, full, true, SHA512, false}, // a list wins over the protocol
		{27, full, true, SHA512, false},
		{32, "md4 md5 sha1", true, SHA1, false}, // the daemon's order decides
		{32, "md4", true, MD4, false},           // unseeded md4, even...
		{27, "md4", true, MD4, false},           // ...below protocol 30
		{31, "  MD5  ", true, MD5, false},
		{31, "xxh3 md5 bogus", true, MD5, false},
		{31, "", false, MD5, false},
		{30, "", false, MD5, false},
		{29, "", false, MD4Old, false},
		{27, "", false, MD4Old, false},
		{31, "", true, 0, true}, // "@RSYNCD: 31.0 " has an empty list
		{31, " ", true, 0, true},
		{31, "sha384 xxh128", true, 0, true},
		{31, "sha1\tmd5", true, 0, true},
		{31, "ſha1", true, 0, true},
		{31, "md5md4", true, 0, true},
		{31, "\x00md5", true, 0, true},
		{31, strings.Repeat("x", 250) + " md5", true, MD5, false},
		{31, strings.Repeat("x", 251) + " sha1", true, 0, true}, // cut to "sha"
	}
	for _, tc := range tests {
		got, err := Negotiate(tc.proto, tc.list, tc.sent)
		if tc.wantFail {
			if err != ErrNoCommonDigest {
				t.Errorf("Negotiate(%d, %q, %v) = %v, %v; want ErrNoCommonDigest", tc.proto, tc.list, tc.sent, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Negotiate(%d, %q, %v) = %v, %v; want %v", tc.proto, tc.list, tc.sent, got, err, tc.want)
		}
	}
	want := "your client does not support one of our daemon-auth checksums: sha512 sha256 sha1 md5 md4"
	if ErrNoCommonDigest.Error() != want {
		t.Errorf("ErrNoCommonDigest = %q, want %q", ErrNoCommonDigest, want)
	}
}

// expected computes rsync's response independently: base64 (no padding)
// of the digest of [seed] password challenge.
func expected(d Digest, password, challenge string) string {
	in := []byte(password + challenge)
	var sum []byte
	switch d {
	case SHA512:
		s := sha512.Sum512(in)
		sum = s[:]
	case SHA256:
		s := sha256.Sum256(in)
		sum = s[:]
	case SHA1:
		s := sha1.Sum(in)
		sum = s[:]
	case MD5:
		s := md5.Sum(in)
		sum = s[:]
	case MD4, MD4Old:
		h := md4.New()
		if d == MD4Old {
			h.Write([]byte{0, 0, 0, 0}) // checksum seed 0, little-endian
		}
		h.Write(in)
		sum = h.Sum(nil)
	}
	return base64.RawStdEncoding.EncodeToString(sum)
}

func TestResponse(t *testing.T) {
	inputs := []struct{ password, challenge string }{
		{"", ""},
		{"secret", "abcdefghijklmnopqrstuv"},
		{"pass word:with:colons", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6"},
		{strings.Repeat("p", 55), strings.Repeat("c", 9)}, // 64 bytes
		{strings.Repeat("p", 60), "c"},                    // 61, +4 seed = 65
		{strings.Repeat("ü", 300), "x"},
	}
	lens := map[Digest]int{SHA512: 86, SHA256: 43, SHA1: 27, MD5: 22, MD4: 22, MD4Old: 22}
	for _, d := range []Digest{SHA512, SHA256, SHA1, MD5, MD4, MD4Old} {
		for _, in := range inputs {
			got, err := Response(d, in.password, in.challenge)
			if err != nil {
				t.Fatalf("Response(%v): %v", d, err)
			}
			if want := expected(d, in.password, in.challenge); got != want {
				t.Errorf("Response(%v, %q, %q) = %q, want %q", d, in.password, in.challenge, got, want)
			}
			if len(got) != lens[d] || strings.ContainsRune(got, '=') {
				t.Errorf("Response(%v) = %q: want %d characters, no padding", d, got, lens[d])
			}
		}
	}
	// rsync hashes C strings: a NUL ends the password.
	if a, _ := Response(MD5, "ab\x00cd", "ch"); a != expected(MD5, "ab", "ch") {
		t.Errorf("password with NUL: %q", a)
	}
	if _, err := Response(Digest(0), "p", "c"); err == nil {
		t.Error("Response accepts Digest(0)")
	}
	if m4, m4old := expected(MD4, "p", "c"), expected(MD4Old, "p", "c"); m4 == m4old {
		t.Error("md4 and seeded md4 agree; the seed is not applied")
	}
}

func TestVerify(t *testing.T) {
	const pw, ch = "secret", "Q2hhbGxlbmdlIQ"
	for _, d := range []Digest{SHA512, SHA256, SHA1, MD5, MD4, MD4Old} {
		good := expected(d, pw, ch)
		tests := []struct {
			name     string
			password string
			response string
			want     bool
		}{
			{"right", pw, good, true},
			{"wrong password", "Secret", good, false},
			{"truncated", pw, good[:len(good)-1], false},
			{"padded", pw, good + "==", false},
			{"empty", pw, "", false},
			{"flipped", pw, "A" + good[1:], good[0] == 'A'},
		}
		for _, tc := range tests {
			if got := Verify(d, tc.password, ch, tc.response); got != tc.want {
				t.Errorf("%v %s: Verify = %v, want %v", d, tc.name, got, tc.want)
			}
		}
	}
	if Verify(Digest(42), pw, ch, "") {
		t.Error("Verify accepts an unknown digest")
	}
}

func TestNewChallenge(t *testing.T) {
	b64 := regexp.MustCompile(`^[A-Za-z0-9+/]+$`)
	tests := []struct {
		d   Digest
		len int
	}{
		{SHA512, 86}, {SHA256, 43}, {SHA1, 27}, {MD5, 22}, {MD4, 22}, {MD4Old, 22},
	}
	for _, tc := range tests {
		seen := map[string]bool{}
		for range 50 {
			c, err := NewChallenge(tc.d, "192.168.100.200:54321")
			if err != nil {
				t.Fatal(err)
			}
			if len(c) != tc.len || !b64.MatchString(c) {
				t.Errorf("NewChallenge(%v) = %q: want %d base64 characters", tc.d, c, tc.len)
			}
			if seen[c] {
				t.Errorf("NewChallenge(%v) repeated %q", tc.d, c)
			}
			seen[c] = true
		}
	}
	if _, err := NewChallenge(Digest(0), ""); err == nil {
		t.Error("NewChallenge accepts Digest(0)")
	}
}

func TestCheckMinDigest(t *testing.T) {
	p := Peer{Module: "backup", Host: "storage", Addr: "172.16.1.31"}
	tests := []struct {
		got  Digest
		min  string
		want string // "" for no error
	}{
		{MD4Old, "", ""},
		{SHA512, "sha512", ""},
		{SHA512, "SHA256", ""},
		{SHA256, "sha256", ""},
		{SHA1, "sha256", "auth failed on module backup from storage (172.16.1.31): negotiated auth digest sha1 is weaker than the required 'auth digest = sha256'"},
		{MD5, "md5", ""},
		{MD4, "md5", "auth failed on module backup from storage (172.16.1.31): negotiated auth digest md4 is weaker than the required 'auth digest = md5'"},
		{MD4Old, "md4", ""},
		{MD4Old, "md5", "auth failed on module backup from storage (172.16.1.31): negotiated auth digest md4 is weaker than the required 'auth digest = md5'"},
		{SHA512, "sha384", "auth failed on module backup from storage (172.16.1.31): the configured 'auth digest = sha384' is not a supported digest on this build"},
	}
	for _, tc := range tests {
		err := CheckMinDigest(p, tc.got, tc.min)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckMinDigest(%v, %q) = %v, want nil", tc.got, tc.min, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("CheckMinDigest(%v, %q) = %v, want %q", tc.got, tc.min, err, tc.want)
		}
	}
}
