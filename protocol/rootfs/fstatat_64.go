//go:build linux && (amd64 || mips64 || mips64le || ppc64 || ppc64le || s390x)

package rootfs

import "golang.org/x/sys/unix"

// sysFstatat is the fstatat system call whose result is unix.Stat_t.
const sysFstatat = unix.SYS_NEWFSTATAT
