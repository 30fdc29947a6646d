package flist

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Encoder writes the entries of one file list as rsync's sender does,
// choosing the same compression flags, so that its output is byte for byte
// what stock rsync sends for the same entries.
type Encoder struct {
	w   *wire.Writer
	o   Options
	err error // sticky

	buf   []byte
	count int32 // entries written

	// State shared with the previous entry, as in rsync's send_file_entry.
	prev      string
	modTime   int64
	atime     int64
	mode      uint32
	uid, gid  uint32
	rdevMajor uint32
	rdev27    uint32
	dev       int64

	hlinks map[[2]int64]int32 // protocol 30+: dev:inode to the group's first index

	users, groups idList
}

// idList collects the ids the sender has seen, in order of first sight,
// with their names, for the id lists that follow the file list.
type idList struct {
	seen  map[uint32]struct{}
	ids   []uint32
	names []string
	name0 string // name of id 0, for CF_ID0_NAMES
}

// add records id and reports its name if this is its first appearance.
func (l *idList) add(id uint32, name string) string {
	if id == 0 && name != "" && l.name0 == "" {
		l.name0 = name
	}
	if _, ok := l.seen[id]; ok {
		return ""
	}
	if l.seen == nil {
		l.seen = make(map[uint32]struct{})
	}
	l.seen[id] = struct{}{}
	l.ids = append(l.ids, id)
	l.names = append(l.names, name)
	return name
}

// NewEncoder writes a file list to w with the connection's options.
func NewEncoder(w *wire.Writer, o Options) *Encoder {
	return &Encoder{w: w, o: o, err: o.check(), buf: make([]byte, 0, 512)}
}

// Count returns how many entries have been written.
func (e *Encoder) Count() int { return int(e.count) }

func (e *Encoder) appendVarint30(b []byte, v int32) []byte {
	if e.o.Protocol < 30 {
		return binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return wire.AppendVarint(b, v)
}

func (e *Encoder) appendVarlong30(b []byte, v int64, minBytes int) []byte {
	if e.o.Protocol < 30 {
		return wire.AppendLongint(b, v)
	}
	return wire.AppendVarlong(b, v, minBytes)
}

// check refuses entries that rsync could not have sent or that a receiver
// would reject.
func (e *Encoder) check(f *File) error {
	o := &e.o
	if err := checkName(f.Name, o.RelativePaths, MaxPathLen-1); err != nil {
		return err
	}
	if !validType(f.Mode) && !(f.Mode == 0 && o.DeleteMissingArgs) {
		return fmt.Errorf("flist: invalid mode %#o for %q", f.Mode, f.Name)
	}
	if (f.Name == "." || f.Name == "/.") && !f.IsDir() {
		return fmt.Errorf("flist: transfer root %q must be a directory", f.Name)
	}
	if f.Size < 0 {
		return fmt.Errorf("flist: negative size for %q", f.Name)
	}
	if f.ModNsec < 0 || f.ModNsec > maxWireNsec {
		return fmt.Errorf("flist: nanoseconds %d out of range for %q", f.ModNsec, f.Name)
	}
	if f.IsSymlink() && o.PreserveLinks {
		if f.LinkTarget == "" || len(f.LinkTarget) > MaxPathLen-1 || bytes.IndexByte([]byte(f.LinkTarget), 0) >= 0 {
			return fmt.Errorf("flist: bad symlink target of %d bytes for %q", len(f.LinkTarget), f.Name)
		}
	}
	if o.AlwaysChecksum && f.IsRegular() && len(f.Checksum) != o.ChecksumLen {
		return fmt.Errorf("flist: checksum of %d bytes for %q, want %d", len(f.Checksum), f.Name, o.ChecksumLen)
	}
	if len(f.User) > 255 || len(f.Group) > 255 {
		return fmt.Errorf("flist: user or group name of %q longer than 255 bytes", f.Name)
	}
	return nil
}

// Encode writes one entry.
func (e *Encoder) Encode(f *File) error {
	if e.err != nil {
		return e.err
	}
	if err := e.check(f); err != nil {
		return err
	}
	e.buf = e.encode(e.buf[:0], f)
	if _, err := e.w.Write(e.buf); err != nil {
		e.err = fmt.Errorf("flist: writing entry %d: %w", e.count, err)
		return e.err
	}
	e.count++
	return nil
}

func (e *Encoder) encode(b []byte, f *File) []byte {
	o := &e.o
	proto := o.Protocol
	isDir := f.IsDir()
	mode := f.Mode

	var xflags uint32
	if isDir {
		if proto >= 30 {
			switch {
			case f.Flags&FlagContentDir != 0:
				if f.Flags&FlagTopDir != 0 {
					xflags = xmitTopDir
				}
			case f.Flags&FlagImpliedDir != 0:
				xflags = xmitTopDir | xmitNoContentDir
			default:
				xflags = xmitNoContentDir
			}
		} else if f.Flags&FlagTopDir != 0 {
			xflags = xmitTopDir
		}
	}

	if mode == e.mode {
		xflags |= xmitSameMode
	} else {
		e.mode = mode
	}

	var rdevMinor uint32
	sendRdev := false
	switch {
	case o.PreserveDevices && isDevice(mode):
		sendRdev = true
		if proto < 28 {
			if r := joinDev32(f.RdevMajor, f.RdevMinor); r == e.rdev27 {
				xflags |= xmitSameRdevPre28
			} else {
				e.rdev27 = r
			}
		} else {
			if f.RdevMajor == e.rdevMajor {
				xflags |= xmitSameRdevMajor
			} else {
				e.rdevMajor = f.RdevMajor
			}
			rdevMinor = f.RdevMinor
			if proto < 30 && rdevMinor <= 0xff {
				xflags |= xmitRdevMinor8Pre30
			}
		}
	case o.PreserveSpecials && isSpecial(mode) && proto < 31:
		// Specials need no device number; rsync sends the cheapest one.
		sendRdev = true
		if proto < 28 {
			xflags |= xmitSameRdevPre28
		} else {
			xflags |= xmitSameRdevMajor
			if proto < 30 {
				xflags |= xmitRdevMinor8Pre30
			}
		}
	case proto < 28:
		e.rdev27 = 0
	}

	var userName, groupName string
	if !o.PreserveUID || (f.UID == e.uid && e.prev != "") {
		xflags |= xmitSameUID
	} else {
		e.uid = f.UID
		if !o.NumericIDs {
			userName = e.users.add(f.UID, f.User)
			if o.IncRecurse && userName != "" {
				xflags |= xmitUserNameFollows
			}
		}
	}
	if !o.PreserveGID || (f.GID == e.gid && e.prev != "") {
		xflags |= xmitSameGID
	} else {
		e.gid = f.GID
		if !o.NumericIDs {
			groupName = e.groups.add(f.GID, f.Group)
			if o.IncRecurse && groupName != "" {
				xflags |= xmitGroupNameFollow
			}
		}
	}
	if f.ModTime == e.modTime {
		xflags |= xmitSameTime
	} else {
		e.modTime = f.ModTime
	}
	if f.ModNsec != 0 && proto >= 31 {
		xflags |= xmitModNsec
	}
	if o.PreserveAtimes && !isDir {
		if f.Atime == e.atime {
			xflags |= xmitSameAtime
		} else {
			e.atime = f.Atime
		}
	}
	if o.PreserveCrtimes && f.Crtime == e.modTime {
		xflags |= xmitCrtimeEqMtime
	}

	firstNdx := int32(-1)
	hlinked := false
	if o.PreserveHardLinks {
		if proto >= 28 {
			hlinked = f.Flags&FlagHLinked != 0 && !isDir
		} else {
			hlinked = f.IsRegular()
		}
	}
	if hlinked {
		if proto >= 30 {
			key := [2]int64{f.HLinkDev, f.HLinkIno}
			if n, ok := e.hlinks[key]; ok {
				firstNdx = n
			} else {
				if e.hlinks == nil {
					e.hlinks = make(map[[2]int64]int32)
				}
				e.hlinks[key] = o.NdxStart + e.count
				xflags |= xmitHLinkFirst
			}
		} else if f.HLinkDev == e.dev {
			if proto >= 28 {
				xflags |= xmitSameDevPre30
			}
		} else {
			e.dev = f.HLinkDev
		}
		xflags |= xmitHLinked
	}

	name := f.Name
	l1 := 0
	for l1 < len(e.prev) && l1 < len(name) && l1 < 255 && name[l1] == e.prev[l1] {
		l1++
	}
	l2 := len(name) - l1
	if l1 > 0 {
		xflags |= xmitSameName
	}
	if l2 > 255 {
		xflags |= xmitLongName
	}

	// A zero first byte would end the list, so an entry without flags
	// borrows one that means nothing for it.
	switch {
	case o.VarintFlags:
		v := xflags
		if v == 0 {
			v = xmitExtendedFlags
		}
		b = wire.AppendVarint(b, int32(v))
	case proto >= 28:
		if xflags == 0 && !isDir {
			xflags |= xmitTopDir
		}
		if xflags&0xff00 != 0 || xflags == 0 {
			xflags |= xmitExtendedFlags
			b = binary.LittleEndian.AppendUint16(b, uint16(xflags))
		} else {
			b = append(b, byte(xflags))
		}
	default:
		if xflags&0xff == 0 {
			if isDir {
				xflags |= xmitLongName
			} else {
				xflags |= xmitTopDir
			}
		}
		b = append(b, byte(xflags))
	}
	if xflags&xmitSameName != 0 {
		b = append(b, byte(l1))
	}
	if xflags&xmitLongName != 0 {
		b = e.appendVarint30(b, int32(l2))
	} else {
		b = append(b, byte(l2))
	}
	b = append(b, name[l1:]...)
	e.prev = name

	if firstNdx >= 0 {
		b = wire.AppendVarint(b, firstNdx)
		if firstNdx >= o.NdxStart {
			return b
		}
	}

	b = e.appendVarlong30(b, f.Size, 3)
	if xflags&xmitSameTime == 0 {
		if proto >= 30 {
			b = wire.AppendVarlong(b, e.modTime, 4)
		} else {
			b = binary.LittleEndian.AppendUint32(b, uint32(e.modTime))
		}
	}
	if xflags&xmitModNsec != 0 {
		b = wire.AppendVarint(b, f.ModNsec)
	}
	if o.PreserveCrtimes && xflags&xmitCrtimeEqMtime == 0 {
		b = wire.AppendVarlong(b, f.Crtime, 4)
	}
	if xflags&xmitSameMode == 0 {
		b = binary.LittleEndian.AppendUint32(b, mode)
	}
	if o.PreserveAtimes && !isDir && xflags&xmitSameAtime == 0 {
		b = wire.AppendVarlong(b, e.atime, 4)
	}
	if o.PreserveUID && xflags&xmitSameUID == 0 {
		b = e.appendVarint30(b, int32(e.uid))
		if proto >= 30 && xflags&xmitUserNameFollows != 0 {
			b = append(b, byte(len(userName)))
			b = append(b, userName...)
		}
	}
	if o.PreserveGID && xflags&xmitSameGID == 0 {
		b = e.appendVarint30(b, int32(e.gid))
		if proto >= 30 && xflags&xmitGroupNameFollow != 0 {
			b = append(b, byte(len(groupName)))
			b = append(b, groupName...)
		}
	}
	if sendRdev {
		if proto < 28 {
			if xflags&xmitSameRdevPre28 == 0 {
				b = binary.LittleEndian.AppendUint32(b, e.rdev27)
			}
		} else {
			if xflags&xmitSameRdevMajor == 0 {
				b = e.appendVarint30(b, int32(e.rdevMajor))
			}
			switch {
			case proto >= 30:
				b = wire.AppendVarint(b, int32(rdevMinor))
			case xflags&xmitRdevMinor8Pre30 != 0:
				b = append(b, byte(rdevMinor))
			default:
				b = binary.LittleEndian.AppendUint32(b, rdevMinor)
			}
		}
	}
	if o.PreserveLinks && f.IsSymlink() {
		b = e.appendVarint30(b, int32(len(f.LinkTarget)))
		b = append(b, f.LinkTarget...)
	}
	if hlinked && proto < 30 {
		// The device goes 1-incremented so that it is never zero.
		if xflags&xmitSameDevPre30 == 0 {
			b = wire.AppendLongint(b, e.dev+1)
		}
		b = wire.AppendLongint(b, f.HLinkIno)
	}
	if o.AlwaysChecksum {
		if f.IsRegular() {
			b = append(b, f.Checksum...)
		} else if proto < 28 {
			for range o.ChecksumLen {
				b = append(b, 0)
			}
		}
	}
	return b
}

// End writes the end of the list. A nonzero ioError travels in the end
// marker where the connection allows it (varint flags or safe file lists);
// otherwise WriteTrailer carries it.
func (e *Encoder) End(ioError int32) error {
	if e.err != nil {
		return e.err
	}
	var b []byte
	inMarker := ioError != 0 && e.o.safeFlist()
	switch {
	case e.o.VarintFlags:
		v := int32(0)
		if inMarker {
			v = ioError
		}
		b = wire.AppendVarint([]byte{0}, v)
	case inMarker:
		b = binary.LittleEndian.AppendUint16(nil, xmitExtendedFlags|xmitIOErrorEndList)
		b = wire.AppendVarint(b, ioError)
	default:
		b = []byte{0}
	}
	if _, err := e.w.Write(b); err != nil {
		e.err = fmt.Errorf("flist: writing end of list: %w", err)
		return e.err
	}
	return nil
}

// WriteTrailer writes what follows the end marker without incremental
// recursion: the uid and gid lists (unless --numeric-ids), then before
// protocol 30 the io_error word. From protocol 30 an io_error that the end
// marker could not carry goes out as MSG_IO_ERROR, which needs a
// multiplexed writer.
func (e *Encoder) WriteTrailer(ioError int32) error {
	if e.err != nil {
		return e.err
	}
	o := &e.o
	var b []byte
	if !o.IncRecurse && !o.NumericIDs {
		if o.PreserveUID {
			b = e.appendIDList(b, &e.users, "root")
		}
		if o.PreserveGID {
			b = e.appendIDList(b, &e.groups, "root")
		}
	}
	if o.Protocol < 30 {
		b = binary.LittleEndian.AppendUint32(b, uint32(ioError))
	}
	if _, err := e.w.Write(b); err != nil {
		e.err = fmt.Errorf("flist: writing id lists: %w", err)
		return e.err
	}
	if o.Protocol >= 30 && !o.safeFlist() && ioError != 0 {
		if err := e.w.WriteMsgInt32(wire.MsgIOError, ioError); err != nil {
			e.err = fmt.Errorf("flist: sending io_error: %w", err)
			return e.err
		}
	}
	return nil
}

// appendIDList appends one id list the way rsync's send_one_list does:
// named ids other than 0, most recently seen first, then the terminating
// 0, which with CF_ID0_NAMES carries the name of id 0.
func (e *Encoder) appendIDList(b []byte, l *idList, name0 string) []byte {
	for i := len(l.ids) - 1; i >= 0; i-- {
		if l.ids[i] == 0 || l.names[i] == "" {
			continue
		}
		b = e.appendVarint30(b, int32(l.ids[i]))
		b = append(b, byte(len(l.names[i])))
		b = append(b, l.names[i]...)
	}
	b = e.appendVarint30(b, 0)
	if e.o.ID0Names {
		if l.name0 != "" {
			name0 = l.name0
		}
		b = append(b, byte(len(name0)))
		b = append(b, name0...)
	}
	return b
}
