package test

import (
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nobodyGroup is the group rsync calls NOBODY_GROUP on this system.
func nobodyGroup() string {
	if _, err := user.LookupGroup("nobody"); err == nil {
		return "nobody"
	}
	return "nogroup"
}

// owners maps every entry under root to "uid:gid mode" (lstat).
func owners(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	must(t, filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st := fi.Sys().(*syscall.Stat_t)
		out[rel] = strings.Join([]string{itoa(st.Uid) + ":" + itoa(st.Gid), "0" + strconvOct(st.Mode)}, " ")
		return nil
	}))
	return out
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func strconvOct(v uint32) string { return strconv.FormatUint(uint64(v), 8) }

// sameMaps reports the differences of two maps, sorted.
func sameMaps(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if want[k] != got[k] {
			t.Errorf("%s %s: stock %q, rsyncd-go %q", what, k, want[k], got[k])
		}
	}
}

// dataTree makes a small source tree: files, a directory, a symlink.
func dataTree(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "d/e"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "d/b.bin"), []byte(strings.Repeat("b", 70000)), 0o600))
	must(t, os.WriteFile(filepath.Join(src, "d/e/c"), nil, 0o640))
	must(t, os.Symlink("a.txt", filepath.Join(src, "ln")))
	return src
}

// pushBoth pushes src to the module "m" of stock rsyncd and of rsyncd-go,
// both configured with the same module parameters, and returns the two
// module directories.
func pushBoth(t *testing.T, params map[string]string, prep func(dir string), args ...string) (stockDir, goDir string) {
	t.Helper()
	var conf, yaml strings.Builder
	conf.WriteString("[m]\npath = {{DATA}}\nread only = no\n")
	yaml.WriteString("modules:\n  - name: m\n    path: {{DATA}}\n    read_only: false\n")
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		conf.WriteString(k + " = " + params[k] + "\n")
		v := params[k]
		if v == "yes" {
			v = "true"
		}
		yaml.WriteString("    " + strings.ReplaceAll(k, " ", "_") + ": " + v + "\n")
	}
	stock := stockDaemon(t, conf.String())
	ours := startDaemon(t, "", yaml.String())
	for _, d := range []*daemon{stock, ours} {
		if prep != nil {
			prep(d.Data)
		}
		url := "rsync://" + d.Addr + "/m/"
		res := rsync(t, nil, append(append([]string{}, args...), url)...)
		if res.Code != 0 {
			t.Fatalf("push to %s: exit %d\n%s%s", d.Addr, res.Code, res.Stdout, res.Stderr)
		}
	}
	return stock.Data, ours.Data
}

// TestModuleUIDGID: under root a module's uid and gid own what its pushes
// create, with and without -o/-g, as stock rsyncd after setuid.
func TestModuleUIDGID(t *testing.T) {
	needRoot(t)
	src := dataTree(t)
	must(t, os.Chown(filepath.Join(src, "a.txt"), 1234, 1234))
	params := map[string]string{"uid": "nobody", "gid": nobodyGroup()}
	nobody, err := user.Lookup("nobody")
	must(t, err)
	ng, err := user.LookupGroup(nobodyGroup())
	must(t, err)
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(ng.Gid)
	// The module user owns the module's top, so that both daemons may set
	// its attributes.
	open := func(dir string) { must(t, os.Chown(dir, uid, gid)) }
	for _, args := range [][]string{{"-a"}, {"-rlpt"}, {"-a", "--numeric-ids"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stockDir, goDir := pushBoth(t, params, open, append(args, src+"/")...)
			want, got := owners(t, stockDir), owners(t, goDir)
			sameMaps(t, "owner", want, got)
			for name, o := range got {
				if name != "." && !strings.HasPrefix(o, nobody.Uid+":") {
					t.Errorf("%s is owned by %s, want uid %s", name, o, nobody.Uid)
				}
			}
			compareTrees(t, src, goDir, false)
		})
	}
	// The kernel checks the module user's permissions: a module dir that
	// nobody may not write refuses the push, as stock's does.
	t.Run("no permission", func(t *testing.T) {
		ours := startDaemon(t, "", "modules:\n  - name: m\n    path: {{DATA}}\n    read_only: false\n    uid: nobody\n")
		must(t, os.Chmod(ours.Data, 0o755))
		res := rsync(t, nil, "-r", src+"/", "rsync://"+ours.Addr+"/m/")
		if res.Code != 23 || !strings.Contains(res.Stderr, "Permission denied") {
			t.Errorf("push into a dir nobody cannot write: exit %d, want 23 with Permission denied\n%s", res.Code, res.Stderr)
		}
	})
}

// getXattr reads rsync's fake-super attribute, "" when absent.
func getXattr(p string) string {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, "user.rsync.%stat", buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// fakeView maps every entry to its real type/mode, owners and %stat xattr.
func fakeView(t *testing.T, root string) map[string]string {
	t.Helper()
	out := owners(t, root)
	for name, o := range out {
		out[name] = o + " [" + getXattr(filepath.Join(root, name)) + "]"
	}
	return out
}

// TestModuleFakeSuper: a "fake super" module stores owners, devices,
// symlinks and special modes as rsync does (same xattrs and stand-in files
// as stock rsyncd's), and a pull gives them back.
func TestModuleFakeSuper(t *testing.T) {
	needRoot(t)
	src := dataTree(t)
	must(t, os.Chown(filepath.Join(src, "a.txt"), 1234, 5678))
	must(t, os.Chmod(filepath.Join(src, "d/e/c"), 0o4755))
	must(t, unix.Mkfifo(filepath.Join(src, "fifo"), 0o644))
	must(t, unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, os.Lchown(filepath.Join(src, "ln"), 42, 43))
	for _, args := range [][]string{{"-a"}, {"-aD", "--numeric-ids"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stockDir, goDir := pushBoth(t, map[string]string{"fake super": "yes"}, nil, append(args, src+"/")...)
			sameMaps(t, "fake", fakeView(t, stockDir), fakeView(t, goDir))
		})
	}
	// A pull from the module gives back what was pushed.
	ours := startDaemon(t, "", "modules:\n  - name: m\n    path: {{DATA}}\n    read_only: false\n    fake_super: true\n")
	mustRsync(t, nil, "-a", src+"/", "rsync://"+ours.Addr+"/m/")
	back := t.TempDir()
	mustRsync(t, nil, "-a", "rsync://"+ours.Addr+"/m/", back+"/")
	want, got := owners(t, src), owners(t, back)
	delete(want, ".")
	delete(got, ".")
	sameMaps(t, "pulled", want, got)
	if l, err := os.Readlink(filepath.Join(back, "ln")); err != nil || l != "a.txt" {
		t.Errorf("pulled symlink: %q, %v", l, err)
	}
	var st unix.Stat_t
	must(t, unix.Lstat(filepath.Join(back, "null"), &st))
	if st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("pulled device %d:%d, want 1:3", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
}

// tmpfsDir is a fresh directory with a tmpfs mounted on it for the test
// (mountTmpfs of the fault tests).
func tmpfsDir(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	mountTmpfs(t, dir, opts)
	return dir
}

// TestModuleTempDir: received files go through the module's temp dir
// (inside the module, as rsyncd resolves it), on the same file system and
// on another one (a tmpfs mounted there: copied), and end where stock
// rsyncd puts them; no temp file stays behind.
func TestModuleTempDir(t *testing.T) {
	needRoot(t)
	src := dataTree(t)
	mt := time.Unix(1_500_000_000, 0)
	for _, tc := range []struct {
		name  string
		mount bool
	}{{"same file system", false}, {"tmpfs", true}} {
		t.Run(tc.name, func(t *testing.T) {
			stock := stockDaemon(t, "[m]\npath = {{DATA}}\nread only = no\nmunge symlinks = no\ntemp dir = /scratch\n")
			ours := startDaemon(t, "", "modules:\n  - name: m\n    path: {{DATA}}\n    read_only: false\n    temp_dir: /scratch\n")
			for _, d := range []*daemon{stock, ours} {
				must(t, os.Mkdir(filepath.Join(d.Data, "scratch"), 0o755))
				if tc.mount {
					mountTmpfs(t, filepath.Join(d.Data, "scratch"), "size=16m")
				}
				mustRsync(t, nil, "-a", src+"/", "rsync://"+d.Addr+"/m/")
				// An update goes through the temp dir too.
				must(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha, changed\n"), 0o644))
				must(t, os.Chtimes(filepath.Join(src, "a.txt"), mt.Add(time.Hour), mt.Add(time.Hour)))
				mustRsync(t, nil, "-a", src+"/", "rsync://"+d.Addr+"/m/")
				must(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha\n"), 0o644))
				must(t, os.Chtimes(filepath.Join(src, "a.txt"), mt, mt))
				mustRsync(t, nil, "-a", src+"/", "rsync://"+d.Addr+"/m/")
				// Its own times are the daemons' business.
				must(t, os.Chtimes(filepath.Join(d.Data, "scratch"), mt, mt))
				ents, err := os.ReadDir(filepath.Join(d.Data, "scratch"))
				must(t, err)
				if len(ents) != 0 {
					t.Errorf("temp dir of %s keeps %d entries", d.Addr, len(ents))
				}
			}
			// Directory times are left out: after pushes through a temp
			// dir they differ from run to run with stock rsyncd too (a
			// rename into a directory can follow its touch-up).
			for _, d := range []*daemon{stock, ours} {
				must(t, filepath.Walk(d.Data, func(p string, fi os.FileInfo, err error) error {
					if err == nil && fi.IsDir() {
						err = os.Chtimes(p, mt, mt)
					}
					return err
				}))
			}
			compareTrees(t, stock.Data, ours.Data, true)
			if b, err := os.ReadFile(filepath.Join(ours.Data, "d/b.bin")); err != nil || len(b) != 70000 {
				t.Errorf("d/b.bin: %d bytes, %v", len(b), err)
			}
			sameMaps(t, "owner", owners(t, stock.Data), owners(t, ours.Data))
		})
	}
}

// TestModuleOpenNoatime: with "open noatime" a pull leaves the atimes of
// the files it reads alone, even on a strictatime mount; without it, and
// without the client's --open-noatime, reading updates them.
func TestModuleOpenNoatime(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name     string
		param    string
		args     []string
		keepsAti bool
	}{
		{"module yes", "    open_noatime: true\n", nil, true},
		{"module no", "    open_noatime: false\n", []string{"--open-noatime"}, false},
		{"client option", "", []string{"--open-noatime"}, true},
		{"unset", "", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tmpfsDir(t, "size=16m,strictatime")
			d := startDaemon(t, "", "modules:\n  - name: m\n    path: "+data+"\n    read_only: true\n"+tc.param)
			f := filepath.Join(data, "f")
			must(t, os.WriteFile(f, []byte(strings.Repeat("x", 5000)), 0o644))
			old := time.Unix(1_000_000_000, 0)
			must(t, os.Chtimes(f, old, old))
			dst := t.TempDir()
			mustRsync(t, nil, append([]string{"-r", "rsync://" + d.Addr + "/m/", dst + "/"}, tc.args...)...)
			var st unix.Stat_t
			must(t, unix.Stat(f, &st))
			kept := st.Atim.Sec == old.Unix()
			if kept != tc.keepsAti {
				t.Errorf("atime kept = %v, want %v (atime %d)", kept, tc.keepsAti, st.Atim.Sec)
			}
		})
	}
}
