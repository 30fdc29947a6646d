package sender

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/fakesuper"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// fakeStat is rsync's x_lstat with fake super: a regular file or
// directory with a user.rsync.%stat xattr is listed with the mode, owners
// and device number the xattr records. A regular file standing in for a
// symlink holds its target, returned as link. It returns a nil status
// when the entry is to be skipped.
func (b *builder) fakeStat(disk string, sys *syscall.Stat_t) (*syscall.Stat_t, *string) {
	if typ := sys.Mode & unix.S_IFMT; typ != unix.S_IFREG && typ != unix.S_IFDIR {
		return sys, nil
	}
	xs, ok, err := fakesuper.Get(b.cfg.Root, disk)
	if err != nil {
		b.ioError |= ioErrGeneral
		b.say(wire.MsgErrorXfer, "rsync: [sender] %v\n", err)
		return sys, nil
	}
	if !ok {
		return sys, nil
	}
	out := *sys
	out.Mode = xs.Mode
	out.Uid, out.Gid = xs.UID, xs.GID
	out.Rdev = unix.Mkdev(xs.Major, xs.Minor)
	if out.Mode&unix.S_IFMT != unix.S_IFLNK || sys.Mode&unix.S_IFMT != unix.S_IFREG {
		return &out, nil
	}
	f, err := rootfs.OpenNoFollow(b.cfg.Root, disk)
	if err != nil {
		b.ioError |= ioErrGeneral
		b.say(wire.MsgErrorXfer, "rsync: [sender] readlink %s failed: %v\n", b.fullName("", disk), err)
		return nil, nil
	}
	defer f.Close()
	t, err := io.ReadAll(io.LimitReader(f, flist.MaxPathLen))
	if err != nil {
		b.ioError |= ioErrGeneral
		b.say(wire.MsgErrorXfer, "rsync: [sender] readlink %s failed: %v\n", b.fullName("", disk), err)
		return nil, nil
	}
	link := string(t)
	out.Size = int64(len(link))
	return &out, &link
}

// readLink is Readlink, or the target a fake-super stand-in holds.
func readLink(root *os.Root, disk string, fake *string) (string, error) {
	if fake != nil {
		return *fake, nil
	}
	return root.Readlink(disk)
}
