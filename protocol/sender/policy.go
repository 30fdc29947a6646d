package sender

import (
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
)

// mungePrefix is what "munge symlinks" put before the targets of the
// symlinks the daemon received (rsync's SYMLINK_PREFIX).
const mungePrefix = "/rsyncd-munged/"

// unmunge strips the munge prefix from a symlink target read from the
// module, as rsync's sender does for a module that munges: a target that
// does not carry it is sent as it is.
func unmunge(target string) string {
	if len(target) > len(mungePrefix) && strings.HasPrefix(target, mungePrefix) {
		return target[len(mungePrefix):]
	}
	return target
}

// unreadable reports whether "ignore nonreadable" hides the entry at disk:
// one that is not a symlink and that the daemon may not read, by
// access(2) with R_OK as rsync checks it. dir is disk's open parent
// directory, or nil to open it here.
func (b *builder) unreadable(dir *os.File, disk string, st fs.FileInfo) bool {
	if !b.cfg.IgnoreNonreadable || st.Mode()&fs.ModeSymlink != 0 {
		return false
	}
	base := path.Base(disk)
	if dir == nil {
		d, name, err := rootfs.OpenParent(b.cfg.Root, disk)
		if err != nil {
			return true // cannot be read either
		}
		defer d.Close()
		dir, base = d, name
	}
	sc, err := dir.SyscallConn()
	if err != nil {
		return true
	}
	var accErr error
	if err := sc.Control(func(fd uintptr) { accErr = unix.Faccessat(int(fd), base, unix.R_OK, 0) }); err != nil {
		return true
	}
	return accErr != nil
}
