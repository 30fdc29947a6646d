package server

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"

	"golang.org/x/sys/unix"
)

// Connection slots in a lock file ("lock_file"), so max_connections holds
// across processes (--inetd starts one per connection) as in rsyncd: a
// connection holds a write lock on one 4-byte record among the first N of
// a region, N being the limit; a limit is reached when all N are locked.
//
// The instance's records start at offset 0, rsyncd's layout for a module
// with "max connections = N", so a stock rsyncd using the same file counts
// with us. Each module's records start at moduleRegion(name), far above;
// rsyncd itself shares one region between all modules of a lock file,
// which makes one module's limit count the others' connections.
//
// The locks are open file description locks (F_OFD_SETLK), one open of
// the file per connection: classic fcntl locks belong to the process, so
// in a daemon serving many connections a second lock on the same record
// would succeed and every close would drop all of them. OFD locks conflict
// between opens in one process as between processes (and with rsyncd's
// classic locks), and go away when their connection's descriptor closes,
// whatever way the process ends.

const (
	lockRecord     = 4         // bytes per slot, as rsyncd
	lockRegionBits = 32        // every region is 4 GiB: 2^30 slots
	lockRegionMask = 1<<30 - 1 // module regions 1..2^30 stay below 2^63
)

// slotLock is one connection's open of the lock file with its locks.
type slotLock struct{ f *os.File }

// Close drops the connection's slots.
func (l *slotLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	return l.f.Close()
}

// errLockBusy means every slot of a region is held.
var errLockBusy = errors.New("every slot is taken")

// openSlotLock opens path for a connection's slots. Like rsyncd it creates
// the file (0600); unlike it, a symlink as the last component is refused.
func openSlotLock(path string) (*slotLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return &slotLock{f: f}, nil
}

// take locks a free slot among the first max of the region at base; it
// returns errLockBusy when all of them are held by other opens.
func (l *slotLock) take(base int64, max int) error {
	max = min(max, lockRegionMask+1)
	for i := range max {
		lk := unix.Flock_t{
			Type:   unix.F_WRLCK,
			Whence: 0, // SEEK_SET
			Start:  base + int64(i)*lockRecord,
			Len:    lockRecord,
		}
		err := unix.FcntlFlock(l.f.Fd(), unix.F_OFD_SETLK, &lk)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES):
			continue
		default:
			return fmt.Errorf("lock file %s: %w", l.f.Name(), err)
		}
	}
	return errLockBusy
}

// moduleRegion is where module name's slots start: a hash of the name, so
// processes agree whatever the order of the modules in their config. Two
// names hashing alike (odds ~n²/2^31) would share one pool of slots.
func moduleRegion(name string) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return (1 + int64(h.Sum32()&lockRegionMask)) << lockRegionBits
}

// claimLockFile takes the instance's slot (when it has a limit) and the
// module's (when it has one) in cfg.LockFile. limit is the limit that was
// reached, 0 when both slots were taken; the caller closes the lock when the
// connection ends.
func claimLockFile(cfg *Config, module string, modMax int) (l *slotLock, limit int, err error) {
	if cfg.LockFile == "" || (cfg.MaxConnections <= 0 && modMax <= 0) {
		return nil, 0, nil
	}
	l, err = openSlotLock(cfg.LockFile)
	if err != nil {
		return nil, 0, err
	}
	// Module first, as claim reports the module's limit first.
	for _, r := range []struct {
		base int64
		max  int
	}{{moduleRegion(module), modMax}, {0, cfg.MaxConnections}} {
		if r.max <= 0 {
			continue
		}
		if err := l.take(r.base, r.max); err != nil {
			l.Close()
			if errors.Is(err, errLockBusy) {
				return nil, r.max, nil
			}
			return nil, 0, err
		}
	}
	return l, 0, nil
}
