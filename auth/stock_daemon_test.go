package auth

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stockDaemon starts the stock rsync daemon on a loopback port with one
// module "mod" guarded by "auth users = tester" and returns its address
// and log file.
func stockDaemon(t *testing.T, password string, mode os.FileMode) (addr, logFile string) {
	t.Helper()
	requireRsync(t)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.WriteFile(secrets, []byte("tester:"+password+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secrets, mode); err != nil { // beyond the umask
		t.Fatal(err)
	}
	logFile = filepath.Join(dir, "rsyncd.log")
	conf := fmt.Sprintf("use chroot = no\nlog file = %s\npid file = %s\nuid = %d\ngid = %d\n"+
		"[mod]\npath = %s\nauth users = tester\nsecrets file = %s\n",
		logFile, filepath.Join(dir, "pid"), os.Getuid(), os.Getgid(), dir, secrets)
	confFile := filepath.Join(dir, "rsyncd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	ln.Close()
	cmd := exec.Command(rsyncPath, "--daemon", "--no-detach", "--config="+confFile, "--address=127.0.0.1", "--port="+port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr, logFile
		}
		if time.Now().After(deadline) {
			t.Fatalf("stock rsync daemon did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStockDaemon plays an rsync client against the stock daemon to check
// the daemon side of Negotiate and Response: the daemon accepts our
// response only if we chose the digest it chose.
func TestStockDaemon(t *testing.T) {
	const password = "pw"
	addr, _ := stockDaemon(t, password, 0o600)
	tests := []struct {
		name     string
		greeting string // the client's
		want     Digest // 0: the daemon refuses the list
	}{
		{"full list", "@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4", SHA512},
		{"weak first", "@RSYNCD: 32.0 md4 sha1", SHA1},
		{"case-insensitive", "@RSYNCD: 31.0 MD5", MD5},
		{"new md4 from a list below 30", "@RSYNCD: 29.0 md4", MD4},
		{"no list, 31", "@RSYNCD: 31.0", MD5},
		{"no list, 30", "@RSYNCD: 30.0", MD5},
		{"no list, 29", "@RSYNCD: 29.0", MD4Old},
		{"no list, 27", "@RSYNCD: 27.0", MD4Old},
		{"empty list", "@RSYNCD: 31.0 ", 0},
		{"unknown names", "@RSYNCD: 31.0 xxh3 sha384", 0},
		{"tab is not a separator", "@RSYNCD: 31.0 sha1\tmd5", 0},
		{"list cut at 255 bytes", "@RSYNCD: 31.0 " + strings.Repeat("x", 251) + " sha1", 0},
		{"list just within 255 bytes", "@RSYNCD: 31.0 " + strings.Repeat("x", 250) + " md5", MD5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proto, list, sent := greetingParts(t, tc.greeting)
			got, err := Negotiate(min(proto, 32), list, sent)
			if tc.want == 0 {
				if err != ErrNoCommonDigest {
					t.Errorf("Negotiate = %v, %v; want ErrNoCommonDigest", got, err)
				}
			} else if err != nil || got != tc.want {
				t.Errorf("Negotiate = %v, %v; want %v", got, err, tc.want)
			}

			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			r := bufio.NewReader(conn)
			line := func() string {
				s, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("read: %v (got %q)", err, s)
				}
				return strings.TrimSuffix(s, "\n")
			}
			if g, want := line(), "@RSYNCD: 32.0 "+strings.Join(DaemonDigests(), " "); g != want {
				t.Errorf("stock greeting %q, DaemonDigests gives %q", g, want)
			}
			fmt.Fprintf(conn, "%s\nmod\n", tc.greeting)
			l := line()
			if tc.want == 0 {
				if want := "@ERROR: " + ErrNoCommonDigest.Error(); l != want {
					t.Errorf("stock daemon said %q, want %q", l, want)
				}
				return
			}
			challenge, ok := strings.CutPrefix(l, "@RSYNCD: AUTHREQD ")
			if !ok {
				t.Fatalf("stock daemon said %q, want a challenge", l)
			}
			if n := len(base64Len(tc.want)); len(challenge) != n {
				t.Errorf("stock challenge %q is %d long, NewChallenge makes %d", challenge, len(challenge), n)
			}
			resp, err := Response(tc.want, password, challenge)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "tester %s\n", resp)
			if l := line(); l != "@RSYNCD: OK" {
				t.Errorf("stock daemon refused our %v response: %q", tc.want, l)
			}
		})
	}
}

// TestStockDaemonLogLines compares Check's errors with what the stock
// daemon logs for the same failures.
func TestStockDaemonLogLines(t *testing.T) {
	addr, logFile := stockDaemon(t, "right", 0o600)
	strictAddr, strictLog := stockDaemon(t, "right", 0o604)
	tests := []struct {
		name   string
		strict bool // against the daemon whose secrets file is 0604
		reply  func(challenge string) string
	}{
		{"password mismatch", false, func(c string) string { r, _ := Response(SHA512, "wrong", c); return "tester " + r }},
		{"no matching rule", false, func(c string) string { return "other x" }},
		{"invalid challenge response", false, func(c string) string { return "nospace" }},
		{"strict modes", true, func(c string) string { r, _ := Response(SHA512, "right", c); return "tester " + r }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, logFile, mode := addr, logFile, os.FileMode(0o600)
			if tc.strict {
				addr, logFile, mode = strictAddr, strictLog, 0o604
			}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			r := bufio.NewReader(conn)
			r.ReadString('\n')
			fmt.Fprintf(conn, "@RSYNCD: 32.0 sha512\nmod\n")
			l, _ := r.ReadString('\n')
			challenge, ok := strings.CutPrefix(strings.TrimSuffix(l, "\n"), "@RSYNCD: AUTHREQD ")
			if !ok {
				t.Fatalf("no challenge: %q", l)
			}
			reply := tc.reply(challenge)
			fmt.Fprintf(conn, "%s\n", reply)
			if l, _ := r.ReadString('\n'); l != "@ERROR: auth failed on module mod\n" {
				t.Errorf("stock daemon said %q", l)
			}
			conn.Close()

			dir := t.TempDir()
			secrets := filepath.Join(dir, "s")
			if err := os.WriteFile(secrets, []byte("tester:right\n"), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(secrets, mode); err != nil {
				t.Fatal(err)
			}
			_, _, cerr := Check(Request{
				Peer:   Peer{Module: "mod", Host: "HOST", Addr: "127.0.0.1"},
				Digest: SHA512, Challenge: challenge, Line: reply,
				Rules: []Rule{{Pattern: "tester"}}, SecretsFile: secrets, StrictModes: true,
			})
			if cerr == nil {
				t.Fatal("Check accepted")
			}
			// The stock daemon names the host by reverse lookup; compare
			// from " (127.0.0.1)" on.
			_, want, _ := strings.Cut(cerr.Error(), " (127.0.0.1)")
			wants := []string{" (127.0.0.1)" + want + "\n"}
			var se *SecretsError
			if errors.As(cerr, &se) {
				// rsyncd logs the strict-modes detail on a line of its own.
				wants = append(wants, "] "+se.Err.Error()+"\n")
			}
			for deadline := time.Now().Add(5 * time.Second); ; {
				data, _ := os.ReadFile(logFile)
				found := 0
				for _, w := range wants {
					if strings.Contains(string(data), w) {
						found++
					}
				}
				if found == len(wants) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("stock log lacks %q:\n%s", wants, data)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
