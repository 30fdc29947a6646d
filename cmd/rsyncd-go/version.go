package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// version is set at build time (make deb: -ldflags "-X main.version=...",
// from git describe); "dev" for a plain go build.
var version = "dev"

// newManCmd writes the man pages of the command tree (make deb packs them).
func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages of rsyncd-go and its commands into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true // reproducible: no generation date
			hdr := &doc.GenManHeader{
				Title:   "RSYNCD-GO",
				Section: "1",
				Source:  "rsyncd-go " + version,
				Manual:  "rsyncd-go manual",
			}
			// Reproducible builds: the date of SOURCE_DATE_EPOCH if set.
			if sec, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
				d := time.Unix(sec, 0).UTC()
				hdr.Date = &d
			}
			if err := doc.GenManTree(root, hdr, dir); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d man pages into %s\n", len(pages), dir)
			return nil
		},
	}
}
