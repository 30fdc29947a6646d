package modules

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseHostsForms(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		want    string // String() of the parsed list
		bad     []int  // entry indexes of the bad tokens, in order
	}{
		{"ipv4", []string{"172.16.1.5"}, "172.16.1.5", nil},
		{"ipv4 prefix", []string{"172.16.1.0/24"}, "172.16.1.0/24", nil},
		{"ipv4 netmask", []string{"172.16.1.0/255.255.255.0"}, "172.16.1.0/255.255.255.0", nil},
		{"ipv6", []string{"2001:db8::1"}, "2001:db8::1", nil},
		{"ipv6 prefix", []string{"2001:DB8::/32"}, "2001:db8::/32", nil},
		{"ipv6 netmask", []string{"2001:db8::/ffff:ffff::"}, "2001:db8::/ffff:ffff::", nil},
		{"ipv6 zone", []string{"fe80::%eth0/64"}, "fe80::%eth0/64", nil},
		{"names and wildcards", []string{"Backup.Example.COM", "*.example.com", "host[0-9]?.lan"}, "backup.example.com *.example.com host[0-9]?.lan", nil},
		{"one entry many tokens", []string{"10.0.0.1, 10.0.0.2\t10.0.0.0/8  foo"}, "10.0.0.1 10.0.0.2 10.0.0.0/8 foo", nil},
		{"empty entries", []string{"", " , "}, "", nil},
		{"prefix 0 and max", []string{"0.0.0.0/0", "::/0", "1.2.3.4/32", "::1/128"}, "0.0.0.0/0 ::/0 1.2.3.4/32 ::1/128", nil},
		{"bad address", []string{"10.0.0.256"}, "", []int{0}},
		{"short address", []string{"10.1"}, "", []int{0}},
		{"prefix too long v4", []string{"10.0.0.0/33"}, "", []int{0}},
		{"prefix too long v6", []string{"::/129"}, "", []int{0}},
		{"signed prefix", []string{"10.0.0.0/+8", "10.0.0.0/-8"}, "", []int{0, 1}},
		{"empty mask", []string{"10.0.0.0/"}, "", []int{0}},
		{"v6 mask on v4", []string{"10.0.0.0/ffff::"}, "", []int{0}},
		{"v4 mask on v6", []string{"::1/255.0.0.0"}, "", []int{0}},
		{"mask on name", []string{"example.com/24"}, "", []int{0}},
		{"netgroup", []string{"@trusted"}, "", []int{0}},
		{"bad chars", []string{"ex$ample.com"}, "", []int{0}},
		{"unclosed set", []string{"host[0-9"}, "", []int{0}},
		{"char class", []string{"host[[:digit:]]"}, "", []int{0}},
		{"non-ascii", []string{"bücher.example"}, "", []int{0}},
		{"all errors kept, good kept", []string{"10.0.0.1", "bad/1", "10.0.0.0/99 10.2.0.0/16"}, "10.0.0.1 10.2.0.0/16", []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseHosts(tt.entries)
			if got := l.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			var got []int
			for _, e := range flatten(err) {
				if e == nil {
					continue
				}
				var he *HostError
				if !errors.As(e, &he) {
					t.Fatalf("error %v is not a *HostError", e)
				}
				got = append(got, he.Index)
			}
			if len(got) != len(tt.bad) {
				t.Fatalf("bad entries = %v, want %v (err %v)", got, tt.bad, err)
			}
			for i := range got {
				if got[i] != tt.bad[i] {
					t.Fatalf("bad entries = %v, want %v", got, tt.bad)
				}
			}
		})
	}
}

func TestHostListMatch(t *testing.T) {
	tests := []struct {
		list string
		addr string
		host string
		want bool
	}{
		{"172.16.1.5", "172.16.1.5", "", true},
		{"172.16.1.5", "172.16.1.6", "", false},
		{"172.16.1.0/24", "172.16.1.200", "", true},
		{"172.16.1.0/24", "172.16.2.1", "", false},
		{"172.16.1.0/255.255.255.0", "172.16.1.7", "", true},
		{"172.16.1.0/255.255.255.0", "172.16.0.7", "", false},
		{"172.16.0.0/255.0.255.0", "172.99.0.1", "", true}, // non-contiguous masks work bitwise
		{"172.16.0.0/255.0.255.0", "172.99.1.1", "", false},
		{"10.0.0.0/12", "10.15.255.255", "", true},
		{"10.0.0.0/12", "10.16.0.0", "", false},
		{"0.0.0.0/0", "203.0.113.9", "", true},
		{"0.0.0.0/0", "2001:db8::1", "", false}, // families never cross
		{"::/0", "203.0.113.9", "", false},
		{"0.0.0.0/32", "10.0.0.1", "", false},
		{"172.16.1.5", "::ffff:172.16.1.5", "", true}, // mapped clients are IPv4
		{"2001:db8::/32", "2001:db8:ffff::1", "", true},
		{"2001:db8::/32", "2001:db9::1", "", false},
		{"2001:db8::/ffff:ffff::", "2001:db8:1::1", "", true},
		{"2001:db8::/ffff:ffff::", "2001:db7::1", "", false},
		{"::1", "::1", "", true},
		{"fe80::/64", "fe80::1%eth0", "", true},
		{"fe80::%eth0/64", "fe80::1%eth0", "", true},
		{"fe80::%eth0/64", "fe80::1%eth1", "", false},
		{"fe80::%eth0/64", "fe80::1", "", false},
		{"*.example.com", "192.0.2.1", "web1.EXAMPLE.com", true},
		{"*.example.com", "192.0.2.1", "example.com", false},
		{"web?.example.com", "192.0.2.1", "web1.example.com", true},
		{"web[0-4].example.com", "192.0.2.1", "web5.example.com", false},
		{"web[!0-4].example.com", "192.0.2.1", "web5.example.com", true},
		{"web\\*.example.com", "192.0.2.1", "web*.example.com", true},
		{"web\\*.example.com", "192.0.2.1", "webx.example.com", false},
		{"backup.lan", "192.0.2.1", "BACKUP.lan", true},
		{"backup.lan", "192.0.2.1", "", false},
		{"*", "192.0.2.1", "", false}, // HostList.Match: no name, no name match
		{"*", "192.0.2.1", "x", true},
	}
	for _, tt := range tests {
		l, err := ParseHosts([]string{tt.list})
		if err != nil {
			t.Fatalf("ParseHosts(%q): %v", tt.list, err)
		}
		if got := l.Match(netip.MustParseAddr(tt.addr), tt.host); got != tt.want {
			t.Errorf("%q.Match(%s, %q) = %v, want %v", tt.list, tt.addr, tt.host, got, tt.want)
		}
	}
}

func TestAllowedOrder(t *testing.T) {
	const in, out = "172.16.1.10", "10.9.9.9"
	tests := []struct {
		name         string
		allow, deny  []string
		addr, host   string
		want         bool
		reverseOff   bool
		forwardNames bool
	}{
		{name: "no lists admit all", addr: out, want: true},
		{name: "allow only: match", allow: []string{"172.16.1.0/24"}, addr: in, want: true},
		{name: "allow only: no match refused", allow: []string{"172.16.1.0/24"}, addr: out, want: false},
		{name: "deny only: match refused", deny: []string{"10.0.0.0/8"}, addr: out, want: false},
		{name: "deny only: no match admitted", deny: []string{"10.0.0.0/8"}, addr: in, want: true},
		{name: "allow beats deny", allow: []string{in}, deny: []string{"172.16.0.0/16"}, addr: in, want: true},
		{name: "allow+deny *: allowed in", allow: []string{"172.16.1.0/24"}, deny: []string{"*"}, addr: in, want: true},
		{name: "allow+deny *: others out", allow: []string{"172.16.1.0/24"}, deny: []string{"*"}, addr: out, want: false},
		{name: "deny * refuses clients without a name", deny: []string{"*"}, addr: out, want: false},
		{name: "deny * refuses with reverse lookup off", deny: []string{"*"}, addr: out, reverseOff: true, want: false},
		{name: "allow+deny, neither matches: admitted", allow: []string{"172.16.1.0/24"}, deny: []string{"192.168.0.0/16"}, addr: out, want: true},
		{name: "deny by name", deny: []string{"*.evil.example"}, addr: out, host: "x.evil.example", want: false},
		{name: "allow by name", allow: []string{"*.good.example"}, addr: out, host: "a.GOOD.example", want: true},
		{name: "unknown placeholder matches like rsyncd", allow: []string{"unknown"}, addr: out, want: true},
		{name: "empty allow entry is no allow list", allow: []string{""}, addr: out, want: true},
		{name: "bad allow list fails closed", allow: []string{"10.0.0.0/99"}, addr: out, want: false},
		{name: "bad deny list fails closed", deny: []string{"10.0.0.256"}, addr: in, want: false},
		{name: "invalid addr matches no address", allow: []string{in}, addr: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("m", "/")
			m.HostsAllow, m.HostsDeny = tt.allow, tt.deny
			m.ReverseLookup = !tt.reverseOff
			var a netip.Addr
			if tt.addr != "" {
				a = netip.MustParseAddr(tt.addr)
			}
			if got := m.Allowed(a, tt.host); got != tt.want {
				t.Errorf("Allowed(%s, %q) = %v, want %v", tt.addr, tt.host, got, tt.want)
			}
		})
	}
}

// TestAllowedMatchesStockRsync replays what stock rsyncd 3.5.0 answered, run
// on loopback with "reverse lookup = no" and "forward lookup = no", the
// client bound to each source address with --address.
func TestAllowedMatchesStockRsync(t *testing.T) {
	type probe struct {
		src   string
		admit bool
	}
	tests := []struct {
		allow, deny string
		probes      []probe
	}{
		{"127.0.0.1", "", []probe{{"127.0.0.1", true}, {"127.0.0.2", false}}},
		{"127.0.0.0/255.0.0.3", "", []probe{{"127.0.0.1", false}, {"127.0.0.4", true}, {"127.0.0.5", false}}},
		{"127.0.0.2", "*", []probe{{"127.0.0.1", false}, {"127.0.0.2", true}, {"::1", false}}},
		{"", "*", []probe{{"127.0.0.1", false}, {"::1", false}}},
		{"127.0.0.0/31", "127.0.0.0/8", []probe{{"127.0.0.1", true}, {"127.0.0.2", false}}},
		{"::1", "", []probe{{"::1", true}, {"127.0.0.1", false}}},
		{"::/0", "", []probe{{"::1", true}, {"127.0.0.1", false}}},
		{"0.0.0.0/0", "", []probe{{"127.0.0.1", true}, {"::1", false}}},
		{"::1/ffff::", "", []probe{{"::1", true}}},
		{"undetermined", "", []probe{{"127.0.0.1", true}}},
		{"UNDETERMINED", "", []probe{{"127.0.0.1", true}}},
		{"127.0.0.1/33", "", []probe{{"127.0.0.1", false}}},
		{"127.0.0.1/0", "", []probe{{"::1", false}, {"127.0.0.5", true}}},
		{"::ffff:127.0.0.1", "", []probe{{"127.0.0.1", false}}},
		{"127.0.0.2, 127.0.0.3", "", []probe{{"127.0.0.1", false}, {"127.0.0.2", true}, {"127.0.0.3", true}}},
		{"127.0.0.0/8", "127.0.0.2", []probe{{"127.0.0.2", true}, {"127.0.0.1", true}}},
		{"*", "", []probe{{"127.0.0.1", true}}},
		{"127.*", "", []probe{{"127.0.0.1", false}}},
		{"localhost", "", []probe{{"127.0.0.1", false}}},
		{"", "127.0.0.2/32 ::1", []probe{{"127.0.0.1", true}, {"127.0.0.2", false}, {"::1", false}}},
		{"127.0.0.9", "10.0.0.0/8", []probe{{"127.0.0.1", true}}},
	}
	for _, tt := range tests {
		m := New("mod", "/")
		m.ReverseLookup, m.ForwardLookup = false, false
		if tt.allow != "" {
			m.HostsAllow = []string{tt.allow}
		}
		if tt.deny != "" {
			m.HostsDeny = []string{tt.deny}
		}
		for _, p := range tt.probes {
			if got := m.Allowed(netip.MustParseAddr(p.src), ""); got != p.admit {
				t.Errorf("allow %q deny %q from %s: rsyncd admits=%v, Allowed=%v", tt.allow, tt.deny, p.src, p.admit, got)
			}
		}
	}
}

func TestAllowedLookup(t *testing.T) {
	hosts := map[string][]netip.Addr{
		"backup.lan": {netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")},
	}
	calls := 0
	resolve := func(h string) ([]netip.Addr, error) {
		calls++
		if a, ok := hosts[h]; ok {
			return a, nil
		}
		return nil, errors.New("no such host")
	}
	tests := []struct {
		name        string
		allow, deny []string
		addr        string
		forwardOff  bool
		want        bool
	}{
		{name: "allow by forward lookup", allow: []string{"backup.lan"}, addr: "192.0.2.7", want: true},
		{name: "allow by forward lookup v6", allow: []string{"backup.lan"}, addr: "2001:db8::7", want: true},
		{name: "forward lookup other addr", allow: []string{"backup.lan"}, addr: "192.0.2.8", want: false},
		{name: "forward lookup off", allow: []string{"backup.lan"}, addr: "192.0.2.7", forwardOff: true, want: false},
		{name: "unresolvable allow name does not admit", allow: []string{"gone.lan"}, addr: "192.0.2.7", want: false},
		{name: "unresolvable deny name refuses (fail closed)", deny: []string{"gone.lan"}, addr: "192.0.2.7", want: false},
		{name: "deny by forward lookup", deny: []string{"backup.lan"}, addr: "192.0.2.7", want: false},
		{name: "deny by forward lookup, other addr admitted", deny: []string{"backup.lan"}, addr: "192.0.2.9", want: true},
		{name: "wildcards are never looked up", deny: []string{"*.lan"}, addr: "192.0.2.9", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("m", "/")
			m.HostsAllow, m.HostsDeny = tt.allow, tt.deny
			m.ForwardLookup = !tt.forwardOff
			calls = 0
			if got := m.AllowedLookup(netip.MustParseAddr(tt.addr), "", resolve); got != tt.want {
				t.Errorf("AllowedLookup(%s) = %v, want %v", tt.addr, got, tt.want)
			}
			if tt.forwardOff && calls != 0 {
				t.Errorf("resolver called %d times with forward lookup off", calls)
			}
		})
	}
}

func TestWildMatch(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "abc", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"*.*.com", "a.b.com", true},
		{"*a*a*a*a*b", strings.Repeat("a", 200), false},
		{"?", "", false},
		{"[a-c]x", "bx", true},
		{"[^a-c]x", "bx", false},
		{"[]a]", "]", true},
		{"[a-]", "-", true},
		{"a\\", "a", false},
	}
	for _, tt := range tests {
		if got := wildMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("wildMatch(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

func FuzzParseHosts(f *testing.F) {
	for _, s := range []string{
		"172.16.1.0/24", "10.0.0.1, 10.0.0.2 *.example.com", "2001:db8::/ffff:ffff::",
		"fe80::%eth0/64", "host[!0-9]?.lan", "@netgroup", "1.2.3.4/255.0.255.0", "[", "a\\",
	} {
		f.Add(s)
	}
	addrs := []netip.Addr{
		netip.MustParseAddr("172.16.1.9"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("fe80::1%eth0"), {},
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseHosts([]string{s, s})
		if err == nil && l.Len()%2 != 0 {
			t.Fatalf("duplicated entry gave odd token count %d", l.Len())
		}
		// The tokens of a list re-parse to the same list.
		l2, err2 := ParseHosts([]string{l.String()})
		if err2 != nil || l2.String() != l.String() {
			t.Fatalf("reparse of %q: %q, %v", l.String(), l2.String(), err2)
		}
		for _, a := range addrs {
			got := l.Match(a, s)
			if got != l2.Match(a, s) {
				t.Fatalf("reparsed list matches %v differently", a)
			}
			m := Module{HostsDeny: []string{s}, ForwardLookup: true}
			_ = m.AllowedLookup(a, s, func(string) ([]netip.Addr, error) { return []netip.Addr{a}, nil })
		}
	})
}
