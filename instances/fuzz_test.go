package instances

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-multierror"
)

func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"listen: 127.0.0.1:8730\nmodules:\n  - name: backup\n    path: /tmp\n    read_only: false\n",
		"timeout: 300\nhosts_allow: [10.0.0.0/8]\nmodules:\n  - &a {name: a, path: /tmp}\n  - <<: *a\n    name: b\n",
		"a: &a [*a]\nmodules: *a\n",
		"modules:\n  - name: x\n    path: /tmp\n    <<: [{timeout: 1}, {timeout: 2}]\n",
		"modules: {a: b}\n---\nx: 1\n",
		"max_connections: 0x7fffffff\ntimeout: -9223372036s\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		inst, err := Load(p)
		if err == nil {
			if inst == nil || len(inst.Modules) == 0 {
				t.Fatalf("Load succeeded without an instance or modules: %+v", inst)
			}
			for i := range inst.Modules {
				if verr := inst.Modules[i].Validate(); verr != nil {
					t.Fatalf("loaded module does not validate: %v", verr)
				}
			}
			return
		}
		var me *multierror.Error
		if !errors.As(err, &me) || len(me.Errors) == 0 {
			t.Fatalf("error is not a non-empty multierror: %v", err)
		}
		for _, e := range me.Errors {
			var ce *Error
			if !errors.As(e, &ce) || ce.File != p {
				t.Fatalf("error %v does not name the file", e)
			}
		}
	})
}
