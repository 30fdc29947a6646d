// Package xferlog describes one file of a transfer as the receiver and the
// sender report it to the daemon's transfer log (rsyncd's log_item).
package xferlog

import "github.com/rsyncd-go/rsyncd-go/protocol/flist"

// Ops of an Event, as rsyncd's %o prints them.
const (
	Send   = "send"
	Recv   = "recv"
	Delete = "del."
)

// Itemize flags (rsync.h ITEM_*), as Event.Iflags carries them.
const (
	ItemReportAtime      = 1 << 0
	ItemReportChange     = 1 << 1
	ItemReportSize       = 1 << 2
	ItemReportTimeFail   = 1 << 2 // same bit as ItemReportSize, for symlinks
	ItemReportTime       = 1 << 3
	ItemReportPerms      = 1 << 4
	ItemReportOwner      = 1 << 5
	ItemReportGroup      = 1 << 6
	ItemReportACL        = 1 << 7
	ItemReportXattr      = 1 << 8
	ItemReportCrtime     = 1 << 10
	ItemBasisTypeFollows = 1 << 11
	ItemXnameFollows     = 1 << 12
	ItemIsNew            = 1 << 13
	ItemLocalChange      = 1 << 14
	ItemTransfer         = 1 << 15
	ItemMissingData      = 1 << 16 // local only
	ItemDeleted          = 1 << 17 // local only
)

// Event is one file a transfer finished.
type Event struct {
	Op     string      // Send, Recv or Delete
	File   *flist.File // the entry (for a deletion, only Name and Mode are set)
	Path   string      // its path inside the module, for %f
	Iflags int         // itemize flags of the entry
	// Read and Written are the connection bytes read and written while the
	// file's data went over (rsyncd's %b and %c), 0 when nothing was sent.
	Read, Written int64
	Sum           []byte // the whole-file checksum of a transferred file, or nil
}
