package flist

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Decoder reads the entries of one file list. rsync compresses each entry
// against the one before it (shared name prefix, same mode, time, owner,
// device major), so a Decoder carries that state from entry to entry.
type Decoder struct {
	r   *wire.Reader
	o   Options
	lim Limits
	err error // sticky: set once, returned forever

	done      bool
	ioError   int32
	count     int   // entries decoded
	nameBytes int64 // bytes of names and link targets decoded

	// State shared with the previous entry, named after rsync's statics.
	prev      [MaxPathLen]byte // raw (uncleaned) previous name
	prevLen   int
	modTime   int64
	atime     int64
	crtime    int64
	mode      uint32
	uid, gid  uint32
	rdevMajor uint32
	rdevMinor uint32
	rdev27    uint32 // protocol 27: the whole device number as sent
	dev       int64  // before protocol 30: hard-link device as sent (dev+1)

	inDelHier  bool // before protocol 30: inside a top dir's hierarchy
	delHierLen int

	scratch    [MaxPathLen]byte
	tmp        [16]byte // fixed-size integers
	arena      arena
	firstChunk []File // readAll's first chunk, reused

	uidNames map[uint32]string // names learned inline (incremental recursion)
	gidNames map[uint32]string
	firsts   map[int32]File     // protocol 30+: first entries of hard-link groups
	devIno   map[[2]int64]int32 // before protocol 30: dev:inode to group number
}

// NewDecoder reads a file list from r with the connection's options.
func NewDecoder(r *wire.Reader, o Options) *Decoder {
	d := &Decoder{r: r, o: o, lim: o.Limits.withDefaults()}
	d.err = o.check()
	return d
}

// Count returns how many entries have been decoded.
func (d *Decoder) Count() int { return d.count }

// IOError returns the io_error value that ended the list (XMIT_IO_ERROR_ENDLIST
// or the varint end marker), masked to the bits rsync defines. It is valid
// once Next has returned io.EOF.
func (d *Decoder) IOError() int32 { return d.ioError }

// Next returns the next entry, or io.EOF at the end of the list. The
// returned File is the caller's.
func (d *Decoder) Next() (*File, error) {
	f := new(File)
	if err := d.next(f); err != nil {
		return nil, err
	}
	return f, nil
}

func (d *Decoder) next(f *File) error {
	if d.err != nil {
		return d.err
	}
	if d.done {
		return io.EOF
	}
	xflags, end, err := d.readFlags()
	if err == nil && end {
		d.done = true
		return io.EOF
	}
	if err == nil {
		if d.count >= d.lim.MaxFiles {
			err = fmt.Errorf("flist: more than %d entries", d.lim.MaxFiles)
		} else {
			err = d.readEntry(f, xflags)
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = fmt.Errorf("flist: entry %d: %w", d.count, err)
		return d.err
	}
	d.count++
	return nil
}

// readFlags reads an entry's flags, or the end of the list.
func (d *Decoder) readFlags() (uint32, bool, error) {
	if d.o.VarintFlags {
		v, err := d.readVarint()
		if err != nil || v != 0 {
			return uint32(v), false, err
		}
		e, err := d.readVarint()
		if err != nil {
			return 0, false, fmt.Errorf("reading io_error at end of list: %w", err)
		}
		d.ioError |= e & ioErrValidMask
		return 0, true, nil
	}
	b, err := d.r.ReadByte()
	if err != nil || b == 0 {
		return 0, err == nil, err
	}
	flags := uint32(b)
	if d.o.Protocol >= 28 && flags&xmitExtendedFlags != 0 {
		b, err = d.r.ReadByte()
		if err != nil {
			return 0, false, err
		}
		flags |= uint32(b) << 8
	}
	if flags == xmitExtendedFlags|xmitIOErrorEndList {
		if !d.o.safeFlist() {
			return 0, false, fmt.Errorf("invalid flist flags %#x without safe file lists", flags)
		}
		e, err := d.readVarint()
		if err != nil {
			return 0, false, fmt.Errorf("reading io_error at end of list: %w", err)
		}
		d.ioError |= e & ioErrValidMask
		return 0, true, nil
	}
	return flags, false, nil
}

// readShortString reads a byte-counted string (user and group names).
func (d *Decoder) readShortString() (string, error) {
	n, err := d.r.ReadByte()
	if err != nil {
		return "", err
	}
	b := d.scratch[:n]
	if err := d.r.ReadFull(b); err != nil {
		return "", err
	}
	return d.arena.str(b), nil
}

func (d *Decoder) addNameBytes(n int) error {
	d.nameBytes += int64(n)
	if d.nameBytes > d.lim.MaxNameBytes {
		return fmt.Errorf("names exceed %d bytes in total", d.lim.MaxNameBytes)
	}
	return nil
}

// readName reads the entry's name into d.prev and returns the cleaned
// copy in d.scratch, with the shared-prefix and new lengths.
func (d *Decoder) readName(xflags uint32) (clean []byte, l1, l2 int, err error) {
	if xflags&xmitSameName != 0 {
		b, err := d.r.ReadByte()
		if err != nil {
			return nil, 0, 0, err
		}
		l1 = int(b)
	}
	if xflags&xmitLongName != 0 {
		v, err := d.readVarint30()
		if err != nil {
			return nil, 0, 0, err
		}
		if v < 0 || int64(v) > int64(d.lim.MaxNameLen) {
			return nil, 0, 0, fmt.Errorf("name length %d out of range", v)
		}
		l2 = int(v)
	} else {
		b, err := d.r.ReadByte()
		if err != nil {
			return nil, 0, 0, err
		}
		l2 = int(b)
	}
	if l1 > d.prevLen {
		return nil, 0, 0, fmt.Errorf("name shares %d bytes with a previous name of %d", l1, d.prevLen)
	}
	if l1+l2 > d.lim.MaxNameLen {
		return nil, 0, 0, fmt.Errorf("name of %d bytes exceeds %d", l1+l2, d.lim.MaxNameLen)
	}
	if err := d.r.ReadFull(d.prev[l1 : l1+l2]); err != nil {
		return nil, 0, 0, err
	}
	d.prevLen = l1 + l2
	n := copy(d.scratch[:], d.prev[:d.prevLen])
	n, err = cleanName(d.scratch[:n], d.o.RelativePaths)
	if err != nil {
		return nil, 0, 0, err
	}
	return d.scratch[:n], l1, l2, nil
}

func (d *Decoder) readEntry(f *File, xflags uint32) error {
	o := &d.o
	proto := o.Protocol
	clean, l1, l2, err := d.readName(xflags)
	if err != nil {
		return err
	}
	if err := d.addNameBytes(len(clean)); err != nil {
		return err
	}
	*f = File{Name: d.arena.str(clean), HLinkGroup: -1}

	firstNdx := int32(-1)
	var first *File
	if proto >= 30 && xflags&(xmitHLinked|xmitHLinkFirst) == xmitHLinked {
		v, err := d.readVarint()
		if err != nil {
			return err
		}
		if v < 0 || int64(v) >= int64(o.NdxStart)+int64(d.count) {
			return fmt.Errorf("hard-link reference %d out of range (%d entries)", v, int64(o.NdxStart)+int64(d.count))
		}
		firstNdx = v
		if v >= o.NdxStart {
			fp, ok := d.firsts[v]
			if !ok {
				return fmt.Errorf("hard-link reference %d is not the first of a group", v)
			}
			first = &fp
		}
	}

	if first != nil {
		// An abbreviated entry: everything but the name comes from the
		// group's first entry, which also becomes the "previous" state.
		f.Size, f.ModTime, f.ModNsec, f.Mode = first.Size, first.ModTime, first.ModNsec, first.Mode
		d.modTime, d.mode = first.ModTime, first.Mode
		if o.PreserveAtimes && !f.IsDir() {
			d.atime = first.Atime
			f.Atime = first.Atime
		}
		if o.PreserveCrtimes {
			d.crtime = first.Crtime
			f.Crtime = first.Crtime
		}
		if o.PreserveUID {
			d.uid = first.UID
		}
		if o.PreserveGID {
			d.gid = first.GID
		}
		f.UID, f.GID = d.uid, d.gid
		if o.PreserveDevices && f.IsDevice() {
			d.rdevMajor, d.rdevMinor = first.RdevMajor, first.RdevMinor
			f.RdevMajor, f.RdevMinor = first.RdevMajor, first.RdevMinor
		}
		f.LinkTarget = first.LinkTarget
		f.Checksum = first.Checksum
	} else if err := d.readAttrs(f, xflags); err != nil {
		return err
	}

	if f.Size < 0 {
		return fmt.Errorf("negative size %d for %q", f.Size, f.Name)
	}
	if (f.Name == "." || f.Name == "/.") && !f.IsDir() {
		return fmt.Errorf("transfer root %q is not a directory (mode %#o)", f.Name, f.Mode)
	}

	if f.IsDir() {
		d.dirFlags(f, xflags, l1, l2)
	}
	if err := d.readHardLink(f, xflags, firstNdx); err != nil {
		return err
	}

	if o.AlwaysChecksum && (f.IsRegular() || proto < 28) && first == nil {
		b := d.scratch[:o.ChecksumLen]
		if err := d.r.ReadFull(b); err != nil {
			return err
		}
		if f.IsRegular() {
			f.Checksum = d.arena.bytes(b)
		}
	}

	if o.PreserveUID && f.User == "" {
		f.User = d.uidNames[f.UID]
	}
	if o.PreserveGID && f.Group == "" {
		f.Group = d.gidNames[f.GID]
	}
	if f.Flags&FlagHLinkFirst != 0 {
		if d.firsts == nil {
			d.firsts = make(map[int32]File)
		}
		d.firsts[f.HLinkGroup] = *f
	}
	return nil
}

// readAttrs reads everything after the name of a full (not abbreviated)
// entry, up to the symlink target.
func (d *Decoder) readAttrs(f *File, xflags uint32) error {
	o := &d.o
	proto := o.Protocol
	r := d.r
	var err error
	if f.Size, err = d.readVarlong30(3); err != nil {
		return err
	}
	if xflags&xmitSameTime == 0 {
		if proto >= 30 {
			if d.modTime, err = d.readVarlong(4); err != nil {
				return err
			}
		} else {
			v, err := d.readInt32()
			if err != nil {
				return err
			}
			d.modTime = int64(uint32(v))
		}
	}
	f.ModTime = d.modTime
	if xflags&xmitModNsec != 0 {
		v, err := d.readVarint()
		if err != nil {
			return err
		}
		if v < 0 || v > maxWireNsec {
			return fmt.Errorf("mtime nanoseconds %d out of range", v)
		}
		f.ModNsec = v
	}
	if o.PreserveCrtimes {
		if xflags&xmitCrtimeEqMtime != 0 {
			d.crtime = d.modTime
		} else if d.crtime, err = d.readVarlong(4); err != nil {
			return err
		}
		f.Crtime = d.crtime
	}
	if xflags&xmitSameMode == 0 {
		v, err := d.readInt32()
		if err != nil {
			return err
		}
		d.mode = uint32(v)
	}
	// Checked on every entry: XMIT_SAME_MODE on the first one yields the
	// initial mode 0, which only --delete-missing-args may use.
	if !validType(d.mode) && !(d.mode == 0 && o.DeleteMissingArgs) {
		return fmt.Errorf("invalid file mode %#o for %q", d.mode, f.Name)
	}
	f.Mode = d.mode
	if o.PreserveAtimes && !f.IsDir() {
		if xflags&xmitSameAtime == 0 {
			if d.atime, err = d.readVarlong(4); err != nil {
				return err
			}
		}
		f.Atime = d.atime
	}
	if o.PreserveUID && xflags&xmitSameUID == 0 {
		v, err := d.readVarint30()
		if err != nil {
			return err
		}
		d.uid = uint32(v)
		if proto >= 30 && xflags&xmitUserNameFollows != 0 {
			name, err := d.readShortString()
			if err != nil {
				return err
			}
			if d.uidNames == nil {
				d.uidNames = make(map[uint32]string)
			}
			d.uidNames[d.uid] = name
		}
	}
	if o.PreserveGID && xflags&xmitSameGID == 0 {
		v, err := d.readVarint30()
		if err != nil {
			return err
		}
		d.gid = uint32(v)
		if proto >= 30 && xflags&xmitGroupNameFollow != 0 {
			name, err := d.readShortString()
			if err != nil {
				return err
			}
			if d.gidNames == nil {
				d.gidNames = make(map[uint32]string)
			}
			d.gidNames[d.gid] = name
		}
	}
	f.UID, f.GID = d.uid, d.gid

	switch {
	case o.PreserveDevices && f.IsDevice(), o.PreserveSpecials && f.IsSpecial() && proto < 31:
		if err := d.readRdev(xflags); err != nil {
			return err
		}
		if f.IsDevice() {
			f.RdevMajor, f.RdevMinor = d.rdevMajor, d.rdevMinor
		}
		f.Size = 0
	case f.IsDevice():
		f.Size = 0
	case proto < 28:
		d.rdev27 = 0
	}

	if f.IsSymlink() && o.PreserveLinks {
		v, err := d.readVarint30()
		if err != nil {
			return err
		}
		if v < 0 || int64(v) > int64(d.lim.MaxNameLen) {
			return fmt.Errorf("symlink target length %d out of range", v)
		}
		b := d.scratch[:v]
		if err := r.ReadFull(b); err != nil {
			return err
		}
		if bytes.IndexByte(b, 0) >= 0 {
			return fmt.Errorf("symlink target of %q holds a NUL byte", f.Name)
		}
		if err := d.addNameBytes(len(b)); err != nil {
			return err
		}
		f.LinkTarget = d.arena.str(b)
	}
	return nil
}

func (d *Decoder) readRdev(xflags uint32) error {
	r := d.r
	if d.o.Protocol < 28 {
		if xflags&xmitSameRdevPre28 == 0 {
			v, err := d.readInt32()
			if err != nil {
				return err
			}
			d.rdev27 = uint32(v)
		}
		d.rdevMajor, d.rdevMinor = splitDev32(d.rdev27)
		return nil
	}
	if xflags&xmitSameRdevMajor == 0 {
		v, err := d.readVarint30()
		if err != nil {
			return err
		}
		d.rdevMajor = uint32(v)
	}
	switch {
	case d.o.Protocol >= 30:
		v, err := d.readVarint()
		if err != nil {
			return err
		}
		d.rdevMinor = uint32(v)
	case xflags&xmitRdevMinor8Pre30 != 0:
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		d.rdevMinor = uint32(b)
	default:
		v, err := d.readInt32()
		if err != nil {
			return err
		}
		d.rdevMinor = uint32(v)
	}
	return nil
}

// splitDev32 and joinDev32 convert between major/minor and the 32-bit
// device number protocol 27 sends: the low half of Linux's dev_t.
func splitDev32(v uint32) (major, minor uint32) {
	return (v >> 8) & 0xfff, v&0xff | (v>>12)&0xfff00
}

func joinDev32(major, minor uint32) uint32 {
	return (major&0xfff)<<8 | minor&0xff | (minor&0xfff00)<<12
}

// dirFlags sets a directory's FlagTopDir/FlagContentDir/FlagImpliedDir as
// rsync's receiver derives them.
func (d *Decoder) dirFlags(f *File, xflags uint32, l1, l2 int) {
	if d.o.Protocol >= 30 {
		switch {
		case xflags&xmitNoContentDir == 0:
			f.Flags |= FlagContentDir
			if xflags&xmitTopDir != 0 {
				f.Flags |= FlagTopDir
			}
		case xflags&xmitTopDir != 0:
			f.Flags |= FlagImpliedDir
		}
		return
	}
	raw := d.prev[:d.prevLen]
	switch {
	case xflags&xmitTopDir != 0:
		d.inDelHier = d.o.Recurse
		d.delHierLen = 0
		if f.Name != "." && f.Name != "/." {
			d.delHierLen = l1 + l2
		}
		if d.o.RelativePaths && d.delHierLen > 2 && raw[d.delHierLen-1] == '.' && raw[d.delHierLen-2] == '/' {
			d.delHierLen -= 2
		}
		f.Flags |= FlagTopDir | FlagContentDir
	case d.inDelHier:
		if !d.o.RelativePaths || d.delHierLen == 0 ||
			(l1 >= d.delHierLen && d.delHierLen < len(raw) && raw[d.delHierLen] == '/') {
			f.Flags |= FlagContentDir
		} else {
			d.inDelHier = false
		}
	}
}

// readHardLink records hard-link membership: the group reference read
// earlier (protocol 30+) or the dev:inode pair (before 30).
func (d *Decoder) readHardLink(f *File, xflags uint32, firstNdx int32) error {
	o := &d.o
	if !o.PreserveHardLinks {
		return nil
	}
	if o.Protocol < 28 && f.IsRegular() {
		xflags |= xmitHLinked
	}
	if xflags&xmitHLinked == 0 {
		return nil
	}
	linked := !f.IsDir()
	if o.Protocol >= 30 {
		if !linked {
			return nil
		}
		f.Flags |= FlagHLinked
		if xflags&xmitHLinkFirst != 0 {
			f.Flags |= FlagHLinkFirst
			f.HLinkGroup = o.NdxStart + int32(d.count)
		} else {
			f.HLinkGroup = firstNdx
		}
		return nil
	}
	// Before protocol 30 the pair follows for any entry so flagged, even a
	// directory (which rsync then ignores).
	if xflags&xmitSameDevPre30 == 0 {
		v, err := d.readLongint()
		if err != nil {
			return err
		}
		d.dev = v
	}
	ino, err := d.readLongint()
	if err != nil {
		return err
	}
	if !linked {
		return nil
	}
	f.Flags |= FlagHLinked
	f.HLinkDev, f.HLinkIno = d.dev-1, ino
	if d.devIno == nil {
		d.devIno = make(map[[2]int64]int32)
	}
	key := [2]int64{d.dev, ino}
	g, ok := d.devIno[key]
	if !ok {
		g = int32(len(d.devIno))
		d.devIno[key] = g
	}
	f.HLinkGroup = g
	return nil
}
