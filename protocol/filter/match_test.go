package filter

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func mustList(t testing.TB, cfg Config, read ReadFunc, filters ...string) *List {
	t.Helper()
	l := New(cfg)
	for _, f := range filters {
		rs, err := Parse(f, 32, FromArg)
		if err != nil {
			t.Fatalf("Parse(%q): %v", f, err)
		}
		if err := l.Add(rs, read); err != nil {
			t.Fatalf("Add(%q): %v", f, err)
		}
	}
	return l
}

// memFS serves merge files from a map and records what was asked for.
type memFS struct {
	files map[string]string
	reads []string
}

func (m *memFS) read(name string) ([]byte, error) {
	m.reads = append(m.reads, name)
	if s, ok := m.files[name]; ok {
		return []byte(s), nil
	}
	return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
}

func TestCheck(t *testing.T) {
	type probe struct {
		path string
		fl   Flags
		side Side
		want Result
	}
	S, R := Sender, Receiver
	cases := []struct {
		rules  []string
		root   string
		probes []probe
	}{
		{[]string{"- foo"}, "", []probe{
			{"foo", 0, S, Excluded}, {"a/foo", 0, S, Excluded}, {"foo", IsDir, R, Excluded},
			{"foo/bar", 0, S, NoMatch}, {"afoo", 0, S, NoMatch}, {"", 0, S, NoMatch}}},
		{[]string{"- foo/"}, "", []probe{{"foo", IsDir, S, Excluded}, {"foo", 0, S, NoMatch}}},
		{[]string{"- /foo"}, "", []probe{{"foo", 0, S, Excluded}, {"/foo", 0, S, Excluded}, {"a/foo", 0, S, NoMatch}}},
		{[]string{"- a/b"}, "", []probe{
			{"a/b", 0, S, Excluded}, {"x/a/b", 0, S, Excluded}, {"xa/b", 0, S, NoMatch}, {"a/b/c", 0, S, NoMatch}}},
		{[]string{"- a/*/c"}, "", []probe{
			{"a/x/c", 0, S, Excluded}, {"z/a/x/c", 0, S, Excluded}, {"a/x/y/c", 0, S, NoMatch}}},
		{[]string{"- /a/**/c"}, "", []probe{
			{"a/c", 0, S, NoMatch}, {"a/x/c", 0, S, Excluded}, {"a/x/y/c", 0, S, Excluded}, {"b/a/x/c", 0, S, NoMatch}}},
		{[]string{"- **/c"}, "", []probe{{"c", 0, S, Excluded}, {"a/b/c", 0, S, Excluded}, {"a/bc", 0, S, NoMatch}}},
		{[]string{"- a**z"}, "", []probe{{"a/b/z", 0, S, Excluded}, {"q/ab/xz", 0, S, Excluded}, {"q/b/az/x", 0, S, NoMatch}}},
		{[]string{"- dir/***"}, "", []probe{
			{"dir", IsDir, S, Excluded}, {"dir", 0, S, NoMatch}, {"dir/x", 0, S, Excluded}, {"a/dir/x/y", 0, S, Excluded}}},
		{[]string{"- dir/**"}, "", []probe{{"dir", IsDir, S, NoMatch}, {"dir/x/y", 0, S, Excluded}}},
		{[]string{"+ *.c", "- *"}, "", []probe{{"x.c", 0, S, Included}, {"d/x.h", 0, S, Excluded}}},
		{[]string{"-! */"}, "", []probe{{"f", 0, S, Excluded}, {"d", IsDir, S, NoMatch}}},
		{[]string{"-! *.c"}, "", []probe{{"a.c", 0, S, NoMatch}, {"a.h", 0, S, Excluded}}},
		{[]string{`- foo\bar`}, "", []probe{{`foo\bar`, 0, S, Excluded}, {"foobar", 0, S, NoMatch}}},
		{[]string{`- foo\*`}, "", []probe{{"foo*", 0, S, Excluded}, {"foox", 0, S, NoMatch}}},
		{[]string{"- [ab]*"}, "", []probe{{"apple", 0, S, Excluded}, {"x/bee", 0, S, Excluded}, {"cat", 0, S, NoMatch}}},
		{[]string{"- *.o", "- x*", "- ?"}, "", []probe{
			{"d/a.o", 0, S, Excluded}, {"a.ox", 0, S, NoMatch}, {"xy", 0, S, Excluded}, {"q", 0, S, Excluded}, {"qq", 0, S, NoMatch}}},
		{[]string{"-x user.*"}, "", []probe{{"user.a", IsXattr, S, Excluded}, {"user.a", 0, S, NoMatch}}},
		{[]string{"- user.*"}, "", []probe{{"user.a", IsXattr, S, NoMatch}, {"user.a", 0, S, Excluded}}},
		{[]string{"H a", "P b", "- c", "S d", "R d", "- d"}, "", []probe{
			{"a", 0, S, Excluded}, {"a", 0, R, NoMatch}, {"b", 0, S, NoMatch}, {"b", 0, R, Excluded},
			{"c", 0, S, Excluded}, {"c", 0, R, Excluded}, {"d", 0, S, Included}, {"d", 0, R, Included}}},
		{[]string{"-sr x"}, "", []probe{{"x", 0, S, Excluded}, {"x", 0, R, Excluded}}},
		{[]string{"-p *.o", "- *.a"}, "", []probe{
			{"a.o", IgnorePerishable, R, NoMatch}, {"a.o", 0, R, Excluded}, {"a.a", IgnorePerishable, R, Excluded}}},
		{[]string{"- a", "!", "- b"}, "", []probe{{"a", 0, S, NoMatch}, {"b", 0, S, Excluded}}},
		{[]string{"-/ /mod/sub/x", "-/ sub/y", "-/ /z", "- /w"}, "mod/sub", []probe{
			{"x", 0, S, Excluded}, {"y", 0, S, Excluded}, {"z", 0, S, NoMatch}, {"w", 0, S, Excluded}}},
		{[]string{"-/ /z"}, "", []probe{{"z", 0, S, Excluded}}},
		{[]string{"-C"}, "", []probe{
			{"core", 0, S, Excluded}, {"a/x.o", 0, S, Excluded}, {"x~", 0, S, Excluded}, {".git", IsDir, S, Excluded},
			{".git", 0, S, NoMatch}, {"x.o", IgnorePerishable, R, NoMatch}, {"main.c", 0, S, NoMatch}}},
	}
	for _, c := range cases {
		l := mustList(t, Config{Protocol: 32, Root: c.root}, nil, c.rules...)
		for _, p := range c.probes {
			if got := l.Check(p.path, p.side, p.fl); got != p.want {
				t.Errorf("rules %q root %q: Check(%q, %d, %d) = %d, want %d", c.rules, c.root, p.path, p.side, p.fl, got, p.want)
			}
			if got := l.Match(p.path, p.fl&IsDir != 0, p.side); p.fl&^IsDir == 0 && got != (p.want == Excluded) {
				t.Errorf("rules %q: Match(%q) = %v", c.rules, p.path, got)
			}
		}
	}
}

func TestExcludedPath(t *testing.T) {
	l := mustList(t, Config{}, nil, "- secret/")
	for _, c := range []struct {
		path string
		want bool
	}{{"secret/a/b", true}, {"x/secret/b", true}, {"secret", false}, {"secrets/a", false}} {
		if got := l.ExcludedPath(c.path, false, Sender); got != c.want {
			t.Errorf("ExcludedPath(%q) = %v", c.path, got)
		}
	}
}

// TestDaemonConfig checks how the daemon parameters' rules match
// module-relative names: "dir/" excludes the whole subtree, a rule with a
// '/' is rooted at the module even when the transfer starts deeper.
func TestDaemonConfig(t *testing.T) {
	l := New(Config{Root: "sub"})
	for _, p := range []struct {
		text string
		from Source
	}{{"secret/ /sub/priv *.tmp", FromConfigExclude}, {"+ keep.tmp", FromConfigFilter}} {
		rs, err := Parse(p.text, 0, p.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Add(rs, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		path  string
		isDir bool
		want  bool
	}{
		{"secret", true, true}, {"secret", false, false}, {"a/secret/x", false, true},
		{"priv", false, true}, {"x/priv", false, false}, {"a.tmp", false, true}, {"keep.tmp", false, true},
	} {
		if got := l.Match(c.path, c.isDir, Receiver); got != c.want {
			t.Errorf("Match(%q, %v) = %v, want %v", c.path, c.isDir, got, c.want)
		}
	}
}

func TestMergeFiles(t *testing.T) {
	m := &memFS{files: map[string]string{
		"rules":   "# comment\n- *.bak\n+ x\n. more\n",
		"more":    "- y\n",
		"excl":    "foo\n; c\nbar/\n",
		"incl":    "foo\n",
		"loop":    ". loop\n",
		"abs":     "- a/b\n- r/q\n",
		"clears":  "- q\n!\n- r\n",
		"badrule": "x y\n",
	}}
	check := func(l *List, path string, want Result) {
		t.Helper()
		if got := l.Check(path, Sender, 0); got != want {
			t.Errorf("Check(%q) = %d, want %d (rules %v)", path, got, want, l.Rules())
		}
	}
	l := mustList(t, Config{}, m.read, ". rules")
	check(l, "a.bak", Excluded)
	check(l, "x", Included)
	check(l, "y", Excluded)
	if want := []string{"rules", "more"}; !reflect.DeepEqual(m.reads, want) {
		t.Errorf("read %v, want %v", m.reads, want)
	}
	l = mustList(t, Config{}, m.read, "merge,- excl", "merge,+ incl")
	check(l, "foo", Excluded)
	check(l, "bar", NoMatch)
	if !l.Match("bar", true, Sender) {
		t.Error("bar/ from a '-' merge file does not exclude the directory")
	}
	l = mustList(t, Config{}, m.read, "- p", "- q", ". clears")
	check(l, "p", NoMatch)
	check(l, "r", Excluded)
	l = mustList(t, Config{Root: "r"}, m.read, "merge,/ abs")
	if got := l.Rules(); len(got) != 2 || got[0].Mods&ModAbsolute == 0 {
		t.Errorf("rules from merge,/ = %v, want absolute", got)
	}
	check(l, "a/b", Excluded) // the last two elements of r/a/b
	check(l, "q", Excluded)   // r/q: the root is in front
	check(l, "b", NoMatch)

	for _, c := range []struct {
		rule string
		read ReadFunc
		want string
	}{
		{". missing", m.read, "file does not exist"},
		{". loop", m.read, "nested deeper"},
		{". rules", nil, "not allowed"},
		{". badrule", m.read, "unknown filter rule"},
	} {
		rs, _ := Parse(c.rule, 32, FromArg)
		err := New(Config{}).Add(rs, c.read)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Add(%q) = %v, want %q", c.rule, err, c.want)
		}
	}
	if _, err := Parse(". missing", 32, FromArg); err != nil {
		t.Fatal(err)
	}
}

func TestPerDirMerge(t *testing.T) {
	m := &memFS{files: map[string]string{
		"t/.r":     "- /top\n- any\n: .s\n",
		"t/d/.r":   "- /inner\n+ any\n: .q\n",
		"t/d/e/.r": "!\n- x\n",
		"t/d/.s":   "- s1\n",
		"t/d/.q":   "- q1\n",
		"t/d2/.q":  "- q1\n",
	}}
	l := mustList(t, Config{Root: "t"}, nil, ": .r")
	step := func(enter string, probes map[string]Result) {
		t.Helper()
		if enter == ".." {
			l.LeaveDir()
		} else if err := l.EnterDir(enter, m.read); err != nil {
			t.Fatal(err)
		}
		for p, want := range probes {
			if got := l.Check(p, Receiver, 0); got != want {
				t.Errorf("after %q: Check(%q) = %d, want %d", enter, p, got, want)
			}
		}
	}
	step("", map[string]Result{"top": Excluded, "d/top": NoMatch, "any": Excluded, "x/any": Excluded})
	step("d", map[string]Result{"d/inner": Excluded, "inner": NoMatch, "d/any": Included, "d/s1": Excluded, "d/q1": Excluded})
	// "!" drops the inherited rules, and with them the .s and .q lists.
	step("d/e", map[string]Result{"d/e/any": NoMatch, "d/e/x": Excluded, "d/e/s1": NoMatch})
	step("..", map[string]Result{"d/e/any": Included, "d/e/x": NoMatch})
	step("..", map[string]Result{"d/any": Excluded, "d/q1": NoMatch})
	step("d2", map[string]Result{"d2/q1": NoMatch}) // .q left with d
	step("..", nil)
	step("..", map[string]Result{"any": NoMatch, "top": NoMatch})
	if l.Depth() != 0 {
		t.Fatalf("depth %d", l.Depth())
	}
	if !l.HasDirMerge() {
		t.Error("HasDirMerge is false")
	}
	l.LeaveDir() // an extra LeaveDir is harmless

	// A second dir-merge of the same file name is dropped.
	if l := mustList(t, Config{}, nil, ": .r", ": sub/.r"); l.Len() != 1 {
		t.Errorf("duplicate dir-merge kept: %v", l.Rules())
	}
}

func TestPerDirNoInherit(t *testing.T) {
	m := &memFS{files: map[string]string{"a": "- x\n", "d/a": "- y\n"}}
	for _, c := range []struct {
		rule string
		x    Result
	}{{": a", Excluded}, {":n a", NoMatch}} {
		l := mustList(t, Config{}, nil, c.rule)
		if err := l.EnterDir("", m.read); err != nil {
			t.Fatal(err)
		}
		if err := l.EnterDir("d", m.read); err != nil {
			t.Fatal(err)
		}
		if got := l.Check("d/x", Sender, 0); got != c.x {
			t.Errorf("%s: d/x = %d, want %d", c.rule, got, c.x)
		}
		if got := l.Check("d/y", Sender, 0); got != Excluded {
			t.Errorf("%s: d/y = %d", c.rule, got)
		}
	}
}

// TestParentScan covers a dir-merge name with a '/': the file is also read
// in the directories above the transfer root, from the named one down, and
// names can never leave the module.
func TestParentScan(t *testing.T) {
	m := &memFS{files: map[string]string{
		".f":     "- p0\n",
		"a/.f":   "- /b/p1\n",
		"a/b/.f": "- p2\n",
	}}
	l := mustList(t, Config{Root: "a/b"}, nil, ": /.f")
	if err := l.EnterDir("", m.read); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"p0", "p1", "p2", "x/p0"} {
		if !l.Match(p, false, Receiver) {
			t.Errorf("%s not excluded", p)
		}
	}
	if l.Match("x/p1", false, Receiver) {
		t.Error("x/p1 excluded: /b/p1 in a/.f is anchored at a")
	}
	if want := []string{".f", "a/.f", "a/b/.f"}; !reflect.DeepEqual(m.reads, want) {
		t.Errorf("read %v, want %v", m.reads, want)
	}

	for _, c := range []struct {
		root, rule string
		reads      []string
	}{
		{"a", ": ../../../.f", []string{".f", "a/.f"}},
		{"r", ": x/.f", []string{"r/.f"}},
		{"r", ": .f", []string{"r/.f"}},
		{"r/s", ": /r/.f", []string{"r/.f", "r/s/.f"}},
	} {
		m.reads = nil
		l := mustList(t, Config{Root: c.root}, nil, c.rule)
		if err := l.EnterDir(".", m.read); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m.reads, c.reads) {
			t.Errorf("root %q rule %q read %v, want %v", c.root, c.rule, m.reads, c.reads)
		}
	}
}

func TestPerDirMergeNames(t *testing.T) {
	m := &memFS{files: map[string]string{
		"t/d/.r": ". inc/more\n. bare\n. /abs\n. ../../../../up\n",
	}}
	l := mustList(t, Config{Root: "t"}, nil, ": .r")
	if err := l.EnterDir("d", m.read); err == nil {
		t.Fatal("missing merge file in a per-dir file was not an error")
	}
	m.files["t/d/inc/more"] = ""
	m.files["t/bare"] = ""
	m.files["abs"] = ""
	m.files["up"] = "- u\n"
	m.reads = nil
	l = mustList(t, Config{Root: "t"}, nil, ": .r")
	if err := l.EnterDir("d", m.read); err != nil {
		t.Fatal(err)
	}
	if want := []string{"t/d/.r", "t/d/inc/more", "t/bare", "abs", "up"}; !reflect.DeepEqual(m.reads, want) {
		t.Errorf("read %v, want %v", m.reads, want)
	}
	if !l.Match("d/u", false, Sender) {
		t.Error("rule from nested merge missing")
	}
}

func TestPerDirErrors(t *testing.T) {
	boom := errors.New("boom")
	l := mustList(t, Config{}, nil, ": .r")
	err := l.EnterDir("", func(string) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
	l = mustList(t, Config{}, nil, ": .r")
	err = l.EnterDir("", func(string) ([]byte, error) { return []byte("bogus\n"), nil })
	if !errors.Is(err, ErrSyntax) {
		t.Errorf("syntax error: %v", err)
	}
	l = mustList(t, Config{}, nil, ":s .r")
	err = l.EnterDir("", func(string) ([]byte, error) { return []byte("H x\n"), nil })
	if err == nil || !strings.Contains(err.Error(), "specified-side") {
		t.Errorf("side conflict: %v", err)
	}
	if err := l.Add(nil, nil); err == nil {
		t.Error("Add after EnterDir accepted")
	}
	// Names that can only be directories are not read at all.
	for _, rule := range []string{": /", ": .", ": .."} {
		l = mustList(t, Config{Root: "r"}, nil, rule)
		err = l.EnterDir("", func(name string) ([]byte, error) { return nil, fmt.Errorf("read %q", name) })
		if err != nil {
			t.Errorf("%s: %v", rule, err)
		}
	}
	// ": a/.." names the root itself in the parent scan: a directory.
	l = mustList(t, Config{Root: "r"}, nil, ": a/..")
	err = l.EnterDir("", func(name string) ([]byte, error) {
		if name == "r" {
			return nil, &fs.PathError{Op: "read", Path: name, Err: syscall.EISDIR}
		}
		return nil, fs.ErrNotExist
	})
	if err != nil {
		t.Errorf(": a/..: %v", err)
	}
}

func TestPerDirDeleteExcluded(t *testing.T) {
	m := &memFS{files: map[string]string{".r": "- x\nP y\n"}}
	l := mustList(t, Config{DeleteExcluded: true}, nil, ": .r")
	if err := l.EnterDir("", m.read); err != nil {
		t.Fatal(err)
	}
	if l.Match("x", false, Receiver) || !l.Match("x", false, Sender) || !l.Match("y", false, Receiver) {
		t.Error("--delete-excluded did not make per-dir rules sender-only")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	l := mustList(t, Config{Root: "mod/root"}, nil,
		"- *.o", "- /top/**/x", "-/ /mod/root/abs", "- logs/***", "+ a/*/b", "- **/c", "- lit", "- [a-z]?q*")
	paths := []string{"src/main.o", "top/a/b/x", "abs", "logs", "q/a/z/b", "x/y/c", "d/lit", "d/lit2", "abqq"}
	n := testing.AllocsPerRun(100, func() {
		for _, p := range paths {
			l.Match(p, true, Receiver)
		}
	})
	if n != 0 {
		t.Errorf("Match allocates %v times per run", n)
	}
}

func BenchmarkMatch(b *testing.B) {
	l := mustList(b, Config{}, nil, "- *.o", "- *.tmp", "- /cache/", "- .git/", "+ src/**/*.go", "- lit")
	paths := []string{"src/pkg/a.go", "src/pkg/a.o", "cache", "docs/readme.md", "x/y/z/lit"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Match(paths[i%len(paths)], i%3 == 0, Receiver)
	}
}
