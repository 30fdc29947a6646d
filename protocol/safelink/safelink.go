// Package safelink judges symlinks as rsync's --safe-links and
// --copy-unsafe-links do: can a link's target leave the transfer tree?
package safelink

import "strings"

// Unsafe reports whether a symlink named name (a path relative to the top
// of the transfer) with the given target can point outside the transfer
// (rsync's unsafe_symlink in util1.c), judged on the text alone: an empty
// or absolute target, a ".." anywhere but in a leading run of "../", a
// trailing "/..", or leading ".." components that climb above the top from
// name's directory.
func Unsafe(target, name string) bool {
	if target == "" || target[0] == '/' {
		return true
	}
	rest := target
	for strings.HasPrefix(rest, "../") {
		rest = strings.TrimLeft(rest[3:], "/")
	}
	if strings.Contains(rest, "/../") {
		return true
	}
	if len(target) > 3 && strings.HasSuffix(target, "/..") {
		return true
	}
	return climbs(target, dirDepth(name))
}

// dirDepth is the depth of name's directory below the top: "." components
// count nothing, ".." starts the count over, as rsync counts its margin.
func dirDepth(name string) int {
	depth := 0
	rest := name
	for i := 0; ; i++ {
		c, more, found := strings.Cut(rest, "/")
		if !found {
			if c == ".." {
				return 0
			}
			return depth
		}
		switch c {
		case "":
			if i == 0 {
				depth++ // rsync counts the root of an absolute name
			}
		case ".":
		case "..":
			depth = 0
		default:
			depth++
		}
		rest = more
	}
}

// climbs reports whether target's ".." components go above a directory
// depth levels below the top.
func climbs(target string, depth int) bool {
	rest := target
	for {
		c, more, found := strings.Cut(rest, "/")
		if !found {
			if c == ".." {
				depth--
			}
			return depth < 0
		}
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return true
			}
		default:
			depth++
		}
		rest = more
	}
}
