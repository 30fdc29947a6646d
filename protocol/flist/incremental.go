package flist

import (
	"fmt"
	"strings"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Incremental recursion (CF_INC_RECURSE, protocol 30+) sends one list for
// the top level and then one per directory, interleaved with file data.
// rsync carries the entry compression state (previous name, mode, times,
// owner) from one list into the next, so every list of a connection goes
// through the same Decoder or Encoder.

// ListReader reads the successive file lists of an incremental recursion.
type ListReader struct {
	d      *Decoder
	sorter Sorter
	spare  Spares[File] // Recycle's
}

// maxSpare bounds the entries Recycle keeps for later lists.
const maxSpare = 16384

// NewListReader reads the lists of an incremental recursion from r; o must
// have IncRecurse set.
func NewListReader(r *wire.Reader, o Options) *ListReader {
	d := NewDecoder(r, o)
	if d.err == nil && !o.IncRecurse {
		d.err = fmt.Errorf("flist: a list reader needs incremental recursion")
	}
	return &ListReader{d: d, spare: Spares[File]{Max: maxSpare}}
}

// Read reads the next list, whose first entry has wire index ndxStart, up
// to its end marker, and sorts and cleans it as rsync's receiver does. dir
// is the name of the directory the list describes ("" for the first list,
// whose entries are the top level): an entry elsewhere aborts the transfer,
// as rsync's recv_file_list does. The list's IOError holds what its end
// marker carried.
func (lr *ListReader) Read(ndxStart int32, dir string) (*List, error) {
	d := lr.d
	if d.err != nil {
		return nil, d.err
	}
	if ndxStart < 0 {
		return nil, fmt.Errorf("flist: negative index start %d", ndxStart)
	}
	d.o.NdxStart = ndxStart
	d.done, d.count, d.ioError, d.nameBytes = false, 0, 0, 0
	// Abbreviated hard-link entries only refer to the same list.
	d.firsts = nil
	files, err := d.readAll(lr.spare.Get)
	if err != nil {
		return nil, err
	}
	for i := range files {
		if got := parentOf(files[i].Name, d.o.RelativePaths); got != dir {
			return nil, fmt.Errorf("flist: invalid path from sender: %q is not in %q", files[i].Name, dir)
		}
	}
	lr.sorter.SortAndClean(files, d.o.Protocol, d.o.RelativePaths)
	return &List{Files: files, NdxStart: ndxStart, IOError: d.ioError, UIDNames: d.uidNames, GIDNames: d.gidNames}, nil
}

// Recycle hands back the entries of a list Read returned, which nothing
// refers to any more, for a later list to be decoded into: a receiver
// done with its lists then decodes the next ones without allocating.
func (lr *ListReader) Recycle(files []File) { lr.spare.Put(files) }

// parentOf is the directory part of a decoded name, "" at the top level
// ("." included), as rsync's file->dirname.
func parentOf(name string, relative bool) string {
	if relative {
		name = strings.TrimPrefix(name, "/")
	}
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ""
	}
	return name[:i]
}

// StartList prepares an Encoder for the next list of an incremental
// recursion, whose first entry gets wire index ndxStart. The entry
// compression state carries over from the previous list, as in rsync.
func (e *Encoder) StartList(ndxStart int32) {
	e.o.NdxStart = ndxStart
	e.count = 0
}
