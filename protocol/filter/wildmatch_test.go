package filter

import (
	"strings"
	"testing"
)

// wildtestCases are the cases of rsync's wildtest.txt, the reference suite
// of its wildmatch(): whether text matches pattern.
var wildtestCases = []struct {
	match         bool
	text, pattern string
}{
	{true, "foo", "foo"},
	{false, "foo", "bar"},
	{true, "", ""},
	{true, "foo", "???"},
	{false, "foo", "??"},
	{true, "foo", "*"},
	{true, "foo", "f*"},
	{false, "foo", "*f"},
	{true, "foo", "*foo*"},
	{true, "foobar", "*ob*a*r*"},
	{true, "aaaaaaabababab", "*ab"},
	{true, "foo*", "foo\\*"},
	{false, "foobar", "foo\\*bar"},
	{true, "f\\oo", "f\\\\oo"},
	{true, "ball", "*[al]?"},
	{false, "ten", "[ten]"},
	{true, "ten", "**[!te]"},
	{false, "ten", "**[!ten]"},
	{true, "ten", "t[a-g]n"},
	{false, "ten", "t[!a-g]n"},
	{true, "ton", "t[!a-g]n"},
	{true, "ton", "t[^a-g]n"},
	{true, "a]b", "a[]]b"},
	{true, "a-b", "a[]-]b"},
	{true, "a]b", "a[]-]b"},
	{false, "aab", "a[]-]b"},
	{true, "aab", "a[]a-]b"},
	{true, "]", "]"},
	{false, "foo/baz/bar", "foo*bar"},
	{true, "foo/baz/bar", "foo**bar"},
	{false, "foo/bar", "foo?bar"},
	{false, "foo/bar", "foo[/]bar"},
	{false, "foo/bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r"},
	{true, "foo-bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r"},
	{false, "foo", "**/foo"},
	{true, "/foo", "**/foo"},
	{true, "bar/baz/foo", "**/foo"},
	{false, "bar/baz/foo", "*/foo"},
	{false, "foo/bar/baz", "**/bar*"},
	{true, "deep/foo/bar/baz", "**/bar/*"},
	{false, "deep/foo/bar/baz/", "**/bar/*"},
	{true, "deep/foo/bar/baz/", "**/bar/**"},
	{false, "deep/foo/bar", "**/bar/*"},
	{true, "deep/foo/bar/", "**/bar/**"},
	{true, "foo/bar/baz", "**/bar**"},
	{true, "foo/bar/baz/x", "*/bar/**"},
	{false, "deep/foo/bar/baz/x", "*/bar/**"},
	{true, "deep/foo/bar/baz/x", "**/bar/*/*"},
	{false, "acrt", "a[c-c]st"},
	{true, "acrt", "a[c-c]rt"},
	{false, "]", "[!]-]"},
	{true, "a", "[!]-]"},
	{false, "", "\\"},
	{false, "\\", "\\"},
	{false, "/\\", "*/\\"},
	{true, "/\\", "*/\\\\"},
	{true, "foo", "foo"},
	{true, "@foo", "@foo"},
	{false, "foo", "@foo"},
	{true, "[ab]", "\\[ab]"},
	{true, "[ab]", "[[]ab]"},
	{true, "[ab]", "[[:]ab]"},
	{false, "[ab]", "[[::]ab]"},
	{true, "[ab]", "[[:digit]ab]"},
	{true, "[ab]", "[\\[:]ab]"},
	{true, "?a?b", "\\??\\?b"},
	{true, "abc", "\\a\\b\\c"},
	{false, "foo", ""},
	{true, "foo/bar/baz/to", "**/t[o]"},
	{true, "a1B", "[[:alpha:]][[:digit:]][[:upper:]]"},
	{false, "a", "[[:digit:][:upper:][:space:]]"},
	{true, "A", "[[:digit:][:upper:][:space:]]"},
	{true, "1", "[[:digit:][:upper:][:space:]]"},
	{false, "1", "[[:digit:][:upper:][:spaci:]]"},
	{true, " ", "[[:digit:][:upper:][:space:]]"},
	{false, ".", "[[:digit:][:upper:][:space:]]"},
	{true, ".", "[[:digit:][:punct:][:space:]]"},
	{true, "5", "[[:xdigit:]]"},
	{true, "f", "[[:xdigit:]]"},
	{true, "D", "[[:xdigit:]]"},
	{true, "_", "[[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:graph:][:lower:][:print:][:punct:][:space:][:upper:][:xdigit:]]"},
	{true, "\x7f", "[^[:alnum:][:alpha:][:blank:][:digit:][:graph:][:lower:][:print:][:punct:][:space:][:upper:][:xdigit:]]"},
	{true, ".", "[^[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:lower:][:space:][:upper:][:xdigit:]]"},
	{true, "5", "[a-c[:digit:]x-z]"},
	{true, "b", "[a-c[:digit:]x-z]"},
	{true, "y", "[a-c[:digit:]x-z]"},
	{false, "q", "[a-c[:digit:]x-z]"},
	{true, "]", "[\\\\-^]"},
	{false, "[", "[\\\\-^]"},
	{true, "-", "[\\-_]"},
	{true, "]", "[\\]]"},
	{false, "\\]", "[\\]]"},
	{false, "\\", "[\\]]"},
	{false, "ab", "a[]b"},
	{false, "a[]b", "a[]b"},
	{false, "ab[", "ab["},
	{false, "ab", "[!"},
	{false, "ab", "[-"},
	{true, "-", "[-]"},
	{false, "-", "[a-"},
	{false, "-", "[!a-"},
	{true, "-", "[--A]"},
	{true, "5", "[--A]"},
	{true, " ", "[ --]"},
	{true, "$", "[ --]"},
	{true, "-", "[ --]"},
	{false, "0", "[ --]"},
	{true, "-", "[---]"},
	{true, "-", "[------]"},
	{false, "j", "[a-e-n]"},
	{true, "-", "[a-e-n]"},
	{true, "a", "[!------]"},
	{false, "[", "[]-a]"},
	{true, "^", "[]-a]"},
	{false, "^", "[!]-a]"},
	{true, "[", "[!]-a]"},
	{true, "^", "[a^bc]"},
	{true, "-b]", "[a-]b]"},
	{false, "\\", "[\\]"},
	{true, "\\", "[\\\\]"},
	{false, "\\", "[!\\\\]"},
	{true, "G", "[A-\\\\]"},
	{false, "aaabbb", "b*a"},
	{false, "aabcaa", "*ba*"},
	{true, ",", "[,]"},
	{true, ",", "[\\\\,]"},
	{true, "\\", "[\\\\,]"},
	{true, "-", "[,-.]"},
	{false, "+", "[,-.]"},
	{false, "-.]", "[,-.]"},
	{true, "2", "[\\1-\\3]"},
	{true, "3", "[\\1-\\3]"},
	{false, "4", "[\\1-\\3]"},
	{true, "\\", "[[-\\]]"},
	{true, "[", "[[-\\]]"},
	{true, "]", "[[-\\]]"},
	{false, "-", "[[-\\]]"},
	{true, "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"},
	{false, "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"},
	{false, "-adobe-courier-bold-o-normal--12-120-75-75-/-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"},
	{true, "/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1", "/*/*/*/*/*/*/12/*/*/*/m/*/*/*"},
	{false, "/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso8859/1", "/*/*/*/*/*/*/12/*/*/*/m/*/*/*"},
	{true, "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt", "**/*a*b*g*n*t"},
	{false, "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz", "**/*a*b*g*n*t"},
}

func TestWildmatchReferenceSuite(t *testing.T) {
	if len(wildtestCases) != 144 {
		t.Fatalf("table has %d cases, wildtest.txt has 144", len(wildtestCases))
	}
	for _, c := range wildtestCases {
		if got := Wildmatch(c.pattern, c.text); got != c.match {
			t.Errorf("Wildmatch(%q, %q) = %v, want %v", c.pattern, c.text, got, c.match)
		}
	}
}

// TestWildmatchFloat covers the "after any slash" mode that unanchored
// "**" rules use, including the pruning results that stop the scan.
func TestWildmatchFloat(t *testing.T) {
	cases := []struct {
		pattern, text string
		want          bool
	}{
		{"foo/**", "a/foo/b", true},
		{"foo/**", "a/xfoo/b", false},
		{"b*/c", "a/b/c", true},
		{"b*/c", "a/bx/y/c", false},
		{"a**z", "x/a/b/z", true},
		{"a**z", "x/a/b/zq", false},
		{"x", "a/x", true},
		{"c/", "a/b/c/", true},
	}
	for _, c := range cases {
		g := compileGlob(c.pattern)
		if got := g.matchAnySlash(c.text); got != c.want {
			t.Errorf("matchAnySlash(%q, %q) = %v, want %v", c.pattern, c.text, got, c.want)
		}
	}
}

// TestWildmatchPathological makes sure the star pruning keeps patterns with
// many stars from exploding on long texts.
func TestWildmatchPathological(t *testing.T) {
	text := strings.Repeat("a", 200) + "b"
	pat := strings.Repeat("*a", 30) + "*c"
	if Wildmatch(pat, text) {
		t.Fatal("matched")
	}
	pat2 := strings.Repeat("**a", 8) + "**c"
	text2 := strings.Repeat("a/", 40) + "b"
	if Wildmatch(pat2, text2) {
		t.Fatal("matched")
	}
}

func FuzzWildmatch(f *testing.F) {
	for _, c := range wildtestCases {
		f.Add(c.pattern, c.text)
	}
	f.Fuzz(func(t *testing.T, pattern, text string) {
		if len(pattern) > 64 || len(text) > 256 {
			return // keep the exponential worst cases of any glob out
		}
		g := compileGlob(pattern)
		got := g.match(text)
		// A literal pattern (no wildcard byte) matches only itself, as
		// rsync's literal path compares strings.
		if !strings.ContainsAny(pattern, "*?[\\") && got != (pattern == text) {
			t.Fatalf("literal %q vs %q: %v", pattern, text, got)
		}
		// "*" never crosses '/', "**" always can.
		if pattern == "**" && !got {
			t.Fatalf("** did not match %q", text)
		}
		if got && pattern == "*" && strings.Contains(text, "/") {
			t.Fatalf("* matched %q", text)
		}
		// Matching a text anywhere must include matching it at the start.
		if got && !g.matchAnySlash(text) {
			t.Fatalf("%q matched %q but not in float mode", pattern, text)
		}
		// Appending "**" to a matching pattern keeps it matching.
		if got && !compileGlob(pattern+"**").match(text) && !strings.HasSuffix(pattern, "\\") {
			t.Fatalf("%q** did not match %q", pattern, text)
		}
	})
}
