package filter

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const rsyncBin = "/usr/bin/rsync"

func needRsync(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(rsyncBin); err != nil {
		t.Fatalf("this test runs stock rsync at %s: %v (install it with `apt-get install rsync`)", rsyncBin, err)
	}
}

// makeTree creates files and directories (names ending in "/") under base.
func makeTree(t *testing.T, base string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(base, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// listTree returns every path under base, directories with a trailing "/".
func listTree(t *testing.T, base string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == base {
			return nil
		}
		rel, _ := filepath.Rel(base, p)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func readAbs(name string) ([]byte, error) { return os.ReadFile("/" + name) }

func readDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

// predict runs rsync's --delete algorithm over the two trees with our
// lists: the sender's file list (Sender side, per-dir files from src), then
// the receiver's deletions (Receiver side, per-dir files from dst) with
// perishable rules ignored inside directories being deleted. It returns the
// destination's paths afterwards.
func predict(t *testing.T, src, dst string, rules []Rule, deleteExcluded bool) []string {
	t.Helper()
	sendL := New(Config{Protocol: 32, Root: src[1:]})
	recvL := New(Config{Protocol: 32, Root: dst[1:], DeleteExcluded: deleteExcluded})
	if err := sendL.Add(rules, readAbs); err != nil {
		t.Fatal(err)
	}
	if err := recvL.Add(rules, readAbs); err != nil {
		t.Fatal(err)
	}

	flist := map[string]bool{} // path -> is dir
	var send func(rel string)
	send = func(rel string) {
		if err := sendL.EnterDir(rel, readAbs); err != nil {
			t.Fatal(err)
		}
		for _, e := range readDir(t, filepath.Join(src, rel)) {
			p := joinPath(rel, e.Name())
			if sendL.Match(p, e.IsDir(), Sender) {
				continue
			}
			flist[p] = e.IsDir()
			if e.IsDir() {
				send(p)
			}
		}
		sendL.LeaveDir()
	}
	send("")

	deleted := map[string]bool{}
	var remove func(p string, isDir bool) bool
	remove = func(p string, isDir bool) bool {
		if !isDir {
			deleted[p] = true
			return true
		}
		if err := recvL.EnterDir(p, readAbs); err != nil {
			t.Fatal(err)
		}
		all := true
		for _, e := range readDir(t, filepath.Join(dst, p)) {
			c := joinPath(p, e.Name())
			fl := IgnorePerishable
			if e.IsDir() {
				fl |= IsDir
			}
			if recvL.Check(c, Receiver, fl) == Excluded || !remove(c, e.IsDir()) {
				all = false
			}
		}
		recvL.LeaveDir()
		if all {
			deleted[p] = true
		}
		return all
	}
	var recv func(rel string)
	recv = func(rel string) {
		if err := recvL.EnterDir(rel, readAbs); err != nil {
			t.Fatal(err)
		}
		for _, e := range readDir(t, filepath.Join(dst, rel)) {
			p := joinPath(rel, e.Name())
			if isDir, ok := flist[p]; ok {
				if isDir && e.IsDir() {
					recv(p)
				}
				continue
			}
			if !recvL.Match(p, e.IsDir(), Receiver) {
				remove(p, e.IsDir())
			}
		}
		recvL.LeaveDir()
	}
	recv("")

	set := map[string]bool{}
	for _, p := range listTree(t, dst) {
		if !deleted[strings.TrimSuffix(p, "/")] {
			set[p] = true
		}
	}
	for p, isDir := range flist {
		if isDir {
			p += "/"
		}
		set[p] = true
	}
	var out []string
	for p := range set {
		// Anything under a deleted directory went with it.
		gone := false
		for q := p; strings.Contains(strings.TrimSuffix(q, "/"), "/"); {
			q = q[:strings.LastIndexByte(strings.TrimSuffix(q, "/"), '/')]
			if deleted[q] {
				gone = true
				break
			}
		}
		if !gone {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// TestAgainstRsync runs stock rsync with --delete and a set of filter rules
// over a source and a destination tree, and checks that the destination
// ends up exactly as our lists predict: which names the sender sends and
// which destination names the receiver protects or deletes.
func TestAgainstRsync(t *testing.T) {
	needRsync(t)
	common := map[string]string{
		"a.o": "", "a.c": "", "keep.log": "", "x.log": "", "top.txt": "",
		"sub/": "", "sub/b.o": "", "sub/b.tmp": "", "sub/top.txt": "",
		"sub/deep/": "", "sub/deep/c.tmp": "", "sub/deep/d.txt": "",
		"cache/": "", "cache/blob": "",
		"logs/": "", "logs/1": "", "logs/old/": "", "logs/old/2": "",
		"ab/": "", "ab/x/": "", "ab/x/deep": "", "ab/deep": "",
	}
	// Names only the destination has: candidates for deletion.
	extra := map[string]string{
		"gone.txt": "", "gone.o": "", "old.bak": "", "secret": "", "z.log": "",
		"sub/gone": "", "sub/gone.tmp": "", "sub/deep/gone.tmp": "", "sub/e.o": "",
		"cache/old": "", "cache/important": "",
		"logs/3": "", "logs/old/4": "",
		"ab/x/y/": "", "ab/x/y/deep": "", "ab/deep2": "",
		"obj/": "", "obj/p.o": "", "obj/q.o": "",
		"mixed/": "", "mixed/p.o": "", "mixed/note": "", "mixed/keep.bak": "",
		"dir.tmp/": "", "dir.tmp/f": "",
		"emptydir/": "",
	}
	cases := []struct {
		name    string
		filters []string
		delExcl bool
		wantErr bool              // a per-dir file does not parse
		src     map[string]string // added to common
		dst     map[string]string // added to common+extra
	}{
		{name: "exclude and include", filters: []string{"+ keep*", "- *.log", "- *.o", "- /top.txt", "- sub/*.tmp"}},
		{name: "dir only and anchors", filters: []string{"- *.tmp/", "- /cache/", "- deep/", "+ sub/", "- sub/**"}},
		{name: "protect risk hide show", filters: []string{"P *.bak", "H secret", "R cache/important", "- cache/*", "S x.log", "H *.log", "P *.log"}},
		{name: "negate", filters: []string{"-! */"}},
		{name: "negate dir", filters: []string{"+ /sub/***", "+! */", "- *"}},
		{name: "double and triple stars", filters: []string{"- logs/***", "- ab/**/deep", "- **/gone.tmp"}},
		{name: "perishable", filters: []string{"-p *.o", "- *.bak"}},
		{name: "wildcards", filters: []string{"- [gs]*", "- ?.o", "- *[[:digit:]]", "- sub/?e*/*.tmp"}},
		{name: "delete excluded", filters: []string{"- *.o", "P *.bak", "- cache/"}, delExcl: true},
		{name: "absolute modifier", filters: []string{"-/ sub/gone", "-/ /sub/deep/gone.tmp", "- gone.o"}},
		{
			name:    "per-dir merge on the receiver",
			filters: []string{":e .rules", "- *.o"},
			dst: map[string]string{
				".rules":       "- gone.txt\n- /secret\n+ b.o\n",
				"sub/.rules":   "- /gone\n- deep/gone.tmp\n!\n- e.o\n",
				"mixed/.rules": "- note\n",
			},
		},
		{
			name:    "per-dir merge both sides",
			filters: []string{": .filt", "- .filt"},
			src:     map[string]string{".filt": "- *.log\n:n- .nested\n", "sub/.filt": "+ b.tmp\n- *.tmp\n", "sub/.nested": "gone\n"},
			dst:     map[string]string{".filt": "- *.log\n:n- .nested\n", "sub/.filt": "+ b.tmp\n- *.tmp\n", "sub/.nested": "gone\n"},
		},
		{
			name:    "no-inherit and word split",
			filters: []string{"dir-merge,nw- .w", "- .w"},
			dst:     map[string]string{".w": "z.log\tgone.o\n", "sub/.w": " gone.tmp  b.o"},
		},
		{
			// rsync 3.5.0 reads "- x" in a word-split file as two
			// rules, the first of them empty: an error on both sides.
			name:    "word split with prefixes fails",
			filters: []string{"dir-merge,w .w"},
			dst:     map[string]string{".w": "- z.log - gone.o\n"},
			wantErr: true,
		},
		{
			name:    "cvs",
			filters: []string{":C", "-C"},
			dst:     map[string]string{"sub/.cvsignore": "gone e.o", "core": "", "mixed/x~": ""},
			src:     map[string]string{"sub/.cvsignore": "gone e.o"},
		},
		{
			name:    "rsync-filter parent scan",
			filters: []string{": /.rsync-filter", "- .rsync-filter"},
			dst:     map[string]string{".rsync-filter": "- /gone.txt\n- *.bak\n", "sub/.rsync-filter": "- /gone\n"},
			src:     map[string]string{".rsync-filter": "- /gone.txt\n- *.bak\n", "sub/.rsync-filter": "- /gone\n"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
			makeTree(t, src, common)
			makeTree(t, src, c.src)
			makeTree(t, dst, common)
			makeTree(t, dst, extra)
			makeTree(t, dst, c.dst)

			var rules []Rule
			args := []string{"-a", "--delete"}
			if c.delExcl {
				args = append(args, "--delete-excluded")
			}
			for _, f := range c.filters {
				args = append(args, "--filter="+f)
				rs, err := Parse(f, 32, FromArg)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					// The client makes plain rules sender-only.
					if c.delExcl && r.Mods&(ModSender|ModReceiver) == 0 && r.Action <= Include {
						r.Mods |= ModSender
					}
					rules = append(rules, r)
				}
			}
			args = append(args, src+"/", dst+"/")
			if c.wantErr {
				l := New(Config{Protocol: 32, Root: dst[1:]})
				if err := l.Add(rules, readAbs); err != nil {
					t.Fatal(err)
				}
				if err := l.EnterDir("", readAbs); err == nil {
					t.Error("EnterDir accepted the file")
				}
				if out, err := exec.Command(rsyncBin, args...).CombinedOutput(); err == nil {
					t.Errorf("rsync accepted the file:\n%s", out)
				}
				return
			}
			want := predict(t, src, dst, rules, c.delExcl)

			out, err := exec.Command(rsyncBin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("rsync %q: %v\n%s", args, err, out)
			}
			got := listTree(t, dst)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("rsync %q\nrsync left:\n  %s\nwe predicted:\n  %s\nonly rsync: %v\nonly ours: %v",
					args, strings.Join(got, "\n  "), strings.Join(want, "\n  "), diff(got, want), diff(want, got))
			}
		})
	}
}

func diff(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

// TestDaemonConfigAgainstRsync serves a module from a stock rsync daemon
// whose filter, include, exclude, include from and exclude from parameters
// hide parts of the tree, pulls it, and checks that the client receives
// exactly the names our list (built from the same parameter values with
// the config sources) leaves visible.
func TestDaemonConfigAgainstRsync(t *testing.T) {
	needRsync(t)
	dir := t.TempDir()
	mod := filepath.Join(dir, "mod")
	makeTree(t, mod, map[string]string{
		"top.txt": "", "a.tmp": "", "a.log": "", "a.lox": "", "x.o": "", "y.o": "",
		"secret/": "", "secret/s": "", "pub/": "", "pub/secret/": "", "pub/secret/s": "",
		"sub/": "", "sub/top.txt": "", "sub/b.tmp": "", "sub/keep/": "", "sub/keep/k.bak": "", "sub/keep/k": "",
		"sub/keep/k.tmp": "", "sub/deep/": "", "sub/deep/d": "", "sub/x/": "", "sub/x/deep/": "", "sub/x/deep/d": "",
		"sub/sub/": "", "sub/sub/keep/": "", "sub/sub/keep/k.bak": "", "sub/c.log": "", "sub/c.lox": "",
	})
	params := []struct {
		key, value string
		from       Source
	}{
		{"filter", "+ /sub/keep/ - /sub/keep/*.bak - *.tmp", FromConfigFilter},
		{"include from", "x.o\n", FromConfigIncludeFile},
		{"include", "*.log  + sub/sub/", FromConfigInclude},
		{"exclude from", "# comment\n- deep/\n*.o\n", FromConfigExcludeFile},
		{"exclude", "secret/ /top.txt *.lo?", FromConfigExclude},
	}
	conf := "[m]\n  path = " + mod + "\n  use chroot = no\n  read only = yes\n"
	for i, p := range params {
		value := p.value
		if strings.HasSuffix(p.key, " from") {
			file := filepath.Join(dir, "list"+strconv.Itoa(i))
			if err := os.WriteFile(file, []byte(p.value), 0o644); err != nil {
				t.Fatal(err)
			}
			value = file
		}
		conf += "  " + p.key + " = " + value + "\n"
	}
	confFile := filepath.Join(dir, "rsyncd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	daemon := exec.Command(rsyncBin, "--daemon", "--no-detach", "--address=127.0.0.1",
		"--port="+strconv.Itoa(port), "--config="+confFile, "--log-file="+filepath.Join(dir, "log"))
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Process.Kill(); _ = daemon.Wait() })
	waitListening(t, port)

	for _, root := range []string{"", "sub"} {
		l := New(Config{Protocol: 32, Root: root})
		for _, p := range params {
			rs, err := Parse(p.value, 32, p.from)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Add(rs, nil); err != nil {
				t.Fatal(err)
			}
		}
		var want []string
		var walk func(rel string)
		walk = func(rel string) {
			for _, e := range readDir(t, filepath.Join(mod, root, rel)) {
				p := joinPath(rel, e.Name())
				if l.Match(p, e.IsDir(), Sender) {
					continue
				}
				if e.IsDir() {
					want = append(want, p+"/")
					walk(p)
				} else {
					want = append(want, p)
				}
			}
		}
		walk("")
		sort.Strings(want)

		out := filepath.Join(dir, "out"+root)
		url := "rsync://127.0.0.1:" + strconv.Itoa(port) + "/m/" + root
		if o, err := exec.Command(rsyncBin, "-a", strings.TrimSuffix(url, "/")+"/", out+"/").CombinedOutput(); err != nil {
			t.Fatalf("rsync %s: %v\n%s", url, err, o)
		}
		got := listTree(t, out)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("pull of %s:\nrsync sent:\n  %s\nwe predicted:\n  %s\nonly rsync: %v\nonly ours: %v",
				url, strings.Join(got, "\n  "), strings.Join(want, "\n  "), diff(got, want), diff(want, got))
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("rsync daemon did not listen on %s", addr)
}
