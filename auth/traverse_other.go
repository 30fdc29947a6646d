//go:build unix && !linux

package auth

import "golang.org/x/sys/unix"

// traverseFlags opens a directory only to walk through it.
const traverseFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
