package options

import (
	"testing"
	"time"
)

func TestWildmatch(t *testing.T) {
	tests := []struct {
		pat, text string
		want      bool
	}{
		{"delete", "delete", true},
		{"delete", "delete-after", false},
		{"delete*", "delete-after", true},
		{"delete-*", "delete", false},
		{"*", "x", true},
		{"**", "", true},
		{"d?l", "del", true},
		{"d?l", "dl", false},
		{"*-*-*", "no-omit-dir-times", true},
		{"*a*b*c*", "xaxbxcx", true},
		{"*a*b*c*", "xaxcxbx", false},
		{"[ardlptgoD]", "D", true},
		{"[ardlptgoD]", "x", false},
		{"[!a-c]", "d", true},
		{"[^a-c]", "b", false},
		{"[]]", "]", true},
		{"[a-]", "-", true},
		{"[[:upper:]]", "R", true},
		{"[[:digit:][:alpha:]]", "8", true},
		{"[[:bogus:]]", "b", false},
		{"[[:alpha:]", "[", false}, // unterminated set
		{"[[x]", "[", true},        // "[" without ":]" is a plain character
		{"[a", "a", false},
		{"\\*", "*", true},
		{"\\*", "x", false},
		{"x\\", "x", false},
		{"[\\]]", "]", true},
		{"no-?", "no-v", true},
	}
	for _, tt := range tests {
		if got := wildmatch(tt.pat, tt.text); got != tt.want {
			t.Errorf("wildmatch(%q, %q) = %v", tt.pat, tt.text, got)
		}
	}
}

func TestCleanFname(t *testing.T) {
	for in, want := range map[string]string{
		"a/b/../../c/./d//": "c/d",
		"/../a":             "/a",
		"../x":              "../x",
		"../../x/..":        "../..",
		"./":                ".",
		"//":                "/",
		"a/..":              ".",
		"x/":                "x",
		".p":                ".p",
		"a/./b/.":           "a/b/.",
		"/a/b/../c":         "/a/c",
	} {
		if got := cleanFname(in); got != want {
			t.Errorf("cleanFname(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidChmod(t *testing.T) {
	for s, want := range map[string]bool{
		"u+x": true, "Dg+s,ug+w": true, "F644": true, "755": true, "07777": true, "a=rwX": true,
		"ug=u": true, "o=x,D+t": true, "+s": true, "u=g,o-x": true,
		"": false, "8": false, "17777": false, "u+": true, "go-w,": false, "u+rg": false,
		"Fu+x,D": false, "DF+x": false, "u+q": false, "u+x+w": false, ",u+x": false, "u7": false,
	} {
		if got := validChmod(s); got != want {
			t.Errorf("validChmod(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestHostspec(t *testing.T) {
	tests := []struct {
		in   string
		path string
		ok   bool
	}{
		{"list", "", false},
		{"dir/list", "", false},
		{":list", "list", true},
		{"host:list", "list", true},
		{"host::mod/list", "mod/list", true},
		{"user@host:list", "list", true},
		{"[::1]:list", "list", true},
		{"[::1]x:list", "", false},
		{"[]:list", "", false},
		{"rsync://host/mod/list", "mod/list", true},
		{"rsync://host:873/mod", "mod", true},
		{"RSYNC://host", "", true},
		{"rsync://host:87x/mod", "//host:87x/mod", true}, // not a URL; "rsync" is then the host
	}
	for _, tt := range tests {
		path, ok := hostspecPath(tt.in)
		if ok != tt.ok || path != tt.path {
			t.Errorf("hostspecPath(%q) = %q, %v; want %q, %v", tt.in, path, ok, tt.path, tt.ok)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		arg  string
		suf  byte
		min  int64
		max  int64
		u0   bool
		want int64
		err  string
	}{
		{"10", 'b', 0, -1, false, 10, ""},
		{"1k", 'b', 0, -1, false, 1024, ""},
		{"1kb", 'b', 0, -1, false, 1000, ""},
		{"1KiB", 'b', 0, -1, false, 1024, ""},
		{"1.5m", 'b', 0, -1, false, 1572864, ""},
		{".5k", 'b', 0, -1, false, 512, ""},
		{"1.", 'b', 0, -1, false, 1, ""},
		{"k", 'b', 0, -1, false, 0, ""},
		{"", 'b', 0, -1, false, 0, ""},
		{"10-1", 'b', 0, -1, false, 9, ""},
		{"1p", 'b', 0, -1, false, 1 << 50, ""},
		{"8p", 'b', 0, -1, false, 8 << 50, ""},
		{"8192p", 'b', 0, -1, false, 0, "--x=8192p is too large"},
		{"100", 'K', 512, -1, true, 102400, ""},
		{"0", 'K', 512, -1, true, 0, ""},
		{"3b", 'K', 512, -1, true, 0, "--x=3b is too small (min: 512 or 0 for unlimited)"},
		{"131073", 'b', 0, 1 << 17, false, 0, "--x=131073 is too large (max: 128.00K)"},
		{"128k", 'b', 0, 1 << 17, false, 1 << 17, ""},
		{"1m", 'b', 0, 1 << 17, false, 0, "--x=1m is too large (max: 128.00K)"},
		{"+5", 'b', 0, -1, false, 0, "--x=+5 is invalid"},
		{"-1", 'b', 0, -1, false, 0, "--x=-1 is too large"},
		{"1e3", 'b', 0, -1, false, 0, "--x=1e3 is invalid"},
		{"1ix", 'b', 0, -1, false, 0, "--x=1ix is invalid"},
		{"1k+2", 'b', 0, -1, false, 0, "--x=1k+2 is invalid"},
		{"99999999999999999999", 'b', 0, -1, false, 0, "--x=99999999999999999999 is too large"},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.arg, tt.suf, "x", tt.min, tt.max, tt.u0)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != tt.err || (err == nil && got != tt.want) {
			t.Errorf("parseSize(%q) = %d, %q; want %d, %q", tt.arg, got, msg, tt.want, tt.err)
		}
	}
	for n, want := range map[int64]string{512: "512", 1023: "1,023", 1024: "1.00K", 1 << 20: "1.00M", 1 << 29: "512.00M", 3 << 40: "3.00T"} {
		if got := bigNum(n); got != want {
			t.Errorf("bigNum(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseInt(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "12": 12, "-7": -7, "+3": 3, " 7": 7, "0x1F": 31, "010": 8, "": 0, "-2147483648": -2147483648, "2147483647": 2147483647} {
		if got, e := parseInt(s); e != poptOK || got != want {
			t.Errorf("parseInt(%q) = %d, %v", s, got, e)
		}
	}
	for s, want := range map[string]poptErr{"x": poptBadNumber, "08": poptBadNumber, "0x": poptBadNumber, "7 ": poptBadNumber, "-": poptBadNumber, " ": poptBadNumber,
		"2147483648": poptOverflow, "-2147483649": poptOverflow, "99999999999999999999999": poptOverflow} {
		if _, e := parseInt(s); e != want {
			t.Errorf("parseInt(%q) error %v, want %v", s, e, want)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := fixedNow() // 2026-06-15 10:00 UTC
	tests := []struct {
		in   string
		want string // "" for invalid
	}{
		{"T12:30", "2026-06-15 12:30"},
		{"T09:00", "2026-06-16 09:00"},
		{":09:30", "2026-06-16 09:30"},
		{"16", "2026-06-16 00:00"},
		{"15", "2026-07-15 00:00"},
		{"06-01", "2027-06-01 00:00"},
		{"2-29", "2028-02-29 00:00"},
		{"99-1-1", "2099-01-01 00:00"},
		{"3000-01-01", "3000-01-01 00:00"},
		{"3000/1/1T1:2", "3000-01-01 01:02"},
		{"2026-06-15T10:00", "2026-06-15 10:00"}, // not in the future: the caller's check
		{"2026-6-15t", "2026-06-15 00:00"},
		{"T12", ""},
		{"25:00", ""},
		{"12:61", ""},
		{"1-1-1-1", ""},
		{"x", ""},
		{"2026-13-01", ""},
	}
	for _, tt := range tests {
		got, ok := parseTime(tt.in, now)
		s := ""
		if ok {
			s = got.In(time.UTC).Format("2006-01-02 15:04")
		}
		if s != tt.want {
			t.Errorf("parseTime(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}

func TestLogFormatHas(t *testing.T) {
	tests := []struct {
		f    string
		esc  byte
		want bool
	}{
		{"%i", 'i', true},
		{"%n%L", 'i', false},
		{"%'-10i", 'i', true},
		{"%%i", 'i', false},
		{"%i%I", 'I', true},
		{"%", 'i', false},
		{"X", 'o', false},
		{"%" + "123456789012345678901234i", 'i', false}, // width scan stops at 24 digits
	}
	for _, tt := range tests {
		if got := LogFormatHas(tt.f, tt.esc); got != tt.want {
			t.Errorf("LogFormatHas(%q, %q) = %v", tt.f, tt.esc, got)
		}
	}
}
