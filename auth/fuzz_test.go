package auth

import (
	"bytes"
	"path"
	"strings"
	"testing"
)

// refSecretLines reads data the way fgets into a 1024-byte buffer does, one
// byte at a time, and keeps what strtok(line, "\r\n") yields.
func refSecretLines(data []byte) []string {
	var out []string
	var cur []byte
	emit := func() {
		if i := bytes.IndexByte(cur, 0); i >= 0 {
			cur = cur[:i]
		}
		start := 0
		for start < len(cur) && (cur[start] == '\r' || cur[start] == '\n') {
			start++
		}
		end := start
		for end < len(cur) && cur[end] != '\r' && cur[end] != '\n' {
			end++
		}
		if end > start {
			out = append(out, string(cur[start:end]))
		}
		cur = nil
	}
	for _, c := range data {
		cur = append(cur, c)
		if c == '\n' || len(cur) == 1023 {
			emit()
		}
	}
	if len(cur) > 0 {
		emit()
	}
	return out
}

// refLookup is check_secret's search: the first line, '@' for groups,
// that starts with the name and a ':'.
func refLookup(lines []string, group bool, name string) (string, bool) {
	if !group && strings.HasPrefix(name, "#") {
		return "", false
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "@") != group {
			continue
		}
		if group {
			l = l[1:]
		}
		if rest, ok := strings.CutPrefix(l, name+":"); ok {
			return rest, true
		}
	}
	return "", false
}

func FuzzParseSecrets(f *testing.F) {
	f.Add([]byte("rsync_backup:oldboy\n@staff:pw\n# c\n\n"), "rsync_backup", "staff")
	f.Add([]byte("a:b:c\r\n\r\rx:y\x00z\n"), "a", "")
	f.Add([]byte(strings.Repeat("q", 1030)+":p\n"), "qqqqqqq", "q")
	f.Fuzz(func(t *testing.T, data []byte, user, group string) {
		s, err := ParseSecrets(data)
		if err != nil {
			if len(data) <= MaxSecretsSize {
				t.Fatalf("ParseSecrets failed on %d bytes: %v", len(data), err)
			}
			return
		}
		lines := refSecretLines(data)
		pw, ok := s.Password(user)
		rpw, rok := refLookup(lines, false, user)
		if pw != rpw || ok != rok {
			t.Fatalf("Password(%q) = %q, %v; reference %q, %v", user, pw, ok, rpw, rok)
		}
		gpw, gok := s.GroupPassword(group)
		rgpw, rgok := refLookup(lines, true, group)
		if gpw != rgpw || gok != rgok {
			t.Fatalf("GroupPassword(%q) = %q, %v; reference %q, %v", group, gpw, gok, rgpw, rgok)
		}
		if strings.ContainsAny(pw+gpw, "\r\n\x00") {
			t.Fatalf("password holds CR, LF or NUL: %q %q", pw, gpw)
		}
	})
}

func FuzzParseUsers(f *testing.F) {
	f.Add("joe:deny @guest:deny admin:rw @rsync:ro susan joe sam", "admin", "rsync")
	f.Add(", joe:deny, @Some Group:deny, admin:rw", "bob", "Some Group")
	f.Add("joe*:RO [a-z]?:rw @*:d", "joe/x", "wheel")
	f.Fuzz(func(t *testing.T, value, user, group string) {
		entries := SplitUsers(value)
		for _, e := range entries {
			if e == "" {
				t.Fatalf("SplitUsers(%q) yields an empty entry", value)
			}
		}
		rules, _ := ParseUsers(entries)
		if len(rules) > len(entries) {
			t.Fatalf("%d rules from %d entries", len(rules), len(entries))
		}
		for _, r := range rules {
			if strings.Contains(r.Pattern, ":") || r.Access < Default || r.Access > Deny {
				t.Fatalf("bad rule %+v from %q", r, value)
			}
		}
		access, g, ok := Authorize(rules, user, []string{group})
		if !ok && (access != Default || g != "") {
			t.Fatalf("no match but %v %q", access, g)
		}
		if g != "" && g != group {
			t.Fatalf("matched group %q, not the user's %q", g, group)
		}
		ParseUsers([]string{value})
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add("rsync_backup 3jGYQqDqq7YMq6vvZHDbS7pZHBqiAQqfPYw1t7ZmY5Q\n")
	f.Add("no-space\r\n")
	f.Add(" \r")
	f.Fuzz(func(t *testing.T, line string) {
		user, resp, ok := ParseResponse(line)
		if !ok {
			if user != "" || resp != "" {
				t.Fatalf("failed parse returns %q %q", user, resp)
			}
			return
		}
		clean := strings.ReplaceAll(strings.TrimSuffix(line, "\n"), "\r", "")
		if strings.Contains(user, " ") || user+" "+resp != clean || len(clean) > MaxLineLen ||
			strings.ContainsAny(clean, "\x00\n") {
			t.Fatalf("ParseResponse(%q) = %q, %q", line, user, resp)
		}
	})
}

// FuzzWildmatch checks termination and, for patterns path.Match reads the
// same way (ASCII, no classes, escapes or "**"), agreement with it.
func FuzzWildmatch(f *testing.F) {
	f.Add("joe*", "joe2")
	f.Add("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("[[:alpha:]-z]?\\*", "q-*")
	f.Add("a**/b", "a/x/y/b")
	f.Fuzz(func(t *testing.T, pattern, text string) {
		got := wildmatch(pattern, text)
		if strings.ContainsAny(pattern, "[\\") || strings.Contains(pattern, "**") {
			return
		}
		for _, s := range []string{pattern, text} {
			for i := 0; i < len(s); i++ {
				if s[i] >= 0x80 {
					return
				}
			}
		}
		want, err := path.Match(pattern, text)
		if err == nil && got != want {
			t.Fatalf("wildmatch(%q, %q) = %v, path.Match says %v", pattern, text, got, want)
		}
	})
}

func FuzzNegotiate(f *testing.F) {
	f.Add(32, "sha512 sha256 sha1 md5 md4", true)
	f.Add(29, "", false)
	f.Add(31, "MD4  xxh3 Sha1", true)
	f.Fuzz(func(t *testing.T, proto int, list string, sent bool) {
		d, err := Negotiate(proto, list, sent)
		if !sent {
			if err != nil || (proto >= 30) != (d == MD5) || (proto < 30) != (d == MD4Old) {
				t.Fatalf("Negotiate(%d, no list) = %v, %v", proto, d, err)
			}
			return
		}
		if len(list) > maxListLen {
			list = list[:maxListLen]
		}
		list = cString(list)
		best := Digest(0)
		for _, tok := range strings.Split(list, " ") {
			if c, ok := ParseDigest(tok); ok && (best == 0 || c < best) {
				best = c
			}
		}
		if best == 0 {
			if err != ErrNoCommonDigest {
				t.Fatalf("Negotiate(%q) = %v, %v; want ErrNoCommonDigest", list, d, err)
			}
			return
		}
		if err != nil || d != best {
			t.Fatalf("Negotiate(%q) = %v, %v; want %v", list, d, err, best)
		}
	})
}
