//go:build linux && (arm64 || riscv64 || loong64)

package rootfs

import "golang.org/x/sys/unix"

// sysFstatat is the fstatat system call whose result is unix.Stat_t.
const sysFstatat = unix.SYS_FSTATAT
