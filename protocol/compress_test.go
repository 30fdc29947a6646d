package protocol

import "testing"

func TestDontCompressAll(t *testing.T) {
	for _, c := range []struct {
		list []string
		want bool
	}{
		{nil, false},
		{[]string{"*.gz", "*.zip"}, false},
		{[]string{"*"}, true},
		{[]string{"*.gz", "*"}, true},
		{[]string{"*.gz *.zip", " * "}, true}, // rsyncd.conf's space-separated words
		{[]string{"*.gz *"}, true},
		{[]string{"**", "*.*", "x*"}, false},
	} {
		if got := dontCompressAll(c.list); got != c.want {
			t.Errorf("dontCompressAll(%q) = %v, want %v", c.list, got, c.want)
		}
	}
}
