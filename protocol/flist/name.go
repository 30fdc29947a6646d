package flist

import (
	"bytes"
	"fmt"
	"strings"
)

// cleanName rewrites a received name in place the way rsync's receiver
// does (clean_fname with CFN_REFUSE_DOT_DOT_DIRS): repeated slashes and
// interior "." components go, a trailing slash goes, and a ".." component
// is an error. Unlike rsync it also refuses what no honest sender produces:
// an empty name, a NUL byte, a "." component other than the whole name
// ("." or, with relative paths, "/."), a lone "/", and a leading "/"
// without relative paths. It returns the cleaned length.
func cleanName(b []byte, relative bool) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("flist: empty file name")
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return 0, fmt.Errorf("flist: file name %q holds a NUL byte", b)
	}
	anchored := b[0] == '/'
	if anchored && !relative {
		return 0, fmt.Errorf("flist: absolute file name %q", b)
	}
	out := 0
	if anchored {
		out = 1
	}
	start := out
	for i := 0; i < len(b); {
		if b[i] == '/' {
			i++
			continue
		}
		j := i
		for j < len(b) && b[j] != '/' {
			j++
		}
		comp := b[i:j]
		if len(comp) == 2 && comp[0] == '.' && comp[1] == '.' {
			return 0, fmt.Errorf("flist: file name %q has a \"..\" component", b)
		}
		if len(comp) == 1 && comp[0] == '.' && j < len(b) {
			// An interior "./" (one a slash follows) is dropped.
			i = j
			continue
		}
		if out > start {
			b[out] = '/'
			out++
		}
		out += copy(b[out:], comp)
		i = j
	}
	if out == start {
		if anchored {
			return 0, fmt.Errorf("flist: file name %q has no base name", b[:1])
		}
		b[0] = '.'
		out = 1
	}
	// Interior "." components are gone; a trailing one ("dir/.") is kept
	// by rsync but never sent by it: only the root may be ".".
	if bytes.HasSuffix(b[start:out], []byte("/.")) {
		return 0, fmt.Errorf("flist: file name %q ends in a \".\" component", b[:out])
	}
	return out, nil
}

// checkName validates a name the encoder is asked to send: it must already
// be in the form cleanName produces (checked without copying it).
func checkName(name string, relative bool, maxLen int) error {
	if len(name) > maxLen {
		return fmt.Errorf("flist: file name of %d bytes exceeds %d", len(name), maxLen)
	}
	if name == "" {
		return fmt.Errorf("flist: empty file name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("flist: file name %q holds a NUL byte", name)
	}
	rest := name
	if name[0] == '/' {
		if !relative {
			return fmt.Errorf("flist: absolute file name %q", name)
		}
		rest = name[1:]
	}
	if rest == "." {
		return nil
	}
	for {
		comp, more, found := strings.Cut(rest, "/")
		switch comp {
		case "", ".", "..":
			return fmt.Errorf("flist: file name %q is not clean (component %q)", name, comp)
		}
		if !found {
			return nil
		}
		rest = more
	}
}
