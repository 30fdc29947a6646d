package auth

import "golang.org/x/sys/unix"

// traverseFlags opens a directory only to walk through it; O_PATH needs no
// read permission on it.
const traverseFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC
