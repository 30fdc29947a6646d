package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestVersionFlag(t *testing.T) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--version"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "rsyncd-go version "+version+"\n" {
		t.Errorf("--version printed %q", got)
	}
}

// TestManPages: the hidden man command writes a page per visible command,
// each flag described, dated by SOURCE_DATE_EPOCH.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "86400")
	cmd := newRootCmd()
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetArgs([]string{"man", dir})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for page, want := range map[string][]string{
		"rsyncd-go.1":           {`.TH "RSYNCD-GO" "1" "Jan 1970"`, `\fB--instance\fP`, `\fB--inetd\fP`, "lock_file", "metrics_listen"},
		"rsyncd-go-check.1":     {`\fB--all\fP`},
		"rsyncd-go-instances.1": {"List the instances"},
	} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Error(err)
			continue
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q", page, w)
			}
		}
	}
	for _, hidden := range []string{"rsyncd-go-man.1", "rsyncd-go-systemd-generator.1"} {
		if _, err := os.Stat(filepath.Join(dir, hidden)); err == nil {
			t.Errorf("%s: a page for a hidden command", hidden)
		}
	}
}

// TestHelpComplete: every command has a description and every flag a usage
// text, so --help and the man pages describe all of them.
func TestHelpComplete(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if strings.TrimSpace(c.Short) == "" {
			t.Errorf("command %q has no Short description", c.CommandPath())
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%s --%s has no usage text", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRootCmd()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	walk(root)
}
