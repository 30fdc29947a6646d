package main

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of testdata/generator/expected")

// generatorConfig copies testdata/generator/config into a fresh dir,
// {{D}} standing for that dir, creates the module directories the configs
// name (not "not-mounted-yet") and returns the dir.
func generatorConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", "generator", "config")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		body := strings.ReplaceAll(string(data), "{{D}}", dir)
		if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"m1", "m2", "with space", "50%Zoff", "log", "lock"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runGenerator runs "rsyncd-go systemd-generator" as systemd would (three
// output dirs) and returns its stderr.
func runGenerator(t *testing.T, configDir, out string) string {
	t.Helper()
	cmd := newRootCmd()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"systemd-generator", "--config-dir", configDir, out, out + ".early", out + ".late"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("generator failed (it must never fail the boot): %v\nstderr:\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("generator wrote to stdout: %q", stdout.String())
	}
	return stderr.String()
}

// readTree is every regular file under root, by slash path.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGeneratorGolden compares every file the generator writes for the
// sample config dir with testdata/generator/expected ({{D}} for the config
// dir): no file missing, none extra, each byte for byte. go test -update
// rewrites the expected files.
func TestGeneratorGolden(t *testing.T) {
	dir := generatorConfig(t)
	out := filepath.Join(t.TempDir(), "normal")
	msgs := runGenerator(t, dir, out)
	got := readTree(t, out)

	golden := filepath.Join("testdata", "generator", "expected")
	if *updateGolden {
		if err := os.RemoveAll(golden); err != nil {
			t.Fatal(err)
		}
		for name, body := range got {
			p := filepath.Join(golden, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, dir, "{{D}}")), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := readTree(t, golden)
	for name, body := range want {
		body = strings.ReplaceAll(body, "{{D}}", dir)
		if got[name] != body {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got[name], body)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected file %s:\n%s", name, got[name])
		}
	}
	if len(want) != 6 {
		t.Errorf("%d golden files, want 6 (alpha, beta, gamma: socket and service)", len(want))
	}

	// Each skipped or degraded instance says why on stderr.
	for _, w := range []string{
		`skipping instance "bad": ` + filepath.Join(dir, "bad.yaml") + `:2: listen: "nohost"`,
		`skipping instance "bad": ` + filepath.Join(dir, "bad.yaml") + `:6: unknown key "bogus"`,
		`skipping instance "odd name": a unit instance name may only hold`,
		`instance "gamma": ` + filepath.Join(dir, "gamma.yaml") + `:5: module "g": path: "` + filepath.Join(dir, "not-mounted-yet") + `": no such file or directory (generating anyway`,
	} {
		if !strings.Contains(msgs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, msgs)
		}
	}
	// Nothing goes to the early and late dirs.
	for _, d := range []string{out + ".early", out + ".late"} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s was created", d)
		}
	}
}

// TestGeneratorNeverFails: a missing or empty config dir is a message and
// exit 0 with nothing written; too few or too many dirs is a usage error.
func TestGeneratorNeverFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		msg  string
	}{
		{"missing config dir", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "no instances generated"},
		{"empty config dir", func(t *testing.T) string { return t.TempDir() }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "normal")
			msgs := runGenerator(t, tc.dir(t), out)
			if !strings.Contains(msgs, tc.msg) || (tc.msg == "") != (msgs == "") {
				t.Errorf("stderr %q, want it to hold %q", msgs, tc.msg)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was created", out)
			}
		})
	}
	for _, args := range [][]string{{"systemd-generator"}, {"systemd-generator", "a", "b", "c", "d"}} {
		if _, err := execute(t, args...); err == nil {
			t.Errorf("%q succeeded", args)
		}
	}
}

func TestQuoteUnitPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"/backup", "/backup", true},
		{"/srv/with space", `"/srv/with space"`, true},
		{"/srv/it's", `"/srv/it's"`, true},
		{"/srv/50%", "/srv/50%%", true},
		{"/srv/50% off", `"/srv/50%% off"`, true},
		{`/srv/a"b`, "", false},
		{`/srv/a\b`, "", false},
		{"/srv/a\nb", "", false},
		{"/srv/a\tb", "", false},
	} {
		got, ok := quoteUnitPath(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("quoteUnitPath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestValidUnitInstance(t *testing.T) {
	for name, want := range map[string]bool{
		"backup": true, "web-2": true, "a.b_c:d": true,
		"": false, "odd name": false, "é": false, `a\x20b`: false, "a@b": false,
		strings.Repeat("x", 201): false,
	} {
		if got := validUnitInstance(name); got != want {
			t.Errorf("validUnitInstance(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestUnitsVerify runs systemd-analyze verify on the packaged units with the
// generator's drop-ins, as systemd would load them: the template units and
// the drop-ins in one unit dir put first on SYSTEMD_UNIT_PATH (the trailing
// ":" keeps the system dirs, for sockets.target and the like). verify
// checks that ExecStart= and ExecReload= are executable, so ExecStart= is
// pointed at this test binary instead of /usr/bin/rsyncd-go, which a build
// machine does not have; nothing is started. Any complaint on stderr (an
// unknown key, bad quoting, an unresolved % specifier) fails the test,
// since verify exits 0 on mere warnings.
func TestUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: install Debian's systemd package (make deps, or apt-get install systemd)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	units := t.TempDir()
	for _, name := range []string{"rsyncd-go@.service", "rsyncd-go@.socket"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "packaging", "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		body := string(data)
		if name == "rsyncd-go@.service" {
			if !strings.Contains(body, "ExecStart=/usr/bin/rsyncd-go --instance %i\n") {
				t.Fatalf("%s: ExecStart is not /usr/bin/rsyncd-go --instance %%i", name)
			}
			body = strings.Replace(body, "ExecStart=/usr/bin/rsyncd-go ", "ExecStart="+self+" ", 1)
		}
		if err := os.WriteFile(filepath.Join(units, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msgs := runGenerator(t, generatorConfig(t), units)

	verify := func(unitNames ...string) (string, error) {
		cmd := exec.Command(analyze, append([]string{"verify", "--man=no"}, unitNames...)...)
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+units+":", "SYSTEMD_LOG_LEVEL=notice")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	var names []string
	for _, inst := range []string{"alpha", "beta", "gamma"} {
		names = append(names, "rsyncd-go@"+inst+".service", "rsyncd-go@"+inst+".socket")
	}
	out, err := verify(names...)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s\n(generator said: %s)", err, out, msgs)
	}

	// Control: without its listen.conf the socket unit has no Listen
	// setting, which verify must refuse; so the drop-ins above were read.
	if err := os.RemoveAll(filepath.Join(units, "rsyncd-go@alpha.socket.d")); err != nil {
		t.Fatal(err)
	}
	out, err = verify("rsyncd-go@alpha.socket")
	if err == nil || !strings.Contains(out, "no Listen setting") {
		t.Errorf("verify of a socket without drop-in: %v\n%s\nwant a refusal for no Listen setting", err, out)
	}
}

// TestExamplesCheck: the packaged example configs have no problem but the
// files of a real server they name (module paths, secrets files), which a
// build machine lacks.
func TestExamplesCheck(t *testing.T) {
	var out bytes.Buffer
	err := runCheck(&out, filepath.Join("..", "..", "packaging", "examples"), nil)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if err == nil {
		if len(lines) != 1 || lines[0] != "ok: 2 instances" {
			t.Errorf("check output %q, want ok: 2 instances", out.String())
		}
		return
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, ": no such file or directory") {
			t.Errorf("examples: %s", l)
		}
	}
}
