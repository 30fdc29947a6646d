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
	// An error means it cannot be read either.
	if dir == nil {
		return rootfs.Access(b.cfg.Root, disk, unix.R_OK) != nil
	}
	return rootfs.AccessAt(dir, path.Base(disk), unix.R_OK) != nil
}
