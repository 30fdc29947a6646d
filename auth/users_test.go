package auth

import (
	"os/user"
	"slices"
	"strings"
	"testing"
)

func TestSplitUsers(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"rsync_backup", []string{"rsync_backup"}},
		{"joe:deny @guest:deny admin:rw @rsync:ro susan joe sam",
			[]string{"joe:deny", "@guest:deny", "admin:rw", "@rsync:ro", "susan", "joe", "sam"}},
		{" a,b\tc\r\nd,, e ", []string{"a", "b", "c", "d", "e"}},
		{", joe:deny, @Some Group:deny, admin:rw, @RO Group:ro",
			[]string{"joe:deny", "@Some Group:deny", "admin:rw", "@RO Group:ro"}},
		{"  ,a b,,  ,c\t", []string{"a b", "c"}},
		{",", nil},
	}
	for _, tc := range tests {
		if got := SplitUsers(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("SplitUsers(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseUsers(t *testing.T) {
	tests := []struct {
		in      []string
		want    []Rule
		wantErr string // substring; "" for none
	}{
		{[]string{"rsync_backup"}, []Rule{{Pattern: "rsync_backup"}}, ""},
		{[]string{"@staff", "joe*:deny", "admin:rw", "@ro grp:RO", " sam "},
			[]Rule{{Pattern: "staff", Group: true}, {Pattern: "joe*", Access: Deny},
				{Pattern: "admin", Access: ReadWrite}, {Pattern: "ro grp", Group: true, Access: ReadOnly},
				{Pattern: "sam"}}, ""},
		{[]string{"", "  "}, []Rule{}, ""},
		// rsyncd reads only the first letters; these still behave as it does.
		{[]string{"a:readonly"}, []Rule{{Pattern: "a"}}, `option "readonly"`},
		{[]string{"a:rox"}, []Rule{{Pattern: "a", Access: ReadOnly}}, `option "rox"`},
		{[]string{"a:d"}, []Rule{{Pattern: "a", Access: Deny}}, `option "d"`},
		{[]string{"a:"}, []Rule{{Pattern: "a"}}, `option ""`},
		{[]string{"a:b:ro"}, []Rule{{Pattern: "a"}}, `option "b:ro"`},
		{[]string{"a:DENY"}, []Rule{{Pattern: "a", Access: Deny}}, ""},
		{[]string{"@:ro"}, []Rule{{Pattern: "", Group: true, Access: ReadOnly}}, "empty name"},
	}
	for _, tc := range tests {
		got, err := ParseUsers(tc.in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("ParseUsers(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseUsers(%q) error %v", tc.in, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseUsers(%q) error %v, want one containing %q", tc.in, err, tc.wantErr)
		}
	}
	_, err := ParseUsers([]string{"a:x", "b:y"})
	if err == nil || !strings.Contains(err.Error(), `"a:x"`) || !strings.Contains(err.Error(), `"b:y"`) {
		t.Errorf("ParseUsers reports only some bad entries: %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	// The example of rsyncd.conf(5).
	rules, err := ParseUsers(SplitUsers("joe:deny @guest:deny admin:rw @rsync:ro susan joe sam"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user      string
		groups    []string
		want      Access
		wantGroup string
		wantOK    bool
	}{
		{"joe", []string{"rsync"}, Deny, "", true},
		{"admin", []string{"users", "guest"}, Deny, "guest", true},
		{"admin", []string{"rsync"}, ReadWrite, "", true},
		{"bob", []string{"users", "rsync"}, ReadOnly, "rsync", true},
		{"susan", []string{"rsync"}, ReadOnly, "rsync", true},
		{"susan", nil, Default, "", true},
		{"sam", []string{"users"}, Default, "", true},
		{"eve", []string{"users"}, Default, "", false},
		{"Susan", nil, Default, "", false}, // case-sensitive
	}
	for _, tc := range tests {
		got, group, ok := Authorize(rules, tc.user, tc.groups)
		if got != tc.want || group != tc.wantGroup || ok != tc.wantOK {
			t.Errorf("Authorize(%q, %q) = %v, %q, %v; want %v, %q, %v",
				tc.user, tc.groups, got, group, ok, tc.want, tc.wantGroup, tc.wantOK)
		}
	}

	wild, _ := ParseUsers([]string{"joe*:ro", "@adm?n", "backup_[0-9]:rw"})
	wildTests := []struct {
		user   string
		groups []string
		want   Access
		wantOK bool
	}{
		{"joe", nil, ReadOnly, true},
		{"joe2", nil, ReadOnly, true},
		{"jo", nil, Default, false},
		{"joe/x", nil, Default, false}, // '*' does not cross '/'
		{"x", []string{"wheel", "admin"}, Default, true},
		{"backup_7", nil, ReadWrite, true},
		{"backup_x", nil, Default, false},
	}
	for _, tc := range wildTests {
		got, _, ok := Authorize(wild, tc.user, tc.groups)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("Authorize(wild, %q, %q) = %v, %v; want %v, %v", tc.user, tc.groups, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestAuthorizeLooksUpGroupsLazily(t *testing.T) {
	rules, _ := ParseUsers([]string{"joe", "@staff"})
	calls := 0
	lookup := func() []string { calls++; return []string{"staff"} }
	if _, _, ok := authorize(rules, "joe", lookup); !ok || calls != 0 {
		t.Errorf("user rule matched: ok %v, %d group lookups, want 0", ok, calls)
	}
	if _, g, ok := authorize(rules, "ann", lookup); !ok || g != "staff" || calls != 1 {
		t.Errorf("group rule: %q %v, %d lookups, want staff true 1", g, ok, calls)
	}
}

func TestSystemGroups(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	got := SystemGroups(u.Username)
	if len(got) == 0 || got[0] != g.Name {
		t.Errorf("SystemGroups(%q) = %q, want primary group %q first", u.Username, got, g.Name)
	}
	if got := SystemGroups("no-such-user-rsyncd-go"); got != nil {
		t.Errorf("SystemGroups(unknown) = %q, want none", got)
	}
	if got := SystemGroups(""); got != nil {
		t.Errorf("SystemGroups(\"\") = %q, want none", got)
	}
}

func TestWildmatch(t *testing.T) {
	tests := []struct {
		pattern, text string
		want          bool
	}{
		{"", "", true},
		{"", "a", false},
		{"abc", "abc", true},
		{"abc", "abcd", false},
		{"a?c", "abc", true},
		{"a?c", "a/c", false},
		{"*", "", true},
		{"*", "a/b", false},
		{"**", "a/b", true},
		{"a*", "a", true},
		{"*b", "ab", true},
		{"*b*c", "xbyc", true},
		{"*b*c", "xbyd", false},
		{"a*/b", "ax/b", true},
		{"a*b", "a/b", false},
		{"a**b", "a/x/b", true},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{`a\`, "a", false},
		{"[abc]", "b", true},
		{"[!abc]", "b", false},
		{"[^abc]", "d", true},
		{"[a-c]x", "bx", true},
		{"[a-]", "-", true},
		{"[]]", "]", true},
		{"[!]]", "a", true},
		{`[\]]`, "]", true},
		{"[[:digit:]]", "5", true},
		{"[[:digit:][:upper:]]", "Q", true},
		{"[[:lower:]]", "Q", false},
		{"[[:bogus:]]", "a", false},
		{"[[:digit:]", "5", false},
		{"[[x]", "[", true},
		{"[a", "a", false},
		{"[!a]", "/", false},
		{"*[0-9]", "user7", true},
		{strings.Repeat("*a", 20) + "b", strings.Repeat("a", 60), false},
	}
	for _, tc := range tests {
		if got := wildmatch(tc.pattern, tc.text); got != tc.want {
			t.Errorf("wildmatch(%q, %q) = %v, want %v", tc.pattern, tc.text, got, tc.want)
		}
	}
}
