package flist

import (
	"slices"
	"strings"
)

// Compare orders two entries as rsync's f_name_cmp does for the given
// protocol. Before protocol 29 that is plain byte order of the names. From
// 29 a directory compares as if its name ended in "/", so it sorts right
// before its contents; the files of a directory sort before its
// subdirectories; and the root "." sorts before everything. Entries with
// FlagRemoved sort after all others.
func Compare(a, b *File, protocol int) int {
	ra, rb := a.Flags&FlagRemoved != 0, b.Flags&FlagRemoved != 0
	switch {
	case ra && rb:
		return 0
	case ra:
		return 1
	case rb:
		return -1
	}
	if protocol < 29 {
		return strings.Compare(a.Name, b.Name)
	}
	ka, kb := keyOf(a), keyOf(b)
	return compareNames(&ka, &kb)
}

// Name cursor states, after rsync's f_name_cmp: a name is walked as its
// directory part, a "/", its base name, then for a directory a trailing
// "/". Each cursor also carries whether it is currently inside a "path"
// (directory) or an "item"; where the two disagree at a segment boundary
// the item sorts first.
const (
	stDir = iota
	stSlash
	stBase
	stTrailing
)

type nameCursor struct {
	name  string
	slash int  // index of the last '/', -1 if none
	dir   bool // the entry is a directory
	s     string
	state int
	path  bool
}

func (c *nameCursor) enterBase() {
	c.path = c.dir
	c.s = c.name[c.slash+1:]
	if c.path && c.s == "." {
		c.path = false
		c.state = stTrailing
		c.s = ""
		return
	}
	c.state = stBase
}

func (c *nameCursor) init(name string, slash int, dir bool) {
	c.name, c.dir, c.slash = name, dir, slash
	if c.slash < 0 {
		c.enterBase()
		return
	}
	c.path = true
	c.state = stDir
	c.s = name[:c.slash]
}

// advance moves to the next segment once the current one is used up.
func (c *nameCursor) advance() {
	switch c.state {
	case stDir:
		c.state = stSlash
		c.s = "/"
	case stSlash:
		c.enterBase()
	case stBase:
		c.state = stTrailing
		if c.path {
			c.s = "/"
			return
		}
		c.path = false
	case stTrailing:
		c.path = false
	}
}

func pathOrder(p bool) int {
	if p {
		return 1
	}
	return -1
}

// sortKey is what the order of protocol 29+ looks at: the name, the
// index of its last slash (-1 if none) and whether it is a directory.
type sortKey struct {
	name  string
	slash int
	dir   bool
}

func keyOf(f *File) sortKey {
	return sortKey{f.Name, strings.LastIndexByte(f.Name, '/'), f.IsDir()}
}

// compareNames is f_name_cmp for protocol 29 and later.
func compareNames(a, b *sortKey) int {
	if !a.dir && !b.dir && a.slash == b.slash && a.name[:a.slash+1] == b.name[:b.slash+1] {
		// Two files of one directory (every pair within an incremental
		// list but its subdirectories): the walk is plain byte order of
		// their base names.
		return strings.Compare(a.name[a.slash+1:], b.name[b.slash+1:])
	}
	n1, n2 := a.name, b.name
	// Up to the last slash of their common prefix both names walk the same
	// directory path in the same states, so the walk can start after it,
	// as if the names were siblings there.
	p := 0
	for p < len(n1) && p < len(n2) && n1[p] == n2[p] {
		p++
	}
	s := a.slash
	if s >= p {
		s = p - 1
		for s >= 0 && n1[s] != '/' {
			s--
		}
	}
	s1, s2 := a.slash, b.slash
	if s >= 0 {
		n1, n2 = n1[s+1:], n2[s+1:]
		s1, s2 = s1-(s+1), s2-(s+1) // negative when the slash was the last
	}
	var c1, c2 nameCursor
	c1.init(n1, max(s1, -1), a.dir)
	c2.init(n2, max(s2, -1), b.dir)
	return walkCursors(&c1, &c2)
}

// walkCursors runs f_name_cmp's walk from the cursors' positions.
func walkCursors(c1, c2 *nameCursor) int {
	if c1.path != c2.path {
		return pathOrder(c1.path)
	}
	for {
		if c1.s == "" {
			c1.advance()
			if c2.s != "" && c1.path != c2.path {
				return pathOrder(c1.path)
			}
		}
		if c2.s == "" {
			if c2.state == stTrailing {
				if c1.s == "" {
					return 0
				}
				c2.path = false
			} else {
				c2.advance()
			}
			if c1.path != c2.path {
				return pathOrder(c1.path)
			}
		}
		var ch1, ch2 int
		if c1.s != "" {
			ch1 = int(c1.s[0])
			c1.s = c1.s[1:]
		}
		if c2.s != "" {
			ch2 = int(c2.s[0])
			c2.s = c2.s[1:]
		}
		if d := ch1 - ch2; d != 0 {
			return d
		}
		if ch1 == 0 {
			// Both ran dry at once; rsync cannot get here with the names
			// it accepts, and looping again would not terminate.
			return 0
		}
	}
}

// mergeSort sorts idx stably with cmp, splitting and merging exactly as
// rsync's fsort does, so that even odd names end up in rsync's order.
func mergeSort(idx, tmp []int32, cmp func(a, b int32) int) {
	n := len(idx)
	if n <= 1 {
		return
	}
	n1 := n / 2
	mergeSort(idx[:n1], tmp, cmp)
	mergeSort(idx[n1:], tmp, cmp)
	left, right := idx[:n1], idx[n1:]
	if cmp(left[n1-1], right[0]) <= 0 {
		return // in order already, as the lists an honest sender sends
	}
	// Elements of the left run already in place stay put.
	i := 0
	for cmp(left[i], right[0]) <= 0 {
		i++
		if i == n1 {
			return
		}
	}
	t := tmp[:n1-i]
	copy(t, left[i:])
	out := i
	r := 0
	idx[out] = right[r]
	out++
	r++
	l := 0
	for l < len(t) && r < len(right) {
		if cmp(t[l], right[r]) <= 0 {
			idx[out] = t[l]
			l++
		} else {
			idx[out] = right[r]
			r++
		}
		out++
	}
	copy(idx[out:], t[l:])
}

// Sorter sorts lists as Sort does, keeping its buffers from one list to
// the next: a sender sorts one list per directory.
type Sorter struct {
	idx, tmp []int32
	keys     []sortKey
}

// order returns the permutation that sorts files in rsync's order; it is
// s's until the next call.
func (s *Sorter) order(files []File, protocol int) []int32 {
	n := len(files)
	idx := slices.Grow(s.idx[:0], n)[:n]
	for i := range idx {
		idx[i] = int32(i)
	}
	tmp := slices.Grow(s.tmp[:0], (n+1)/2)[:(n+1)/2]
	// The keys alone, packed, keep the sort in cache.
	keys := slices.Grow(s.keys[:0], n)[:n]
	for i := range files {
		keys[i] = keyOf(&files[i])
	}
	var cmp func(a, b int32) int
	if protocol < 29 {
		cmp = func(a, b int32) int { return strings.Compare(keys[a].name, keys[b].name) }
	} else {
		cmp = func(a, b int32) int { return compareNames(&keys[a], &keys[b]) }
	}
	mergeSort(idx, tmp, cmp)
	clear(keys) // no names kept alive by the buffer
	s.idx, s.tmp, s.keys = idx, tmp, keys
	return idx
}

// permute reorders files in place so that files[i] becomes the old
// files[idx[i]]; idx is consumed.
func permute(files []File, idx []int32) {
	for i := range idx {
		if idx[i] == int32(i) {
			continue
		}
		saved := files[i]
		j := int32(i)
		for {
			k := idx[j]
			idx[j] = j
			if k == int32(i) {
				files[j] = saved
				break
			}
			files[j] = files[k]
			j = k
		}
	}
}

// Sort puts files in rsync's order for the protocol, as the sender does
// before wire indexes are used: stable, keeping duplicates.
func Sort(files []File, protocol int) { new(Sorter).Sort(files, protocol) }

// Sort is the package's Sort with s's buffers.
func (s *Sorter) Sort(files []File, protocol int) {
	for i := range files {
		if files[i].Flags&FlagRemoved != 0 {
			// Removed entries only arise from SortAndClean, which sorts
			// first; keep the general comparator for this odd case.
			idx := make([]int32, len(files))
			for i := range idx {
				idx[i] = int32(i)
			}
			mergeSort(idx, make([]int32, (len(files)+1)/2), func(a, b int32) int {
				return Compare(&files[a], &files[b], protocol)
			})
			permute(files, idx)
			return
		}
	}
	permute(files, s.order(files, protocol))
}

// SortAndClean sorts a received list and drops duplicates the way rsync's
// receiver does (flist_sort_and_clean): of two equal names the first stays,
// except that a directory beats a non-directory of the same name (its
// contents may follow), in which case the directory's vital flags are
// merged. A dropped entry keeps its slot with FlagRemoved, so positions
// stay wire indexes. With stripRoot (--relative) leading slashes are
// removed after sorting.
func SortAndClean(files []File, protocol int, stripRoot bool) {
	new(Sorter).SortAndClean(files, protocol, stripRoot)
}

// SortAndClean is the package's SortAndClean with s's buffers.
func (s *Sorter) SortAndClean(files []File, protocol int, stripRoot bool) {
	s.Sort(files, protocol)
	if len(files) == 0 {
		return
	}
	low := 0
	for low < len(files) && files[low].Flags&FlagRemoved != 0 {
		low++
	}
	if low == len(files) {
		return
	}
	prev := low
	for i := low + 1; i < len(files); i++ {
		f := &files[i]
		if f.Flags&FlagRemoved != 0 {
			continue
		}
		j := -1
		if Compare(f, &files[prev], protocol) == 0 {
			j = prev
		} else if protocol >= 29 && f.IsDir() {
			// A directory must not duplicate an earlier non-directory,
			// which sorts elsewhere from protocol 29.
			j = findNonDir(files, low, prev, f.Name, protocol)
		}
		if j < 0 {
			prev = i
			continue
		}
		keep, drop := j, i
		if f.IsDir() {
			if fp := &files[j]; !fp.IsDir() {
				keep, drop = i, j
			} else {
				fp.Flags |= f.Flags & (FlagTopDir | FlagContentDir)
				fp.Flags &= f.Flags | ^FlagImpliedDir
			}
		}
		files[drop].Flags |= FlagRemoved
		if keep == i {
			if low == drop {
				k := drop + 1
				for k < i && files[k].Flags&FlagRemoved != 0 {
					k++
				}
				low = k
			}
			prev = i
		}
	}
	if stripRoot {
		for i := range files {
			// cleanName left at most one leading slash and never a lone
			// "/"; "/." becomes the root ".".
			if n := files[i].Name; len(n) > 1 && n[0] == '/' {
				files[i].Name = n[1:]
			}
		}
	}
}

// findNonDir binary-searches files[low..high] (sorted, possibly with
// removed entries) for a live non-directory named name.
func findNonDir(files []File, low, high int, name string, protocol int) int {
	probe := File{Name: name, Mode: ModeRegular}
	for low <= high {
		mid := (low + high) / 2
		up := mid
		for up <= high && files[up].Flags&FlagRemoved != 0 {
			up++
		}
		if up > high {
			high = mid - 1
			continue
		}
		switch d := Compare(&files[up], &probe, protocol); {
		case d == 0:
			return up
		case d < 0:
			low = up + 1
		default:
			high = mid - 1
		}
	}
	return -1
}
