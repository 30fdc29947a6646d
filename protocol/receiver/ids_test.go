package receiver

import (
	"errors"
	"testing"
)

func TestIDMap(t *testing.T) {
	system := map[string]string{"alice": "1001", "bob": "1002", "odd": "not-a-number", "big": "4294967296"}
	asked := map[string]int{}
	m := &idMap{lookup: func(name string) (string, error) {
		asked[name]++
		if s, ok := system[name]; ok {
			return s, nil
		}
		return "", errors.New("unknown user")
	}}
	for _, tc := range []struct {
		name string
		id   uint32
		ok   bool
	}{
		{"alice", 1001, true},
		{"alice", 1001, true},
		{"bob", 1002, true},
		{"alice", 1001, true},
		{"mallory", 0, false},
		{"mallory", 0, false},
		{"odd", 0, false},
		{"big", 0, false},
		{"bob", 1002, true},
	} {
		id, ok := m.id(tc.name)
		if ok != tc.ok || (ok && id != tc.id) {
			t.Errorf("id(%q) = %d, %v; want %d, %v", tc.name, id, ok, tc.id, tc.ok)
		}
	}
	for name, n := range asked {
		if n != 1 {
			t.Errorf("%q looked up %d times, want once per transfer", name, n)
		}
	}

	// A later transfer asks the system again: a user added since is seen,
	// as by stock rsyncd's process per connection.
	system["mallory"] = "1003"
	if id, ok := (&idMap{lookup: m.lookup}).id("mallory"); !ok || id != 1003 {
		t.Errorf("next transfer: id(mallory) = %d, %v; want 1003, true", id, ok)
	}
}
