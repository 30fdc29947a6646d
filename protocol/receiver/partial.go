package receiver

import (
	"path"
	"strings"
)

// Basis types of a transfer request (rsync.h FNAMECMP_*).
const (
	fnamecmpFname      = 0x80
	fnamecmpPartialDir = 0x81
)

// partialName is where a partial file of name is kept: name itself with
// --partial, else inside --partial-dir (relative to the file's directory,
// or to the module root when absolute, as rsyncd confines it).
func (t *transfer) partialName(name string) string {
	pd := t.cfg.PartialDir
	if pd == "" {
		return name
	}
	dir, base := path.Split(name)
	if strings.HasPrefix(pd, "/") {
		return path.Clean(path.Join(pd, base))[1:]
	}
	return path.Join(dir, pd, base)
}

// setBasis records that the generator offered basis (a partial file) for
// index ndx; the receiver reads it back when the data arrives.
func (t *transfer) setBasis(ndx int32, basis string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.basis == nil {
		t.basis = map[int32]string{}
	}
	t.basis[ndx] = basis
}

func (t *transfer) takeBasis(ndx int32) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.basis[ndx]
	delete(t.basis, ndx)
	return b, ok
}

// dropPartial removes a partial file that served as a basis, and its
// --partial-dir when that is now empty.
func (t *transfer) dropPartial(partial string) {
	_ = t.cfg.Root.Remove(partial)
	if t.cfg.PartialDir != "" && !strings.HasPrefix(t.cfg.PartialDir, "/") {
		_ = t.cfg.Root.Remove(path.Dir(partial))
	}
}
