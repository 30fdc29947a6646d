package filter

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ex(p string, m Mods) Rule { return Rule{Action: Exclude, Pattern: p, Mods: m} }
func in(p string, m Mods) Rule { return Rule{Action: Include, Pattern: p, Mods: m} }

const cvsMods = ModCVS | ModNoPrefixes | ModWordSplit | ModNoInherit

func TestParse(t *testing.T) {
	cases := []struct {
		text  string
		proto int
		from  Source
		want  []Rule
	}{
		// Short prefixes, separators, modifiers.
		{"- foo", 31, FromWire, []Rule{ex("foo", 0)}},
		{"+ foo/", 31, FromWire, []Rule{in("foo", ModDirOnly)}},
		{"-_foo", 31, FromWire, []Rule{ex("foo", 0)}},
		{"-,s foo", 31, FromWire, []Rule{ex("foo", ModSender)}},
		{"- foo bar ", 31, FromWire, []Rule{ex("foo bar ", 0)}},
		{"-  foo", 31, FromWire, []Rule{ex(" foo", 0)}},
		{"- /", 31, FromWire, []Rule{ex("/", 0)}},
		{"- a//", 31, FromWire, []Rule{ex("a/", ModDirOnly)}},
		{"-! */", 31, FromWire, []Rule{ex("*", ModNegate|ModDirOnly)}},
		{"-/ /etc/passwd", 31, FromWire, []Rule{ex("/etc/passwd", ModAbsolute)}},
		{"-p *.o", 31, FromWire, []Rule{ex("*.o", ModPerishable)}},
		{"-x user.*", 31, FromWire, []Rule{ex("user.*", ModXattr)}},
		{"+sr x", 31, FromWire, []Rule{in("x", ModSender|ModReceiver)}},
		{"- foo\x00bar", 31, FromWire, []Rule{ex("foo", 0)}},
		// Side prefixes normalise to exclude/include with a side.
		{"H foo", 31, FromWire, []Rule{ex("foo", ModSender)}},
		{"S foo", 31, FromWire, []Rule{in("foo", ModSender)}},
		{"P foo", 31, FromWire, []Rule{ex("foo", ModReceiver)}},
		{"R foo", 31, FromWire, []Rule{in("foo", ModReceiver)}},
		{"P,p foo", 31, FromWire, []Rule{ex("foo", ModReceiver|ModPerishable)}},
		// Long names.
		{"exclude foo", 31, FromWire, []Rule{ex("foo", 0)}},
		{"exclude,! */", 31, FromWire, []Rule{ex("*", ModNegate|ModDirOnly)}},
		{"include_foo", 31, FromWire, []Rule{in("foo", 0)}},
		{"hide foo", 31, FromWire, []Rule{ex("foo", ModSender)}},
		{"show,p foo", 31, FromWire, []Rule{in("foo", ModSender|ModPerishable)}},
		{"protect foo", 31, FromWire, []Rule{ex("foo", ModReceiver)}},
		{"risk foo", 31, FromWire, []Rule{in("foo", ModReceiver)}},
		{"clear", 31, FromWire, []Rule{{Action: Clear}}},
		{"clear,", 31, FromWire, []Rule{{Action: Clear}}},
		{"!", 31, FromWire, []Rule{{Action: Clear}}},
		// Merge rules.
		{": .rsync-filter", 31, FromWire, []Rule{{Action: DirMerge, Pattern: ".rsync-filter"}}},
		{": /.rsync-filter", 31, FromWire, []Rule{{Action: DirMerge, Pattern: "/.rsync-filter"}}},
		{"dir-merge,n- .excl", 31, FromWire, []Rule{{Action: DirMerge, Pattern: ".excl", Mods: ModNoInherit | ModNoPrefixes}}},
		{":n+ .incl", 31, FromWire, []Rule{{Action: DirMerge, Pattern: ".incl", Mods: ModNoInherit | ModNoPrefixes | ModIncludes}}},
		{":C", 31, FromWire, []Rule{{Action: DirMerge, Pattern: ".cvsignore", Mods: cvsMods}}},
		{":e .rules", 31, FromWire, []Rule{ex(".rules", 0), {Action: DirMerge, Pattern: ".rules"}}},
		{"dir-merge,e sub/.rules", 31, FromWire, []Rule{ex(".rules", 0), {Action: DirMerge, Pattern: "sub/.rules"}}},
		{":s_.filt", 31, FromWire, []Rule{{Action: DirMerge, Pattern: ".filt", Mods: ModSender}}},
		{":w /x/", 31, FromWire, []Rule{{Action: DirMerge, Pattern: "/x", Mods: ModWordSplit | ModDirOnly}}},
		{"merge /etc/rules", 31, FromWire, []Rule{{Action: Merge, Pattern: "/etc/rules"}}},
		{". dir/", 31, FromWire, []Rule{{Action: Merge, Pattern: "dir/"}}},
		{"merge,+/ f", 31, FromWire, []Rule{{Action: Merge, Pattern: "f", Mods: ModNoPrefixes | ModIncludes | ModAbsolute}}},
		{"-C", 31, FromWire, []Rule{ex("", cvsMods)}},
		// Protocol 28: only "+ ", "- " and "!".
		{"- foo", 28, FromWire, []Rule{ex("foo", 0)}},
		{"+ foo", 28, FromWire, []Rule{in("foo", 0)}},
		{"foo", 28, FromWire, []Rule{ex("foo", 0)}},
		{"P foo", 28, FromWire, []Rule{ex("P foo", 0)}},
		{"-foo", 28, FromWire, []Rule{ex("-foo", 0)}},
		{": x", 28, FromWire, []Rule{ex(": x", 0)}},
		{"!", 28, FromWire, []Rule{{Action: Clear}}},
		{"!x", 28, FromWire, []Rule{ex("!x", 0)}},
		{"- - x", 28, FromWire, []Rule{ex("- x", 0)}},
		// --filter argument: modern syntax whatever the protocol.
		{"P foo", 28, FromArg, []Rule{ex("foo", ModReceiver)}},
		// Daemon config: word split, absolute if a '/', "dir/" => "dir/***".
		{"*.tmp secret/ /abs/path + keep", 31, FromConfigExclude, []Rule{
			ex("*.tmp", 0), ex("secret/***", 0), ex("/abs/path", ModAbsolute), in("keep", 0)}},
		{"foo bar/  - baz/", 31, FromConfigInclude, []Rule{
			in("foo", 0), in("bar", ModDirOnly), ex("baz/***", 0)}},
		{"- *.bak\t+ /keep/ H x/y ! -p a", 31, FromConfigFilter, []Rule{
			ex("*.bak", 0), in("/keep", ModAbsolute|ModDirOnly), ex("x/y", ModSender|ModAbsolute),
			{Action: Clear}, ex("a", ModPerishable)}},
		{"# comment\n; c\n*.o\r\nfoo/\r\rx\n\n- bar\n+ b/c", 31, FromConfigExcludeFile, []Rule{
			ex("*.o", 0), ex("foo/***", 0), ex("x", 0), ex("bar", 0), in("b/c", ModAbsolute)}},
		{"*.c\n- junk", 31, FromConfigIncludeFile, []Rule{in("*.c", 0), ex("junk", 0)}},
	}
	for _, c := range cases {
		got, err := Parse(c.text, c.proto, c.from)
		if err != nil {
			t.Errorf("Parse(%q, %d, %d): %v", c.text, c.proto, c.from, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q, %d, %d) =\n  %+v\nwant\n  %+v", c.text, c.proto, c.from, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		text string
		from Source
		msg  string
	}{
		{"x foo", FromWire, "unknown filter rule"},
		{"excludes foo", FromWire, "unknown filter rule"},
		{"c foo", FromWire, "unknown filter rule"},
		{"-", FromWire, "unexpected end"},
		{"- ", FromWire, "unexpected end"},
		{"include", FromWire, "unexpected end"},
		{"-!foo", FromWire, "invalid modifier 'f'"},
		{"exclude\tfoo", FromWire, "invalid modifier '\t'"},
		{"+e foo", FromWire, "invalid modifier 'e'"},
		{"-n foo", FromWire, "invalid modifier 'n'"},
		{"-w foo", FromWire, "invalid modifier 'w'"},
		{"-- foo", FromWire, "invalid modifier '-'"},
		{".! foo", FromWire, "invalid modifier '!'"},
		{":+- x", FromWire, "invalid modifier '-'"},
		{"Hs foo", FromWire, "invalid modifier 's'"},
		{"P,r foo", FromWire, "invalid modifier 'r'"},
		{"PC", FromWire, "invalid modifier 'C'"},
		{":-C", FromWire, "invalid modifier 'C'"},
		{"! x", FromWire, "trailing characters"},
		{"!x", FromWire, "trailing characters"},
		{"clear ", FromWire, "trailing characters"},
		{"-\tfoo", FromConfigFilter, "unexpected end"},
	}
	for _, c := range cases {
		_, err := Parse(c.text, 31, c.from)
		if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Parse(%q) error = %v, want %q", c.text, err, c.msg)
		}
	}
}

func TestParseDropsOverlong(t *testing.T) {
	long := strings.Repeat("a", MaxPatternLen)
	got, err := Parse("- "+long, 31, FromWire)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want the rule dropped", got, err)
	}
	got, err = Parse("- "+long[1:], 31, FromWire)
	if err != nil || len(got) != 1 {
		t.Fatalf("got %d rules, %v; want one", len(got), err)
	}
	// An overlong line in a file is discarded, the others kept.
	got, err = Parse("a\n"+strings.Repeat("b", MaxLineLen+1)+"\nc", 31, FromConfigExcludeFile)
	if err != nil || !reflect.DeepEqual(got, []Rule{ex("a", 0), ex("c", 0)}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestRuleString(t *testing.T) {
	cases := []struct {
		text, want string
	}{
		{"- foo", "- foo"},
		{"H foo/", "-s foo/"},
		{"R,p x", "+rp x"},
		{"-!/ a", "-/! a"},
		{":C", ":C .cvsignore"},
		{"dir-merge,n+ .x", ":n+ .x"},
		{"-x u.*", "-x u.*"},
		{"!", "!"},
	}
	for _, c := range cases {
		r, err := Parse(c.text, 31, FromWire)
		if err != nil || len(r) != 1 {
			t.Fatalf("Parse(%q): %v %v", c.text, r, err)
		}
		if got := r[0].String(); got != c.want {
			t.Errorf("String of %q = %q, want %q", c.text, got, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"- foo", "+ foo/", ":e .rules", "exclude,! */", "H,p x", "!", "-C", ". f", "P foo", "clear"} {
		f.Add(s, uint8(FromWire), 31)
	}
	f.Add("*.tmp secret/ + keep", uint8(FromConfigExclude), 31)
	f.Add("# c\n- a\r\n+ b/", uint8(FromConfigExcludeFile), 31)
	f.Add("+ x", uint8(FromWire), 28)
	f.Fuzz(func(t *testing.T, text string, from uint8, proto int) {
		src := Source(from % 7)
		// The same text as a per-directory merge file.
		m := &memFS{files: map[string]string{"d/.r": text}}
		l := New(Config{Protocol: proto})
		if err := l.Add([]Rule{{Action: DirMerge, Pattern: ".r"}}, nil); err != nil {
			t.Fatal(err)
		}
		if l.EnterDir("d", m.read) == nil {
			l.Check("d/x", Receiver, IsDir)
		}
		l.LeaveDir()
		rules, err := Parse(text, proto, src)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error without ErrSyntax: %v", err)
			}
			return
		}
		for _, r := range rules {
			if len(r.Pattern) >= MaxPatternLen+len("/***") {
				t.Fatalf("overlong pattern kept: %d bytes", len(r.Pattern))
			}
			// Every rule compiles and can be checked.
			n := compileNode(r.flags(), r.Pattern)
			n.applies("a/b", IsDir, "r")
			// A modern-syntax rule re-parses to itself.
			if src == FromWire && proto >= 29 && r.Action != Merge && r.Mods&ModCVS == 0 &&
				r.Pattern != "" && !strings.HasSuffix(r.Pattern, "/") {
				again, err := Parse(r.String(), proto, FromWire)
				if err != nil || len(again) != 1 || again[0] != r {
					t.Fatalf("%q -> %+v -> %q -> %+v, %v", text, r, r.String(), again, err)
				}
			}
		}
	})
}
