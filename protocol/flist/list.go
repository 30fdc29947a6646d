package flist

import (
	"errors"
	"fmt"
	"io"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// List is a whole file list in the order rsync indexes it: the entry at
// position i has wire index NdxStart+i. Entries with FlagRemoved hold the
// place of dropped duplicates and must be skipped.
//
// Without incremental recursion there is one list and NdxStart is 0, in
// every protocol: the index the generator writes back (write_ndx: a plain
// int32 before protocol 30, the delta encoding of wire.NdxCodec from 30)
// is the position in the sorted list, removed slots included. The order is
// the one rsync sorts into, which depends on the protocol (see Compare):
// from 29 the root "." is always index 0, before 29 names such as "-x"
// sort ahead of it. With incremental recursion the first list starts at
// 1 and each later one at the previous start + its length + 1, the gap
// leaving room for NDX_FLIST_OFFSET-dir announcements.
type List struct {
	Files    []File
	NdxStart int32
	// IOError is the sender's io_error (IOERR_* bits) as received with
	// the list: from the end marker, or the word after the id lists before
	// protocol 30. From protocol 30 without safe file lists the sender
	// reports it as MSG_IO_ERROR instead, which the caller's wire.Reader
	// handler sees.
	IOError int32
	// UIDNames and GIDNames are the id lists (and names sent inline).
	UIDNames, GIDNames map[uint32]string
}

// File returns the entry for a wire index, or nil if the index is outside
// the list or names a removed duplicate.
func (l *List) File(ndx int32) *File {
	i := int64(ndx) - int64(l.NdxStart)
	if i < 0 || i >= int64(len(l.Files)) || l.Files[i].Flags&FlagRemoved != 0 {
		return nil
	}
	return &l.Files[i]
}

// ReadList reads a complete file list as rsync's receiver does without
// incremental recursion (or the first list with it): the entries, the end
// marker, the id lists, and before protocol 30 the io_error word. It fills
// User and Group from the id lists, then sorts and cleans the list
// (SortAndClean) so that positions are wire indexes.
func ReadList(r *wire.Reader, o Options) (*List, error) {
	d := NewDecoder(r, o)
	l := &List{NdxStart: o.NdxStart}
	files, err := d.readAll(nil)
	if err != nil {
		return nil, err
	}
	l.IOError = d.ioError
	l.UIDNames, l.GIDNames = d.uidNames, d.gidNames
	if !o.IncRecurse && !o.NumericIDs {
		// A sender names each id once, and only ids its entries use.
		maxIDs := len(files)
		if o.PreserveUID {
			if l.UIDNames, err = d.readIDList(l.UIDNames, maxIDs); err != nil {
				return nil, fmt.Errorf("flist: uid list: %w", err)
			}
		}
		if o.PreserveGID {
			if l.GIDNames, err = d.readIDList(l.GIDNames, maxIDs); err != nil {
				return nil, fmt.Errorf("flist: gid list: %w", err)
			}
		}
	}
	if o.Protocol < 30 {
		v, err := d.readInt32()
		if err != nil {
			return nil, fmt.Errorf("flist: reading io_error: %w", noEOF(err))
		}
		l.IOError |= v & ioErrValidMask
	}
	for i := range files {
		f := &files[i]
		if o.PreserveUID && f.User == "" {
			f.User = l.UIDNames[f.UID]
		}
		if o.PreserveGID && f.Group == "" {
			f.Group = l.GIDNames[f.GID]
		}
	}
	SortAndClean(files, o.Protocol, o.RelativePaths)
	l.Files = files
	return l, nil
}

// readIDList reads one id list: (id, name) pairs up to id 0, which with
// CF_ID0_NAMES carries a name too. A name of length 0 means none.
func (d *Decoder) readIDList(names map[uint32]string, maxIDs int) (map[uint32]string, error) {
	if names == nil {
		names = make(map[uint32]string)
	}
	for n := 0; ; n++ {
		id, err := d.readVarint30()
		if err != nil {
			return nil, noEOF(err)
		}
		if id == 0 && !d.o.ID0Names {
			return names, nil
		}
		if id != 0 && n >= maxIDs {
			return nil, fmt.Errorf("more than %d ids", maxIDs)
		}
		name, err := d.readShortString()
		if err != nil {
			return nil, noEOF(err)
		}
		if name == "" {
			delete(names, uint32(id))
		} else {
			names[uint32(id)] = name
		}
		if id == 0 {
			return names, nil
		}
	}
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteList sends files, in the order given, as rsync's sender does
// without incremental recursion: the entries, the end marker, the id lists
// and the io_error (see Encoder.End and WriteTrailer). It returns the list
// sorted as the receiver will index it (stable, duplicates kept, as the
// sender keeps them). files is not modified.
func WriteList(w *wire.Writer, o Options, files []File, ioError int32) (*List, error) {
	e := NewEncoder(w, o)
	for i := range files {
		if err := e.Encode(&files[i]); err != nil {
			return nil, err
		}
	}
	if err := e.End(ioError); err != nil {
		return nil, err
	}
	if err := e.WriteTrailer(ioError); err != nil {
		return nil, err
	}
	sorted := make([]File, len(files))
	copy(sorted, files)
	Sort(sorted, o.Protocol)
	return &List{Files: sorted, NdxStart: o.NdxStart, IOError: ioError}, nil
}

// readAll decodes entries up to the end of the list. They land in chunks
// that are copied once into a slice of the final size, rather than in a
// slice that is copied each time it grows.
//
// The first chunk is the decoder's own, reused from list to list: with
// incremental recursion a list per directory arrives, and most are short,
// so each then costs one allocation of exactly its size.
func (d *Decoder) readAll(spare func(n int) []File) ([]File, error) {
	var chunks [][]File
	if d.firstChunk == nil {
		d.firstChunk = make([]File, 0, 256)
	}
	chunk := d.firstChunk[:0]
	// The reused chunk holds no names between lists, so that it keeps no
	// arena block alive.
	n := 0
	defer func() { clear(d.firstChunk[:min(n+1, cap(d.firstChunk))]) }()
	for {
		if len(chunk) == cap(chunk) {
			chunks = append(chunks, chunk)
			chunk = make([]File, 0, min(2*cap(chunk), 8192))
		}
		chunk = chunk[:len(chunk)+1]
		f := &chunk[len(chunk)-1]
		*f = File{}
		err := d.next(f)
		if errors.Is(err, io.EOF) {
			chunk = chunk[:len(chunk)-1]
			break
		}
		if err != nil {
			return nil, err
		}
		n++
	}
	var files []File
	if spare != nil {
		files = spare(n)
	}
	if cap(files) < n {
		files = make([]File, 0, n)
	}
	for _, c := range append(chunks, chunk) {
		files = append(files, c...)
	}
	return files, nil
}
