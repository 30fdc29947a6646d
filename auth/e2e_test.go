package auth

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const rsyncPath = "/usr/bin/rsync"

func requireRsync(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(rsyncPath); err != nil {
		t.Fatalf("%s is needed for this test: install rsync (apt-get install rsync, dnf install rsync): %v", rsyncPath, err)
	}
}

// greetingParts splits "@RSYNCD: 32.0 sha512 md5" into its protocol and
// digest list, as the peer reading it would.
func greetingParts(t *testing.T, line string) (proto int, list string, sent bool) {
	t.Helper()
	rest, ok := strings.CutPrefix(line, "@RSYNCD: ")
	if !ok {
		t.Fatalf("not a greeting: %q", line)
	}
	ver, list, sent := strings.Cut(rest, " ")
	major, _, _ := strings.Cut(ver, ".")
	proto, err := strconv.Atoi(major)
	if err != nil {
		t.Fatalf("greeting %q: %v", line, err)
	}
	return proto, list, sent
}

// exchange is what the fake daemon saw.
type exchange struct {
	clientGreeting, module, challenge, reply string
	err                                      error
}

// fakeDaemon serves one connection: it greets, reads the client's greeting
// and module, challenges with a challenge made for digest, reads the reply
// and refuses the session.
func fakeDaemon(t *testing.T, greeting string, digest Digest) (string, <-chan exchange) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan exchange, 1)
	go func() {
		var ex exchange
		defer func() { done <- ex }()
		conn, err := ln.Accept()
		if err != nil {
			ex.err = err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(conn)
		readLine := func() string {
			if ex.err != nil {
				return ""
			}
			s, err := r.ReadString('\n')
			if err != nil {
				ex.err = fmt.Errorf("read: %w (got %q)", err, s)
			}
			return strings.TrimSuffix(s, "\n")
		}
		if _, err := fmt.Fprintf(conn, "%s\n", greeting); err != nil {
			ex.err = err
			return
		}
		ex.clientGreeting = readLine()
		ex.module = readLine()
		if ex.err != nil {
			return
		}
		ex.challenge, ex.err = NewChallenge(digest, conn.RemoteAddr().String())
		if ex.err != nil {
			return
		}
		fmt.Fprintf(conn, "@RSYNCD: AUTHREQD %s\n", ex.challenge)
		ex.reply = readLine()
		fmt.Fprintf(conn, "@ERROR: auth failed on module %s\n", ex.module)
	}()
	return ln.Addr().String(), done
}

// runClient drives the stock client against addr and returns what the
// fake daemon saw.
func runClient(t *testing.T, addr, password string, args []string, done <-chan exchange) exchange {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args = append(args, "--list-only", "rsync://tester@"+addr+"/mod/")
	cmd := exec.CommandContext(ctx, rsyncPath, args...)
	cmd.Env = append(os.Environ(), "RSYNC_PASSWORD="+password)
	out, err := cmd.CombinedOutput()
	// The fake daemon always refuses, so the client exits non-zero.
	if err == nil {
		t.Errorf("rsync %v succeeded against a refusing daemon:\n%s", args, out)
	}
	select {
	case ex := <-done:
		if ex.err != nil {
			t.Fatalf("fake daemon: %v; rsync output:\n%s", ex.err, out)
		}
		return ex
	case <-time.After(30 * time.Second):
		t.Fatalf("fake daemon did not finish; rsync output:\n%s", out)
	}
	return exchange{}
}

func TestStockClient(t *testing.T) {
	requireRsync(t)
	const password = "s3cret:with spaces"
	dir := t.TempDir()
	secrets := filepath.Join(dir, "rsyncd.secrets")
	if err := os.WriteFile(secrets, []byte("# users\ntester:"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := "sha512 sha256 sha1 md5 md4"
	tests := []struct {
		name     string
		greeting string   // the fake daemon's
		args     []string // extra client options
		want     Digest
	}{
		{"protocol 32, full list", "@RSYNCD: 32.0 " + full, nil, SHA512},
		{"client --protocol=29 still sends its list", "@RSYNCD: 32.0 " + full, []string{"--protocol=29"}, SHA512},
		{"client --protocol=27 still sends its list", "@RSYNCD: 32.0 " + full, []string{"--protocol=27"}, SHA512},
		{"daemon offers sha256", "@RSYNCD: 32.0 sha256", nil, SHA256},
		{"daemon offers sha1", "@RSYNCD: 32.0 sha1", nil, SHA1},
		{"daemon offers md5", "@RSYNCD: 32.0 md5", nil, MD5},
		{"daemon offers md4", "@RSYNCD: 32.0 md4", nil, MD4},
		{"daemon offers md4 and sha1 in that order", "@RSYNCD: 32.0 md4 sha1", nil, SHA1},
		{"no list, protocol 31", "@RSYNCD: 31.0", nil, MD5},
		{"no list, protocol 30", "@RSYNCD: 30.0", nil, MD5},
		{"no list, protocol 29", "@RSYNCD: 29.0", nil, MD4Old},
		{"no list, client --protocol=27", "@RSYNCD: 29.0", []string{"--protocol=27"}, MD4Old},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, done := fakeDaemon(t, tc.greeting, tc.want)
			ex := runClient(t, addr, password, tc.args, done)

			cproto, clist, csent := greetingParts(t, ex.clientGreeting)
			dproto, dlist, dsent := greetingParts(t, tc.greeting)
			proto := min(cproto, dproto)
			// The client chooses from the daemon's list with the same rule a
			// daemon applies to the client's list.
			if got, err := Negotiate(proto, dlist, dsent); err != nil || got != tc.want {
				t.Errorf("Negotiate(%d, %q, %v) = %v, %v; the client used %v", proto, dlist, dsent, got, err, tc.want)
			}
			// The stock client always sends its full list, whatever --protocol.
			if clist != full || !csent {
				t.Errorf("client greeting %q: list %q, want %q", ex.clientGreeting, clist, full)
			}
			if got, err := Negotiate(proto, clist, csent); err != nil || got != SHA512 {
				t.Errorf("daemon side: Negotiate(%d, %q) = %v, %v; want sha512", proto, clist, got, err)
			}
			if ex.module != "mod" {
				t.Errorf("module line %q, want %q", ex.module, "mod")
			}
			if want := len(base64Len(tc.want)); len(ex.challenge) != want {
				t.Errorf("challenge %q has %d characters, want %d", ex.challenge, len(ex.challenge), want)
			}

			user, resp, ok := ParseResponse(ex.reply)
			if !ok || user != "tester" {
				t.Fatalf("reply %q: user %q ok %v", ex.reply, user, ok)
			}
			if !Verify(tc.want, password, ex.challenge, resp) {
				t.Errorf("Verify rejects the stock client's response %q to %q with %v", resp, ex.challenge, tc.want)
			}
			if want, _ := Response(tc.want, password, ex.challenge); want != resp {
				t.Errorf("Response = %q, stock client sent %q", want, resp)
			}
			for _, other := range []Digest{SHA512, SHA256, SHA1, MD5, MD4, MD4Old} {
				if other != tc.want && Verify(other, password, ex.challenge, resp) {
					t.Errorf("Verify accepts the %v response as %v", tc.want, other)
				}
			}
			rules, err := ParseUsers([]string{"tester:ro"})
			if err != nil {
				t.Fatal(err)
			}
			gotUser, access, err := Check(Request{
				Peer:   Peer{Module: "mod", Host: "localhost", Addr: "127.0.0.1"},
				Digest: tc.want, Challenge: ex.challenge, Line: ex.reply,
				Rules: rules, SecretsFile: secrets, StrictModes: true,
				Groups: func(string) []string { return nil },
			})
			if err != nil || gotUser != "tester" || access != ReadOnly {
				t.Errorf("Check = %q, %v, %v; want tester, ro, nil", gotUser, access, err)
			}
		})
	}
}

// base64Len returns a string as long as the unpadded base64 of d's digest.
func base64Len(d Digest) string {
	s, _ := Response(d, "", "")
	return s
}

func TestStockClientWrongPassword(t *testing.T) {
	requireRsync(t)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "rsyncd.secrets")
	if err := os.WriteFile(secrets, []byte("tester:right\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, done := fakeDaemon(t, "@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4", SHA512)
	ex := runClient(t, addr, "wrong", nil, done)
	_, resp, _ := ParseResponse(ex.reply)
	if Verify(SHA512, "right", ex.challenge, resp) {
		t.Error("Verify accepts a response made with the wrong password")
	}
	_, _, err := Check(Request{
		Peer:   Peer{Module: "mod", Host: "localhost", Addr: "127.0.0.1"},
		Digest: SHA512, Challenge: ex.challenge, Line: ex.reply,
		Rules: []Rule{{Pattern: "tester"}}, SecretsFile: secrets, StrictModes: true,
	})
	want := "auth failed on module mod from localhost (127.0.0.1) for tester: password mismatch"
	if err == nil || err.Error() != want {
		t.Errorf("Check error = %v, want %q", err, want)
	}
}
