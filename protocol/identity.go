package protocol

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Identity is the user and groups a module's transfers act as (rsyncd.conf
// "uid" and "gid" under a daemon running as root). The process keeps its
// own identity: setuid would change every thread of the daemon. Instead
// each goroutine of the transfer that touches the module's files runs on
// an OS thread of its own whose file-system uid and gid (setfsuid,
// setfsgid) and supplementary groups are the module's, so what it creates
// is owned by them and the kernel checks their permissions (a non-zero
// fsuid also drops the thread's file capabilities), as after rsyncd's
// setuid. Such a thread is never given back: it ends with its goroutine.
type Identity struct {
	UID    int   // file-system uid
	GID    int   // file-system gid: the group of what is created
	Groups []int // supplementary groups (rsyncd's setgroups list)
}

// Privileged reports whether the identity keeps the process's privileges:
// none is set, or its uid is root's.
func (id *Identity) Privileged() bool { return id == nil || id.UID == 0 }

// Enter locks the calling goroutine to its OS thread for good and gives
// that thread the identity. Call it first on every goroutine of the
// transfer that touches the module's files; a nil identity does nothing.
func (id *Identity) Enter() error {
	if id == nil {
		return nil
	}
	// Never unlocked: the runtime ends a locked thread whose goroutine
	// exits, so these credentials never reach another goroutine.
	runtime.LockOSThread()
	// The raw system calls change this thread only (Go's syscall.Setgroups
	// would change every thread of the process).
	groups := id.Groups
	if groups == nil {
		groups = []int{id.GID}
	}
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups %v failed: %w", groups, err)
	}
	// setfsuid and setfsgid report the previous value, never an error:
	// asking again with -1 tells whether the change took.
	_ = unix.Setfsgid(id.GID)
	if got, _ := unix.SetfsgidRetGid(-1); got != id.GID {
		return fmt.Errorf("setfsgid %d failed (still %d)", id.GID, got)
	}
	_ = unix.Setfsuid(id.UID)
	if got, _ := unix.SetfsuidRetUid(-1); got != id.UID {
		return fmt.Errorf("setfsuid %d failed (still %d)", id.UID, got)
	}
	return nil
}
