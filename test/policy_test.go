package test

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The module policies on the data path (incoming/outgoing chmod, munge
// symlinks, ignore nonreadable, the client's --safe-links): the same module
// on stock rsyncd and on rsyncd-go, the same stock client command, the same
// resulting tree and exit code.

// policyPair starts a stock rsyncd and an rsyncd-go serving one writable
// module "backup" with the given extra parameters, in rsyncd.conf and YAML
// syntax. The stock module is chrooted, as rsyncd-go's os.Root confines:
// unchrooted, stock would also rewrite incoming symlink targets.
func policyPair(t *testing.T, stockParams, yamlParams string) (stock, ours *daemon) {
	t.Helper()
	stock = stockDaemon(t, "[backup]\npath = {{DATA}}\nuse chroot = yes\nread only = false\nauth users = rsync_backup\nsecrets file = {{SECRETS}}\n"+stockParams)
	mods := defaultModules
	for _, l := range strings.Split(strings.TrimSpace(yamlParams), "\n") {
		if l != "" {
			mods += "    " + l + "\n"
		}
	}
	ours = startDaemon(t, "", mods)
	// Both module dirs differ from any source in time alike; a fresh one
	// could share the source's clock tick or not.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must(t, os.Chtimes(stock.Data, old, old))
	must(t, os.Chtimes(ours.Data, old, old))
	return stock, ours
}

// policyTree is a source tree with varied modes and symlinks: safe ones,
// absolute ones and ones climbing out of the tree.
func policyTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"", 0o755}, {"pub", 0o750}, {"pub/deep", 0o700}, {"priv", 0o711}} {
		must(t, os.MkdirAll(filepath.Join(src, d.name), 0o755))
		defer func() { must(t, os.Chmod(filepath.Join(src, d.name), d.mode)) }()
	}
	for i, m := range []os.FileMode{0o644, 0o600, 0o755, 0o640, 0o444, 0o700, 0o664, 0o4755, 0o2750, 0o751} {
		for _, dir := range []string{".", "pub", "pub/deep", "priv"} {
			p := filepath.Join(src, dir, fmt.Sprintf("f%d", i))
			must(t, os.WriteFile(p, []byte(fmt.Sprintf("file %d in %s\n", i, dir)), 0o600))
			must(t, os.Chmod(p, m))
		}
	}
	for name, target := range map[string]string{
		"ln-safe":          "f0",
		"pub/ln-up":        "../f1",
		"pub/deep/ln-up2":  "../../f2",
		"pub/deep/ln-sub":  "./x/../f3", // ".." past the start: unsafe
		"ln-abs":           "/etc/passwd",
		"ln-out":           "../outside",
		"pub/ln-out":       "../../outside",
		"ln-dangling-safe": "nowhere/file",
		"ln-dot":           ".",
		"ln-dotdot":        "..",
		"ln-munged":        "/rsyncd-munged/f0",
	} {
		must(t, os.Symlink(target, filepath.Join(src, name)))
	}
	return src
}

// twoRuns runs the same client command against both daemons: args with
// "{{URL}}" replaced by each daemon's module URL.
func twoRuns(t *testing.T, stock, ours *daemon, args ...string) (want, got result) {
	t.Helper()
	sub := func(d *daemon) []string {
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = strings.ReplaceAll(a, "{{URL}}", d.URL("backup"))
		}
		return out
	}
	want = rsync(t, stock, sub(stock)...)
	got = rsync(t, ours, sub(ours)...)
	if want.Code != got.Code {
		t.Errorf("rsync %v: exit %d, stock rsyncd %d\nours:\n%s%s\nstock:\n%s%s", args, got.Code, want.Code, got.Stdout, got.Stderr, want.Stdout, want.Stderr)
	}
	return want, got
}

// sameLines compares the client's output lines (sorted), ignoring the
// statistics lines that carry sizes and speeds, the line naming the
// destination each run created, and the line of the module root itself
// (its time depends on when the test wrote into it, not on the policy).
func sameLines(t *testing.T, what string, want, got string) {
	t.Helper()
	skip := regexp.MustCompile(`(?m)^(created directory .*|(\S+ )?\./)\n`)
	want, got = skip.ReplaceAllString(want, ""), skip.ReplaceAllString(got, "")
	w, g := strings.Join(lines(filterStats(want)), "\n"), strings.Join(lines(filterStats(got)), "\n")
	if w != g {
		only := func(a, b string) []string {
			seen := map[string]int{}
			for _, l := range strings.Split(b, "\n") {
				seen[l]++
			}
			var out []string
			for _, l := range strings.Split(a, "\n") {
				if seen[l] > 0 {
					seen[l]--
					continue
				}
				out = append(out, l)
			}
			return out
		}
		t.Errorf("%s: client output differs\nonly ours:\n%s\nonly stock:\n%s", what, strings.Join(only(g, w), "\n"), strings.Join(only(w, g), "\n"))
	}
}

func TestPolicyIncomingChmod(t *testing.T) {
	for _, tc := range []struct {
		name, chmod string
		args        []string
	}{
		{"perms", "Dg+s,ug+w,Fo-w,+X", []string{"-a"}},
		{"octal", "D2775,F664", []string{"-a"}},
		{"copy", "g=u,o=", []string{"-a"}},
		// Without --perms new files get the umasked source modes and
		// existing ones keep theirs, both with the module's chmod on top.
		{"no perms", "go-w,o+r", []string{"-rlt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stock, ours := policyPair(t, "munge symlinks = no\nincoming chmod = "+tc.chmod+"\n", "incoming_chmod: \""+tc.chmod+"\"")
			src := policyTree(t)
			// An existing file whose mode differs from the source's.
			for _, d := range []*daemon{stock, ours} {
				must(t, os.WriteFile(filepath.Join(d.Data, "f0"), []byte("old"), 0o600))
				must(t, os.Chmod(filepath.Join(d.Data, "f0"), 0o606))
				old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
				must(t, os.Chtimes(filepath.Join(d.Data, "f0"), old, old))
				must(t, os.Chtimes(d.Data, old, old))
			}
			args := append(append([]string{}, tc.args...), "-i", src+"/", "{{URL}}/")
			want, got := twoRuns(t, stock, ours, args...)
			if want.Code != 0 {
				t.Fatalf("stock push failed: %d %s", want.Code, want.Stderr)
			}
			sameLines(t, "push", want.Stdout, got.Stdout)
			compareTrees(t, stock.Data, ours.Data, false)
			// A second push changes nothing more on either side.
			want, got = twoRuns(t, stock, ours, args...)
			sameLines(t, "second push", want.Stdout, got.Stdout)
			compareTrees(t, stock.Data, ours.Data, false)
		})
	}
}

func TestPolicyOutgoingChmod(t *testing.T) {
	for _, tc := range []struct {
		name, chmod string
		args        []string
	}{
		{"perms", "Dg+s,ug+w,Fo-w,+X", []string{"-a"}},
		{"octal", "D755,F644", []string{"-a"}},
		{"no perms", "a+rwx", []string{"-rlt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stock, ours := policyPair(t, "munge symlinks = no\noutgoing chmod = "+tc.chmod+"\n", "outgoing_chmod: \""+tc.chmod+"\"")
			src := policyTree(t)
			copyTree(t, src, stock.Data)
			copyTree(t, src, ours.Data)
			dst := t.TempDir()
			sdst, odst := filepath.Join(dst, "stock"), filepath.Join(dst, "ours")
			want := rsync(t, stock, append(append([]string{}, tc.args...), "-i", stock.URL("backup/"), sdst+"/")...)
			got := rsync(t, ours, append(append([]string{}, tc.args...), "-i", ours.URL("backup/"), odst+"/")...)
			if want.Code != 0 || got.Code != 0 {
				t.Fatalf("pull: stock exit %d, ours %d\n%s\n%s", want.Code, got.Code, want.Stderr, got.Stderr)
			}
			sameLines(t, "pull", want.Stdout, got.Stdout)
			compareTrees(t, sdst, odst, false)
		})
	}
}

func TestPolicyMungeSymlinks(t *testing.T) {
	stock, ours := policyPair(t, "munge symlinks = yes\n", "munge_symlinks: true")
	src := policyTree(t)
	want, got := twoRuns(t, stock, ours, "-a", "-i", src+"/", "{{URL}}/")
	if want.Code != 0 {
		t.Fatalf("stock push failed: %d %s", want.Code, want.Stderr)
	}
	sameLines(t, "push", want.Stdout, got.Stdout)
	compareTrees(t, stock.Data, ours.Data, false)
	if target, err := os.Readlink(filepath.Join(ours.Data, "ln-safe")); err != nil || target != "/rsyncd-munged/f0" {
		t.Errorf("ln-safe -> %q (%v), want the munged target", target, err)
	}
	// A link put into the module by other means is sent as it is.
	for _, d := range []*daemon{stock, ours} {
		must(t, os.Symlink("plain-target", filepath.Join(d.Data, "ln-local")))
	}
	// A pull strips the prefix again: the client gets the source's links.
	dst := t.TempDir()
	sdst, odst := filepath.Join(dst, "stock"), filepath.Join(dst, "ours")
	want = rsync(t, stock, "-a", "-i", stock.URL("backup/"), sdst+"/")
	got = rsync(t, ours, "-a", "-i", ours.URL("backup/"), odst+"/")
	if want.Code != 0 || got.Code != 0 {
		t.Fatalf("pull: stock exit %d, ours %d\n%s\n%s", want.Code, got.Code, want.Stderr, got.Stderr)
	}
	sameLines(t, "pull", want.Stdout, got.Stdout)
	compareTrees(t, sdst, odst, false)
	if target, err := os.Readlink(filepath.Join(odst, "ln-safe")); err != nil || target != "f0" {
		t.Errorf("pulled ln-safe -> %q (%v), want f0", target, err)
	}
	// With munging, --safe-links ignores every symlink (all are absolute
	// once munged): a second module dir, pushed fresh.
	must(t, os.RemoveAll(stock.Data))
	must(t, os.RemoveAll(ours.Data))
	must(t, os.Mkdir(stock.Data, 0o755))
	must(t, os.Mkdir(ours.Data, 0o755))
	want, got = twoRuns(t, stock, ours, "-a", "-v", "--safe-links", src+"/", "{{URL}}/")
	sameLines(t, "safe-links push", want.Stdout, got.Stdout)
	compareTrees(t, stock.Data, ours.Data, false)
}

func TestPolicySafeLinks(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"itemize", []string{"-a", "-i", "--safe-links"}},
		{"verbose", []string{"-a", "-v", "--safe-links"}},
		{"delete", []string{"-a", "-i", "--safe-links", "--delete"}},
		{"backup", []string{"-a", "-i", "--safe-links", "--backup", "--suffix=.bak"}},
		{"protocol 29", []string{"-a", "-i", "--safe-links", "--protocol=29"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stock, ours := policyPair(t, "munge symlinks = no\n", "")
			src := policyTree(t)
			for _, d := range []*daemon{stock, ours} {
				// What stands where an unsafe link is ignored stays.
				must(t, os.WriteFile(filepath.Join(d.Data, "ln-abs"), []byte("kept"), 0o644))
				// Links the push replaces: with --backup, the unsafe one
				// is not kept.
				must(t, os.Symlink("../../somewhere", filepath.Join(d.Data, "ln-safe")))
				must(t, os.Symlink("f0", filepath.Join(d.Data, "ln-dangling-safe")))
				// One fixed time in both modules: made a second apart,
				// they would itemize and compare differently.
				old := unix.NsecToTimespec(time.Unix(1600000000, 0).UnixNano())
				for _, n := range []string{"ln-abs", "ln-safe", "ln-dangling-safe"} {
					must(t, unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(d.Data, n), []unix.Timespec{old, old}, unix.AT_SYMLINK_NOFOLLOW))
				}
			}
			args := append(append([]string{}, tc.args...), src+"/", "{{URL}}/")
			want, got := twoRuns(t, stock, ours, args...)
			if want.Code != 0 {
				t.Fatalf("stock push failed: %d %s", want.Code, want.Stderr)
			}
			sameLines(t, "push", want.Stdout, got.Stdout)
			if tc.name == "backup" {
				// Both daemons leave the directories with the time of
				// the push here; only the entries are compared.
				resetDirTimes(t, stock.Data)
				resetDirTimes(t, ours.Data)
				for _, d := range []*daemon{stock, ours} {
					if _, err := os.Lstat(filepath.Join(d.Data, "ln-safe.bak")); err == nil {
						t.Errorf("%s: the unsafe link was backed up", d.Data)
					}
				}
			}
			compareTrees(t, stock.Data, ours.Data, false)
		})
	}
	// A pull with --safe-links: the client's receiver ignores them; the
	// daemon's sender sends the list as without it.
	stock, ours := policyPair(t, "munge symlinks = no\n", "")
	src := policyTree(t)
	copyTree(t, src, stock.Data)
	copyTree(t, src, ours.Data)
	dst := t.TempDir()
	sdst, odst := filepath.Join(dst, "stock"), filepath.Join(dst, "ours")
	want := rsync(t, stock, "-a", "-v", "--safe-links", stock.URL("backup/"), sdst+"/")
	got := rsync(t, ours, "-a", "-v", "--safe-links", ours.URL("backup/"), odst+"/")
	if want.Code != got.Code {
		t.Errorf("pull: exit %d, stock %d", got.Code, want.Code)
	}
	sameLines(t, "pull", want.Stdout, got.Stdout)
	compareTrees(t, sdst, odst, false)
}

// TestPolicyIgnoreNonreadable runs both daemons as nobody (the test runs
// as root, who can read everything): a pull skips what nobody cannot read.
func TestPolicyIgnoreNonreadable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test switches the daemons to user nobody: run it as root (CI does)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv is needed to run rsyncd-go as nobody: apt-get install util-linux")
	}
	// Everything nobody must reach lives under a world-traversable dir.
	base, err := os.MkdirTemp("", "rsyncd-go-nonreadable")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	must(t, os.Chmod(base, 0o755))
	bin := filepath.Join(base, "rsyncd-go")
	copyFile(t, daemonBin, bin, 0o755)

	tree := filepath.Join(base, "tree")
	must(t, os.Mkdir(tree, 0o755))
	var modes []func()
	for _, f := range []struct {
		name string
		mode os.FileMode
		dir  bool
	}{
		{"open", 0o755, true}, {"closed", 0o700, true}, {"noread", 0o711, true}, {"open/sub", 0o755, true},
		{"pub.txt", 0o644, false}, {"secret.txt", 0o600, false}, {"open/pub", 0o444, false},
		{"open/secret", 0o640, false}, {"open/sub/x", 0o604, false}, {"noread/inside", 0o644, false},
		{"closed/inside", 0o644, false},
	} {
		p := filepath.Join(tree, f.name)
		if f.dir {
			must(t, os.Mkdir(p, 0o755))
		} else {
			must(t, os.WriteFile(p, []byte(f.name), 0o644))
		}
		modes = append(modes, func() { must(t, os.Chmod(p, f.mode)) })
	}
	for i := len(modes) - 1; i >= 0; i-- {
		modes[i]() // deepest first: a closed dir stays writable until its entries are done
	}
	must(t, os.Symlink("secret.txt", filepath.Join(tree, "ln-secret")))

	mod := func(name string) string {
		p := filepath.Join(base, name)
		must(t, os.Mkdir(p, 0o755))
		return p
	}
	stockData, oursData := mod("stock"), mod("ours")
	stockRW, oursRW := mod("stock-rw"), mod("ours-rw")
	// Stock rsyncd switches to nobody for the module.
	stock := &daemon{Data: stockData}
	stockDir := mod("stockconf")
	port := freePort(t)
	stockConf := filepath.Join(stockDir, "rsyncd.conf")
	must(t, os.WriteFile(stockConf, []byte(fmt.Sprintf("use chroot = no\npid file = %s/pid\n[backup]\npath = %s\nread only = true\nuid = nobody\ngid = nogroup\nmunge symlinks = no\nignore nonreadable = yes\n[rw]\npath = %s\nread only = false\nuid = nobody\ngid = nogroup\nmunge symlinks = no\nignore nonreadable = yes\n", stockDir, stockData, stockRW)), 0o644))
	stock.cmd = exec.Command(rsyncBin(t), "--daemon", "--no-detach", "--config="+stockConf, "--address=127.0.0.1", fmt.Sprintf("--port=%d", port), "--log-file="+filepath.Join(stockDir, "log"))
	must(t, stock.cmd.Start())
	t.Cleanup(func() { stock.stop(t) })
	stock.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, stock.Addr)

	ours := &daemon{Data: oursData}
	oursConf := filepath.Join(base, "ours.yaml")
	must(t, os.WriteFile(oursConf, []byte(fmt.Sprintf("listen: 127.0.0.1:0\nmodules:\n  - name: backup\n    path: %s\n    read_only: true\n    ignore_nonreadable: true\n  - name: rw\n    path: %s\n    read_only: false\n    ignore_nonreadable: true\n", oursData, oursRW)), 0o644))
	ours.startVia(t, listenRE, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin, "--config", oursConf, "--log-level", "debug")

	copyTree(t, tree, stockData)
	copyTree(t, tree, oursData)
	t.Run("push delete", func(t *testing.T) { pushDeleteNonreadable(t, base, stock, ours, stockRW, oursRW) })
	dst := filepath.Join(base, "dst")
	for _, tc := range []struct {
		name string
		args []string
		url  string
	}{
		{"pull", []string{"-a", "-i"}, "backup/"},
		{"list", []string{"-r"}, "backup/"},
		{"pull sub", []string{"-a", "-i"}, "backup/open/"},
		// A named top-level entry is not checked (rsync's NO_FILTERS).
		{"pull named", []string{"-a", "-i"}, "backup/secret.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdst, odst := filepath.Join(dst, tc.name, "stock"), filepath.Join(dst, tc.name, "ours")
			must(t, os.MkdirAll(filepath.Join(dst, tc.name), 0o755))
			run := func(addr, to string) result {
				args := append(append([]string{}, tc.args...), "rsync://"+addr+"/"+tc.url)
				if tc.name != "list" {
					args = append(args, to)
				}
				return rsync(t, nil, args...)
			}
			want, got := run(stock.Addr, sdst), run(ours.Addr, odst)
			if want.Code != got.Code {
				t.Errorf("exit %d, stock %d\nours: %s\nstock: %s", got.Code, want.Code, got.Stderr, want.Stderr)
			}
			if tc.name == "list" {
				sameLines(t, "list", want.Stdout, got.Stdout)
				return
			}
			sameLines(t, tc.name, want.Stdout, got.Stdout)
			if _, err := os.Lstat(sdst); err != nil {
				if _, err := os.Lstat(odst); err == nil {
					t.Errorf("%s created, stock created nothing", odst)
				}
				return
			}
			compareTrees(t, sdst, odst, false)
		})
	}
}

// TestPolicyIgnoreNonreadable's push: --delete does not see, so keeps,
// what the daemon may not read.
func pushDeleteNonreadable(t *testing.T, base string, stock, ours *daemon, stockRW, oursRW string) {
	src := filepath.Join(base, "push-src")
	must(t, os.Mkdir(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "keep"), []byte("keep"), 0o644))
	for _, dir := range []string{stockRW, oursRW} {
		must(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("s"), 0o600))
		must(t, os.WriteFile(filepath.Join(dir, "public"), []byte("p"), 0o644))
		must(t, os.Mkdir(filepath.Join(dir, "closed"), 0o700))
		must(t, os.WriteFile(filepath.Join(dir, "closed", "in"), []byte("x"), 0o644))
		must(t, os.Mkdir(filepath.Join(dir, "open"), 0o777))
		must(t, os.WriteFile(filepath.Join(dir, "open", "hidden"), []byte("h"), 0o600))
		must(t, os.Chown(dir, 65534, 65534))
	}
	want := rsync(t, nil, "-ai", "--delete", src+"/", "rsync://"+stock.Addr+"/rw/")
	got := rsync(t, nil, "-ai", "--delete", src+"/", "rsync://"+ours.Addr+"/rw/")
	if want.Code != got.Code {
		t.Errorf("exit %d, stock %d\nours: %s\nstock: %s", got.Code, want.Code, got.Stderr, want.Stderr)
	}
	sameLines(t, "push --delete", want.Stdout, got.Stdout)
	compareTreesOpt(t, stockRW, oursRW, false, false)
	if _, err := os.Lstat(filepath.Join(oursRW, "secret")); err != nil {
		t.Errorf("unreadable file deleted: %v", err)
	}
}

// resetDirTimes gives every directory under root one fixed time.
func resetDirTimes(t *testing.T, root string) {
	t.Helper()
	fixed := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must(t, filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.IsDir() {
			err = os.Chtimes(p, fixed, fixed)
		}
		return err
	}))
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	must(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	must(t, err)
	_, err = io.Copy(out, in)
	must(t, err)
	must(t, out.Close())
}
