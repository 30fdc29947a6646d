package rsyncdconf

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listing is what "rsync rsync://host/" prints per module, as our parse predicts it.
func listing(t *testing.T, c *Config) []string {
	t.Helper()
	var out []string
	for _, m := range c.Modules {
		eff := c.Effective(m.Name)
		if p, ok := eff["list"]; ok {
			if b, err := ParseBool(p.Value); err != nil {
				t.Fatalf("list: %v", err)
			} else if !b {
				continue
			}
		}
		out = append(out, m.Name+"\t"+eff["comment"].Value)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// stockListing starts stock rsync as a daemon on loopback with conf and lists its modules.
func stockListing(t *testing.T, rsync, conf string) []string {
	t.Helper()
	port := freePort(t)
	logf := filepath.Join(t.TempDir(), "rsyncd.log")
	cmd := exec.Command(rsync, "--daemon", "--no-detach", "--config="+conf,
		fmt.Sprintf("--port=%d", port), "--address=127.0.0.1", "--log-file="+logf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		cn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			cn.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf)
			t.Fatalf("stock daemon did not listen: %v\n%s\n%s", err, stderr.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, rsync, "rsync://"+addr+"/").Output()
	if err != nil {
		log, _ := os.ReadFile(logf)
		t.Fatalf("listing: %v\n%s", err, log)
	}
	var mods []string
	for _, ln := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if ln == "" {
			continue
		}
		name, comment, _ := strings.Cut(ln, "\t")
		mods = append(mods, strings.TrimRight(name, " ")+"\t"+comment)
	}
	return mods
}

func TestAgainstStockRsync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts stock rsync daemons")
	}
	rsync, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatalf("stock rsync not found (install it: apt-get install rsync): %v", err)
	}
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"seed", map[string]string{"main.conf": strings.Replace(seedConf, "use chroot = yes", "use chroot = no", 1) + "[pub]\ncomment = public\n"}},
		{"global after module does not reach it", map[string]string{
			"main.conf": "[a]\n[global]\ncomment = late\n[b]\n[c]\nlist = no\n[d]\nlist = False\nlist = TRUE\n[global]\nlist = no\n[e]\n[f]\nlist = yes\n",
		}},
		{"duplicates merge", map[string]string{
			"main.conf": "[Dup]\ncomment = first\n[dup]\ncomment = second\n[ D u p ]\nlist = 0\n[  x \t  y  ]  trailing junk\ncomment = spaced \\\n  out\n",
		}},
		{"include and merge, files and dirs", map[string]string{
			"main.conf":  "comment = base\n&merge @D@/d\n&include @D@/d\n[m]\n&merge @D@/one.inc\n&include @D@/one.conf\ncomment = global again\n[n]\n",
			"d/10.inc":   "comment = from inc\n",
			"d/b.conf":   "[b]\n",
			"d/a.conf":   "comment = own a\n[a]\n[aa]\n",
			"d/skip.txt": "[nope]\n",
			"one.inc":    "comment = merged into m\n",
			"one.conf":   "list = no\n[hidden]\n[global]\nlist = yes\n[shown]\n",
		}},
		{"vars", map[string]string{
			"main.conf": "[v]\ncomment = %RSYNCDCONF_TEST_SET% %RSYNCDCONF_TEST_UNSET% 50%\n",
		}},
	}
	t.Setenv("RSYNCDCONF_TEST_SET", "hello")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			conf := filepath.Join(dir, "main.conf")
			c, err := Parse(conf, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := listing(t, c)
			got := stockListing(t, rsync, conf)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("stock rsync lists %q\nwe predict       %q", got, want)
			}
		})
	}
}
