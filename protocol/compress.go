package protocol

import (
	"slices"
	"strings"
)

// dontCompressAll reports whether a "dont compress" list holds the bare
// pattern "*" (entries are space-separated words, as in rsyncd.conf): the
// one entry rsync 3.5.0 acts on (token.c init_set_compression).
func dontCompressAll(list []string) bool {
	for _, e := range list {
		if slices.Contains(strings.Fields(e), "*") {
			return true
		}
	}
	return false
}
