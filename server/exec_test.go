package server

import (
	"strings"
	"testing"
)

func TestRequest(t *testing.T) {
	long := strings.Repeat("a", 1000)
	tests := []struct {
		paths []string
		want  string
	}{
		{nil, ""},
		{[]string{"backup/sub/"}, "backup/sub/"},
		{[]string{"backup/a", "backup/s*"}, "backup/a backup/s*"},
		// Grown while shorter than 1024 bytes, as rsyncd's read_args.
		{[]string{long, "b/" + long, "c"}, long + " b/" + long},
	}
	for _, tt := range tests {
		if got := request(tt.paths); got != tt.want {
			t.Errorf("request(%d paths) = %.40q..., want %.40q...", len(tt.paths), got, tt.want)
		}
	}
}

func TestPathArgs(t *testing.T) {
	got := pathArgs([]string{"--server", "-logDtpre.iLsfxCIvu", ".", "backup/a", "backup/b"})
	if strings.Join(got, " ") != "backup/a backup/b" {
		t.Errorf("pathArgs = %q", got)
	}
	if got := pathArgs([]string{"--server"}); got != nil {
		t.Errorf("pathArgs without a dot = %q, want nil", got)
	}
}

func TestCapped(t *testing.T) {
	c := &capped{max: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if c.String() != "abcde" {
		t.Errorf("kept %q, want %q", c.String(), "abcde")
	}
}
