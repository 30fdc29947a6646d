// Package flist reads and writes rsync's file list as it travels on the wire
// (protocols 27 to 32) and sorts and cleans it the way rsync does.
package flist

import (
	"errors"
	"fmt"
)

// MaxPathLen is rsync's MAXPATHLEN on Linux (PATH_MAX): a name on the wire,
// and a symlink target, must be shorter than this.
const MaxPathLen = 4096

// MaxChecksumLen is the longest file checksum rsync sends (SHA-512).
const MaxChecksumLen = 64

// File-type bits of File.Mode. They are the Linux values, which are also the
// values on rsync's wire (to_wire_mode only differs on systems whose S_IFLNK
// is not 0120000).
const (
	ModeTypeMask = 0o170000
	ModeSocket   = 0o140000
	ModeSymlink  = 0o120000
	ModeRegular  = 0o100000
	ModeBlockDev = 0o060000
	ModeDir      = 0o040000
	ModeCharDev  = 0o020000
	ModeFIFO     = 0o010000
)

// Flags in File.Flags.
const (
	// FlagTopDir marks a directory named on the sender's command line
	// (XMIT_TOP_DIR): its contents are in scope for --delete.
	FlagTopDir uint32 = 1 << iota
	// FlagContentDir marks a directory whose contents are in the list.
	// Protocol 30+ sends it (absence of XMIT_NO_CONTENT_DIR); before 30 it
	// is derived as rsync's receiver does (a top dir and, with
	// Options.Recurse, the dirs that follow it).
	FlagContentDir
	// FlagImpliedDir marks a directory sent only as the parent of a named
	// path (--relative, protocol 30+): not a content dir.
	FlagImpliedDir
	// FlagHLinked marks a non-directory that belongs to a hard-link group
	// (see File.HLinkGroup). With protocol 27 every regular file carries
	// link data when hard links are preserved, so every one has it.
	FlagHLinked
	// FlagHLinkFirst marks, for protocol 30+, the first member of its group
	// on the wire (XMIT_HLINK_FIRST); the others refer to it.
	FlagHLinkFirst
	// FlagRemoved marks a duplicate that ReadList dropped while sorting, as
	// rsync's receiver does: the entry keeps its slot so that positions
	// still equal wire indexes, but must be skipped.
	FlagRemoved
)

// File is one entry of a file list.
type File struct {
	// Name is the cleaned path relative to the transfer root ("dir/file");
	// "." is the root itself. With Options.RelativePaths a decoded name
	// may start with "/" until ReadList strips it after sorting.
	Name  string
	Mode  uint32 // type and permission bits (Mode* constants)
	Flags uint32 // Flag* bits

	Size    int64
	ModTime int64 // seconds since the epoch; protocols before 30 carry it as uint32
	ModNsec int32 // protocol 31+, 0..999999999
	Atime   int64 // with PreserveAtimes, non-directories only
	Crtime  int64 // with PreserveCrtimes

	UID, GID    uint32
	User, Group string // names from the id lists or sent inline; "" if none

	RdevMajor, RdevMinor uint32 // devices (and specials before protocol 31)
	LinkTarget           string // symlinks, with PreserveLinks
	Checksum             []byte // regular files, with AlwaysChecksum; ChecksumLen bytes

	// HLinkDev and HLinkIno identify the inode of a hard-linked entry. The
	// encoder groups links by them in every protocol; before protocol 30
	// they are what the wire carries, so the decoder fills them then.
	HLinkDev, HLinkIno int64
	// HLinkGroup, filled by the decoder for FlagHLinked entries, names the
	// entry's group. From protocol 30 it is the arrival number of the
	// group's first entry (NdxStart + its position in the order sent,
	// which is not its position in the sorted List); before 30 a serial
	// number per distinct dev:inode pair in arrival order. -1 otherwise.
	HLinkGroup int32
}

// IsDir reports whether the entry is a directory.
func (f *File) IsDir() bool { return f.Mode&ModeTypeMask == ModeDir }

// IsRegular reports whether the entry is a regular file.
func (f *File) IsRegular() bool { return f.Mode&ModeTypeMask == ModeRegular }

// IsSymlink reports whether the entry is a symbolic link.
func (f *File) IsSymlink() bool { return f.Mode&ModeTypeMask == ModeSymlink }

// IsDevice reports whether the entry is a character or block device.
func (f *File) IsDevice() bool { return isDevice(f.Mode) }

// IsSpecial reports whether the entry is a FIFO or a socket.
func (f *File) IsSpecial() bool { return isSpecial(f.Mode) }

func isDevice(m uint32) bool {
	t := m & ModeTypeMask
	return t == ModeCharDev || t == ModeBlockDev
}

func isSpecial(m uint32) bool {
	t := m & ModeTypeMask
	return t == ModeFIFO || t == ModeSocket
}

func validType(m uint32) bool {
	switch m & ModeTypeMask {
	case ModeRegular, ModeDir, ModeSymlink, ModeCharDev, ModeBlockDev, ModeFIFO, ModeSocket:
		return true
	}
	return false
}

// Limits bound what a decoder accepts; zero fields take the defaults.
type Limits struct {
	MaxFiles     int   // entries in one list; default 50,000,000
	MaxNameLen   int   // bytes of a name or link target; default and ceiling MaxPathLen-1
	MaxNameBytes int64 // bytes of all names and link targets of a list; default 16 GiB
}

// Default limits.
const (
	DefaultMaxFiles     = 50_000_000
	DefaultMaxNameBytes = 16 << 30
)

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxNameLen <= 0 || l.MaxNameLen > MaxPathLen-1 {
		l.MaxNameLen = MaxPathLen - 1
	}
	if l.MaxNameBytes <= 0 {
		l.MaxNameBytes = DefaultMaxNameBytes
	}
	return l
}

// Options describe the connection: the negotiated protocol, compat flags and
// the transfer options that change the file list's layout. Both ends must
// agree on every field.
type Options struct {
	Protocol    int  // 27..32
	VarintFlags bool // CF_VARINT_FLIST_FLAGS: entry flags and the end marker as varints
	SafeFlist   bool // CF_SAFE_FLIST (implied from protocol 31): io_error may end the list
	ID0Names    bool // CF_ID0_NAMES: the id lists also name id 0
	IncRecurse  bool // CF_INC_RECURSE: names inline, no id lists after the list
	// NdxStart is the wire index of the list's first entry: 0 without
	// incremental recursion, 1 for its first list.
	NdxStart int32

	RelativePaths     bool // --relative: names may start with "/"
	Recurse           bool // --recursive (content dirs before protocol 30)
	DeleteMissingArgs bool // --delete-missing-args: mode 0 entries are allowed

	PreserveUID       bool // -o
	PreserveGID       bool // -g
	NumericIDs        bool // --numeric-ids: no id lists, no names
	PreserveDevices   bool // -D / --devices
	PreserveSpecials  bool // -D / --specials
	PreserveLinks     bool // -l
	PreserveHardLinks bool // -H
	PreserveAtimes    bool // -U
	PreserveCrtimes   bool // -N
	AlwaysChecksum    bool // -c
	ChecksumLen       int  // with AlwaysChecksum: the file checksum's length (1..64)

	Limits Limits
}

func (o *Options) safeFlist() bool { return o.SafeFlist || o.Protocol >= 31 }

func (o *Options) check() error {
	switch {
	case o.Protocol < 27 || o.Protocol > 32:
		return fmt.Errorf("flist: protocol %d not supported (27..32)", o.Protocol)
	case o.VarintFlags && o.Protocol < 30:
		return errors.New("flist: varint flags need protocol 30 or later")
	case (o.SafeFlist || o.ID0Names) && o.Protocol < 30:
		return errors.New("flist: compat flags need protocol 30 or later")
	case o.IncRecurse && o.Protocol < 30:
		return errors.New("flist: incremental recursion needs protocol 30 or later")
	case o.PreserveAtimes && o.Protocol < 28:
		// XMIT_SAME_ATIME lives in the extended flag byte, which protocol
		// 27 does not have; rsync itself desynchronises there.
		return errors.New("flist: --atimes needs protocol 28 or later")
	case o.PreserveCrtimes && !o.VarintFlags:
		return errors.New("flist: --crtimes needs varint flags (rsync 3.2.0 on both ends)")
	case o.AlwaysChecksum && (o.ChecksumLen < 1 || o.ChecksumLen > MaxChecksumLen):
		return fmt.Errorf("flist: checksum length %d out of range 1..%d", o.ChecksumLen, MaxChecksumLen)
	case o.NdxStart < 0:
		return fmt.Errorf("flist: negative index start %d", o.NdxStart)
	}
	return nil
}

// Wire flag bits (rsync.h XMIT_*). Several bits mean different things in
// different protocols; the names carry the range.
const (
	xmitTopDir          = 1 << 0
	xmitSameMode        = 1 << 1
	xmitSameRdevPre28   = 1 << 2 // protocol 27
	xmitExtendedFlags   = 1 << 2 // protocol 28+
	xmitSameUID         = 1 << 3
	xmitSameGID         = 1 << 4
	xmitSameName        = 1 << 5
	xmitLongName        = 1 << 6
	xmitSameTime        = 1 << 7
	xmitSameRdevMajor   = 1 << 8 // 28+, devices
	xmitNoContentDir    = 1 << 8 // 30+, directories
	xmitHLinked         = 1 << 9 // 28+, non-directories
	xmitSameDevPre30    = 1 << 10
	xmitUserNameFollows = 1 << 10 // 30+
	xmitRdevMinor8Pre30 = 1 << 11
	xmitGroupNameFollow = 1 << 11 // 30+
	xmitHLinkFirst      = 1 << 12 // 30+
	xmitIOErrorEndList  = 1 << 12 // with xmitExtendedFlags alone: the end of the list
	xmitModNsec         = 1 << 13 // 31+
	xmitSameAtime       = 1 << 14
	xmitCrtimeEqMtime   = 1 << 17
)

// ioErrValidMask keeps the io_error bits rsync defines (IOERR_VALID_MASK).
const ioErrValidMask = 1 | 2 | 4

const maxWireNsec = 999_999_999
