package options

import (
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the want fields of testdata/vectors.json")

// vector is one argument list captured from stock rsync 3.5.0 talking to
// a fake daemon (see testdata/capture), with the parse result expected
// for it: the Options fields that differ from defaults().
type vector struct {
	Name   string         `json:"name"`
	Client []string       `json:"client"`
	Pull   bool           `json:"pull,omitempty"`
	Proto  int            `json:"proto"`
	Args   []string       `json:"args"`
	Args2  []string       `json:"args2,omitempty"`
	Want   map[string]any `json:"want"`
}

// defaults is what a daemon sees from a bare push.
func defaults(t *testing.T) *Options {
	t.Helper()
	o, err := Parse([]string{"--server", ".", "backup/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// fields flattens Options through JSON, so the table can name fields.
func fields(t *testing.T, o *Options) map[string]any {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func changed(t *testing.T, o *Options) map[string]any {
	base := fields(t, defaults(t))
	out := map[string]any{}
	for k, v := range fields(t, o) {
		if !reflect.DeepEqual(v, base[k]) {
			out[k] = v
		}
	}
	return out
}

func TestDefaults(t *testing.T) {
	got := *defaults(t)
	got.st = nil
	want := Options{
		Server: true, Args: []string{".", "backup/"},
		HumanReadable: 1, Msgs2Stderr: 2, IncRecursive: true,
		MaxSize: -1, MinSize: -1, WholeFile: -1, MaxDelete: -1,
		Suffix: "~", Super: SuperDefault,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestCapturedVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 100 {
		t.Fatalf("only %d vectors", len(vs))
	}
	// The policy of the pipeline's module: rsyncd defaults, a charset so
	// that --iconv is accepted.
	for i := range vs {
		v := &vs[i]
		o, err := Parse(v.Args, &Config{Protocol: v.Proto, Charset: true})
		if err == nil && o.NeedSecluded() {
			if len(v.Args2) == 0 {
				t.Errorf("%s: -s without a secluded list", v.Name)
				continue
			}
			o, err = o.ParseSecluded(v.Args2)
		}
		got := map[string]any{}
		if err != nil {
			got["error"] = err.Error()
		} else {
			got = changed(t, o)
		}
		// normalize through JSON like the file's own values
		gb, _ := json.Marshal(got)
		var norm map[string]any
		_ = json.Unmarshal(gb, &norm)
		if *update {
			v.Want = norm
			continue
		}
		if !reflect.DeepEqual(norm, v.Want) {
			t.Errorf("%s %q:\n got %s\nwant %s", v.Name, v.Args, gb, mustJSON(v.Want))
		}
	}
	if *update {
		out, err := json.MarshalIndent(vs, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/vectors.json", append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
