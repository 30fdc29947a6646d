package rsyncdconf

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes as a config file: Parse must not panic,
// and every module it returns must have an Effective view.
func FuzzParse(f *testing.F) {
	f.Add([]byte(seedConf))
	f.Add([]byte("[a]\ncomment = x \\\n y\n[A]\nlist=no\n&merge /nonexistent\n"))
	f.Add([]byte("&include /dev/null\n[ b ]\r\npath = /%HOME%/\n\\\n[c\\\n]\n"))
	f.Add([]byte("=\n[\n&\n[]\nx\n\x00"))
	env := func(k string) (string, bool) { return "v" + k, k != "UNSET" }
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.conf")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, _ := Parse(path, env)
		if c == nil {
			t.Fatal("nil config")
		}
		for _, m := range c.Modules {
			if c.Effective(m.Name) == nil && c.Module(m.Name) != nil {
				t.Fatalf("module %q has no effective view", m.Name)
			}
		}
	})
}
