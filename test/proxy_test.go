package test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// proxyV1 is the text header a proxy sends for a client at src.
func proxyV1(src string, dstPort int) []byte {
	return fmt.Appendf(nil, "PROXY TCP4 %s 127.0.0.1 40000 %d\r\n", src, dstPort)
}

// proxyV2 is the binary header for a TCP/IPv4 client at src, with a NOOP TLV.
func proxyV2(src string, dstPort int) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11")
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr("127.0.0.1").As4()
	body := append(s[:], d[:]...)
	body = binary.BigEndian.AppendUint16(body, 40000)
	body = binary.BigEndian.AppendUint16(body, uint16(dstPort))
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// startForwarder listens on loopback and relays each connection to target,
// first writing header(targetPort) to it, as a load balancer with the PROXY
// protocol does. Everything it opened is closed when the test ends.
func startForwarder(t *testing.T, target string, header func(port int) []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	_, portStr, _ := net.SplitHostPort(target)
	var port int
	fmt.Sscan(portStr, &port)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			track(c)
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			track(up)
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := up.Write(header(port)); err == nil {
					_, _ = io.Copy(up, c)
				}
				_ = up.(*net.TCPConn).CloseWrite()
			}()
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, up)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return l.Addr().String()
}

// TestProxyProtocol runs pushes through a PROXY-protocol forwarder into
// rsyncd-go and into stock rsyncd configured alike: the address in the
// header decides hosts allow, and both daemons agree on every outcome.
func TestProxyProtocol(t *testing.T) {
	const claimed = "203.0.113.7" // documentation address, never connected to
	ours := startDaemon(t, "proxy_protocol: true\nproxy_protocol_hosts: [127.0.0.1]\n", `
modules:
  - name: backup
    path: {{DATA}}
    read_only: false
    hosts_allow: [`+claimed+`]
`)
	untrusted := startDaemon(t, "proxy_protocol: true\nproxy_protocol_hosts: [192.0.2.1]\n", `
modules:
  - name: backup
    path: {{DATA}}
    read_only: false
`)
	plain := startDaemon(t, "", `
modules:
  - name: backup
    path: {{DATA}}
    read_only: false
`)
	const module = `
[backup]
path = {{DATA}}
read only = false
munge symlinks = no
hosts allow = ` + claimed + "\n"
	stock := stockDaemon(t, "reverse lookup = no\nproxy protocol = yes\nproxy protocol hosts = 127.0.0.1\n"+module)
	stockUntrusted := stockDaemon(t, "reverse lookup = no\nproxy protocol = yes\nproxy protocol hosts = 192.0.2.1\n"+module)
	stockPlain := stockDaemon(t, "reverse lookup = no\n[backup]\npath = {{DATA}}\nread only = false\n")

	// No symlinks: stock rsyncd rewrites absolute ones, which is not what
	// this test is about.
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(filepath.Join(src, "dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("hello\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "dir", "b.bin"), make([]byte, 70000), 0o600))

	v1 := func(a string) func(int) []byte { return func(p int) []byte { return proxyV1(a, p) } }
	v2 := func(a string) func(int) []byte { return func(p int) []byte { return proxyV2(a, p) } }
	cases := []struct {
		name         string
		ours, stock  *daemon
		header       func(int) []byte
		ok           bool
		want         string // in the client's stderr, for both daemons
		wantOursLog  string
		wantStockLog string
	}{
		{"v1 allowed", ours, stock, v1(claimed), true, "",
			`remote=` + claimed + `:40000`, "(" + claimed + ")"},
		{"v2 allowed", ours, stock, v2(claimed), true, "",
			`remote=` + claimed + `:40000`, "(" + claimed + ")"},
		{"v1 denied", ours, stock, v1("198.51.100.9"), false,
			"@ERROR: access denied to backup from ", "198.51.100.9", "198.51.100.9"},
		{"v2 denied", ours, stock, v2("198.51.100.9"), false,
			"@ERROR: access denied to backup from ", "198.51.100.9", "198.51.100.9"},
		{"untrusted proxy", untrusted, stockUntrusted, v1(claimed), false, "",
			"proxy protocol rejected from untrusted peer", "proxy protocol rejected from untrusted peer"},
		{"header without proxy protocol", plain, stockPlain, v1(claimed), false,
			"@ERROR: protocol startup error", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var codes [2]int
			for i, d := range []*daemon{tc.ours, tc.stock} {
				fwd := startForwarder(t, d.Addr, tc.header)
				dest := fmt.Sprintf("rsync://%s/backup/%s-%d/", fwd, strings.ReplaceAll(tc.name, " ", "-"), i)
				res := rsync(t, nil, "-a", "--timeout=30", src+"/", dest)
				codes[i] = res.Code
				who := [2]string{"rsyncd-go", "stock rsyncd"}[i]
				if tc.ok != (res.Code == 0) {
					t.Errorf("%s: push exit %d, want success %v\n%s", who, res.Code, tc.ok, res.Stderr)
				}
				if tc.want != "" && !strings.Contains(res.Stderr, tc.want) {
					t.Errorf("%s: client output lacks %q:\n%s", who, tc.want, res.Stderr)
				}
				if tc.ok {
					compareTrees(t, src, filepath.Join(d.Data, fmt.Sprintf("%s-%d", strings.ReplaceAll(tc.name, " ", "-"), i)), false)
				}
				log, want := d.Log(), tc.wantOursLog
				if i == 1 {
					b, _ := os.ReadFile(filepath.Join(filepath.Dir(d.Data), "log"))
					log, want = string(b), tc.wantStockLog
				}
				if want != "" && !strings.Contains(log, want) {
					t.Errorf("%s: log lacks %q:\n%s", who, want, log)
				}
			}
			if codes[0] != codes[1] {
				t.Errorf("rsyncd-go: client exit %d, stock rsyncd: %d", codes[0], codes[1])
			}
		})
	}
}
