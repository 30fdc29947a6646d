package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// v2 builds a v2 header: ver/cmd byte, family byte, then body.
func v2(verCmd, fam byte, body []byte) []byte {
	b := append([]byte(nil), v2Sig...)
	b = append(b, verCmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func ip4Body(src, dst string, sp, dp uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sp)
	return binary.BigEndian.AppendUint16(b, dp)
}

func ip6Body(src, dst string, sp, dp uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sp)
	return binary.BigEndian.AppendUint16(b, dp)
}

func TestRead(t *testing.T) {
	ap := netip.MustParseAddrPort
	tlv := []byte{0x04, 0x00, 0x03, 'a', 'b', 'c'} // PP2_TYPE_NOOP
	tests := []struct {
		name    string
		in      []byte
		want    Header
		wantErr string // substring; "" for success
	}{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 127.0.0.1 5000 873\r\n"),
			Header{1, ap("203.0.113.7:5000"), ap("127.0.0.1:873")}, ""},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 ::1 65535 873\r\n"),
			Header{1, ap("[2001:db8::1]:65535"), ap("[::1]:873")}, ""},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1}, ""},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff::1 ::1 1 2\r\n"), Header{Version: 1}, ""},
		{"v1 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			Header{1, ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}, ""},
		{"v1 too long", []byte("PROXY UNKNOWN " + strings.Repeat("x", 100) + "\r\n"), Header{}, "longer than"},
		{"v1 LF only", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), Header{}, "CRLF"},
		{"v1 eof", []byte("PROXY TCP4 1.2.3.4"), Header{}, "unexpected EOF"},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::1 ::1 1 2\r\n"), Header{}, "not TCP4"},
		{"v1 mapped in tcp6", []byte("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), Header{}, "not TCP6"},
		{"v1 port zero", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 0 2\r\n"), Header{}, "bad port"},
		{"v1 port too big", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), Header{}, "bad port"},
		{"v1 port sign", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), Header{}, "bad port"},
		{"v1 double space", []byte("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), Header{}, "bad v1"},
		{"v1 udp", []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), Header{}, "unknown protocol"},
		{"v1 bad address", []byte("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), Header{}, "ParseAddr"},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), Header{}, "not TCP6"},
		{"v2 tcp4", v2(0x21, 0x11, ip4Body("203.0.113.7", "127.0.0.1", 40000, 873)),
			Header{2, ap("203.0.113.7:40000"), ap("127.0.0.1:873")}, ""},
		{"v2 tcp6", v2(0x21, 0x21, ip6Body("2001:db8::7", "::1", 40000, 873)),
			Header{2, ap("[2001:db8::7]:40000"), ap("[::1]:873")}, ""},
		{"v2 tcp4 with TLVs", v2(0x21, 0x11, append(ip4Body("203.0.113.7", "127.0.0.1", 1, 2), tlv...)),
			Header{2, ap("203.0.113.7:1"), ap("127.0.0.1:2")}, ""},
		{"v2 local", v2(0x20, 0x00, nil), Header{Version: 2}, ""},
		{"v2 local with body", v2(0x20, 0x11, ip4Body("203.0.113.7", "127.0.0.1", 1, 2)), Header{Version: 2}, ""},
		{"v2 udp ignored", v2(0x21, 0x12, ip4Body("203.0.113.7", "127.0.0.1", 1, 2)), Header{Version: 2}, ""},
		{"v2 unix ignored", v2(0x21, 0x31, make([]byte, 216)), Header{Version: 2}, ""},
		{"v2 unspec", v2(0x21, 0x00, nil), Header{Version: 2}, ""},
		{"v2 short ipv4", v2(0x21, 0x11, make([]byte, 11)), Header{}, "bytes for IPv4"},
		{"v2 short ipv6", v2(0x21, 0x21, make([]byte, 35)), Header{}, "bytes for IPv6"},
		{"v2 version 1", v2(0x11, 0x11, ip4Body("1.2.3.4", "5.6.7.8", 1, 2)), Header{}, "version 1"},
		{"v2 command 2", v2(0x22, 0x11, ip4Body("1.2.3.4", "5.6.7.8", 1, 2)), Header{}, "command 2"},
		{"v2 too long", v2(0x21, 0x11, make([]byte, MaxV2Len+1)), Header{}, "over"},
		{"v2 truncated", v2(0x21, 0x11, ip4Body("1.2.3.4", "5.6.7.8", 1, 2))[:20], Header{}, "unexpected EOF"},
		{"v2 bad signature", append([]byte("\r\n\r\n\x00\r\nQUIX\n"), 0x21, 0x11, 0, 0), Header{}, "no PROXY"},
		{"greeting", []byte("@RSYNCD: 32.0 sha512\n"), Header{}, "no PROXY"},
		{"empty", nil, Header{}, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const rest = "@RSYNCD: 32.0\n"
			in := append([]byte(nil), tt.in...)
			if !strings.Contains(tt.wantErr, "EOF") {
				in = append(in, rest...) // a truncated header ends the stream
			}
			r := bufio.NewReader(bytes.NewReader(in))
			h, err := Read(r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Read = %+v, %v; want error containing %q", h, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if h != tt.want {
				t.Fatalf("Read = %+v, want %+v", h, tt.want)
			}
			// Exactly the header is consumed.
			left, _ := io.ReadAll(r)
			if string(left) != rest {
				t.Fatalf("after the header the stream holds %q, want %q", left, rest)
			}
		})
	}
}

func TestNotProxyIsSentinel(t *testing.T) {
	_, err := Read(bufio.NewReader(strings.NewReader("@RSYNCD: 31.0\n")))
	if !errors.Is(err, ErrNotProxy) {
		t.Fatalf("err = %v, want ErrNotProxy", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 5000 873\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 ::1 65535 873\r\nrest"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(0x21, 0x11, ip4Body("203.0.113.7", "127.0.0.1", 40000, 873)))
	f.Add(v2(0x21, 0x21, ip6Body("2001:db8::7", "::1", 40000, 873)))
	f.Add(v2(0x20, 0x00, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		h, err := Read(r)
		if err != nil {
			return
		}
		if h.Version != 1 && h.Version != 2 {
			t.Fatalf("version %d", h.Version)
		}
		if h.Src.IsValid() && (h.Src.Addr().Is4In6() || h.Src.Port() == 0 && h.Version == 1) {
			t.Fatalf("bad source %v", h.Src)
		}
		left, _ := io.ReadAll(r)
		used := len(data) - len(left)
		if h.Version == 1 && used > MaxV1Len || h.Version == 2 && used > 16+MaxV2Len {
			t.Fatalf("consumed %d bytes", used)
		}
	})
}
