package filter

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
)

// ReadFunc returns the contents of a merge file. A missing file is reported
// with an error wrapping fs.ErrNotExist (a directory with syscall.EISDIR);
// for a per-directory file both mean "no rules here", as in rsync, while any
// other error fails the call. The function must confine the name to the
// module (an os.Root does) and should bound the size it reads.
type ReadFunc func(name string) ([]byte, error)

// MaxMergeDepth bounds nested merge files, as rsync does.
const MaxMergeDepth = 32

// MaxMergeFileSize bounds the contents of one merge file.
const MaxMergeFileSize = 16 << 20

// defaultCVSIgnore is rsync's built-in --cvs-exclude list.
const defaultCVSIgnore = "RCS SCCS CVS CVS.adm RCSLOG cvslog.* tags TAGS .make.state .nse_depinfo " +
	"*~ #* .#* ,* _$* *$ *.old *.bak *.BAK *.orig *.rej .del-* *.a *.olb *.o *.obj " +
	"*.so *.exe *.Z *.elc *.ln core .svn/ .git/ .hg/ .bzr/"

// Config describes the transfer a List serves.
type Config struct {
	// Protocol is the negotiated protocol (the CVS list is perishable
	// from 30 on).
	Protocol int
	// Root is the transfer root's path relative to the module root ("" for
	// the module root itself). Absolute-path rules ('/' modifier, anchored
	// rules from per-directory files) see it in front of every name, and
	// per-directory merge files are located relative to the module root.
	Root string
	// DeleteExcluded (--delete-excluded) makes plain rules read from
	// per-directory files (and files they merge) sender-only, as rsync's
	// parser does. Rules given to Add are taken as they are: a client
	// applies the option to its own rules before sending them.
	DeleteExcluded bool
}

// List is an ordered rule list with rsync's per-directory merge support.
// Check and Match may run concurrently with each other, but not with Add,
// EnterDir or LeaveDir.
type List struct {
	cfg      Config
	top      []*node
	merges   []*mergeState // active dir-merge rules, in definition order
	frames   []frame
	cvs      []*node
	cvsBuilt bool
	dirMerge bool
}

// mergeState is one active dir-merge rule and the rules its files gave for
// the current directory: the local file first, then inherited ones.
type mergeState struct {
	n       *node
	name    string // file to read in each directory
	pending bool   // the parent-directory scan has not run yet
	removed bool
	cur     *chain
}

// chain is a directory's rules followed by those it inherits; inherited
// links are shared with the parent directories and never modified.
type chain struct {
	nodes []*node
	next  *chain
}

func link(local []*node, inherit *chain) *chain {
	if len(local) == 0 {
		return inherit
	}
	return &chain{nodes: local, next: inherit}
}

type frame struct {
	nMerges int
	saved   []*chain
}

// New returns an empty list.
func New(cfg Config) *List {
	cfg.Root = cleanPath(cfg.Root)
	return &List{cfg: cfg}
}

// Len reports how many top-level rules the list holds.
func (l *List) Len() int { return len(l.top) }

// HasDirMerge reports whether a dir-merge rule was added. rsync then stops
// rejecting file-list names its own rules exclude (--trust-sender-filter),
// since the sender's per-directory files decide.
func (l *List) HasDirMerge() bool { return l.dirMerge }

// Depth reports how many EnterDir calls are not yet left.
func (l *List) Depth() int { return len(l.frames) }

// addCtx says where parsed rules go and how names in them resolve.
type addCtx struct {
	dst     *[]*node
	inherit **chain // per-directory lists: what '!' also drops
	top     bool    // the top-level list: merge names go to read verbatim
	dir     string  // per-directory: module-relative directory of the file
	anchor  bool    // leading '/' anchors at dir (rules of a per-dir file)
	scan    bool    // reading parent directories for a dir-merge rule
	read    ReadFunc
	depth   int
}

// Add appends rules (as Parse returns them) to the top-level list, in
// order: a Clear rule empties it, a Merge rule is replaced by the rules of
// its file (read with read, which receives the name as written; nil makes
// merge rules an error), a DirMerge rule starts a per-directory list. Add
// all rules before the first EnterDir.
func (l *List) Add(rules []Rule, read ReadFunc) error {
	if len(l.frames) > 0 {
		return errors.New("filter: Add after EnterDir")
	}
	ctx := &addCtx{dst: &l.top, top: true, read: read}
	for _, r := range rules {
		if err := l.add(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func (l *List) add(ctx *addCtx, r Rule) error {
	f := r.flags()
	switch {
	case f&fClear != 0:
		l.dropMerges(*ctx.dst)
		*ctx.dst = nil
		if ctx.inherit != nil {
			*ctx.inherit = nil
		}
		return nil
	case f&fMerge != 0 && f&uint32(ModExcludeSelf) != 0:
		// Rules built by hand may still carry 'e'; Parse expands it.
		if base := r.Pattern[strings.LastIndexByte(r.Pattern, '/')+1:]; base != "" {
			*ctx.dst = append(*ctx.dst, compileNode(0, base))
		}
		r.Mods &^= ModExcludeSelf
		return l.add(ctx, r)
	case f&fPerDir != 0:
		return l.addDirMerge(ctx, r, f)
	case f&fMerge != 0:
		return l.mergeFile(ctx, r, f)
	case f&uint32(ModCVS) != 0:
		l.buildCVS(f)
		*ctx.dst = append(*ctx.dst, compileNode(f, ""))
		return nil
	}
	pat := r.Pattern
	if r.Mods&ModDirOnly == 0 && len(pat) > 1 && pat[len(pat)-1] == '/' {
		// A hand-built rule with the slash still on.
		pat = pat[:len(pat)-1]
		f |= uint32(ModDirOnly)
	}
	if ctx.anchor && f&uint32(ModAbsolute) == 0 && strings.HasPrefix(pat, "/") {
		// An anchored rule of a per-directory file is rooted at that
		// file's directory.
		f |= uint32(ModAbsolute)
		if ctx.dir != "" {
			pat = "/" + ctx.dir + pat
		}
	}
	*ctx.dst = append(*ctx.dst, compileNode(f, pat))
	return nil
}

// dropMerges deactivates the dir-merge rules among nodes (a '!' cleared them).
func (l *List) dropMerges(nodes []*node) {
	for _, n := range nodes {
		if n.merge != nil {
			n.merge.removed = true
		}
	}
}

func (l *List) addDirMerge(ctx *addCtx, r Rule, f uint32) error {
	name := r.Pattern
	if ctx.scan {
		// Found while scanning parent directories: the name is rooted
		// at the directory holding the file.
		name = "/" + joinPath(ctx.dir, name)
	}
	base := name[strings.LastIndexByte(name, '/')+1:]
	for _, m := range l.merges {
		if m.removed {
			continue
		}
		if m.name[strings.LastIndexByte(m.name, '/')+1:] == base {
			return nil // rsync reads each merge-file name once
		}
	}
	n := compileNode(f, name)
	n.merge = &mergeState{n: n, name: name, pending: true}
	l.merges = append(l.merges, n.merge)
	l.dirMerge = true
	*ctx.dst = append(*ctx.dst, n)
	return nil
}

// mergeFile reads a single-instance merge file into the current list.
func (l *List) mergeFile(ctx *addCtx, r Rule, f uint32) error {
	if ctx.depth >= MaxMergeDepth {
		return fmt.Errorf("filter: merge files nested deeper than %d at %q", MaxMergeDepth, r.Pattern)
	}
	if ctx.read == nil {
		return fmt.Errorf("filter: merge file %q: merge rules are not allowed here", r.Pattern)
	}
	name := r.Pattern
	if !ctx.top {
		name = l.mergeName(ctx.dir, name)
	}
	data, err := ctx.read(name)
	if err != nil {
		return fmt.Errorf("filter: merge file %q: %w", r.Pattern, err)
	}
	if len(data) > MaxMergeFileSize {
		return fmt.Errorf("filter: merge file %q is larger than %d bytes", r.Pattern, MaxMergeFileSize)
	}
	sub := *ctx
	sub.depth++
	sub.anchor = false // rsync reads nested files without dir anchoring
	xf := 0
	if !ctx.top && l.cfg.DeleteExcluded {
		xf |= xDeleteExcluded
	}
	return parseLines(data, f, xf, func(r Rule) error { return l.add(&sub, r) })
}

// mergeName resolves a merge-file name met in a per-directory file, as rsync
// does: a bare name is relative to the transfer root (rsync's working
// directory), a name with a '/' to the file's directory, an absolute name to
// the module root. The result is module-relative and cannot leave the
// module.
func (l *List) mergeName(dir, name string) string {
	switch {
	case strings.HasPrefix(name, "/"):
		return cleanPath(name)
	case strings.IndexByte(name, '/') < 0:
		return joinPath(l.cfg.Root, name)
	}
	return joinPath(dir, name)
}

func (l *List) buildCVS(f uint32) {
	if l.cvsBuilt {
		return
	}
	l.cvsBuilt = true
	if l.cfg.Protocol >= 30 {
		f |= uint32(ModPerishable)
	}
	ctx := &addCtx{dst: &l.cvs}
	// The built-in words always parse.
	_ = parseString(defaultCVSIgnore, f, 0, func(r Rule) error { return l.add(ctx, r) })
}

// EnterDir makes the rules of every active dir-merge rule follow the
// directory relDir (relative to the transfer root, "" for the root itself):
// it reads each merge file there with read (which receives module-relative
// paths) and stacks the result on what the parent directory passed down.
// Calls nest: enter the root first, then each subdirectory, and LeaveDir on
// the way back up.
func (l *List) EnterDir(relDir string, read ReadFunc) error {
	dir := joinPath(l.cfg.Root, relDir)
	var fr frame
	if k := len(l.frames); k < cap(l.frames) {
		fr = l.frames[:k+1][k] // reuse the saved slice's memory
	}
	fr.nMerges = len(l.merges)
	fr.saved = fr.saved[:0]
	for _, m := range l.merges {
		fr.saved = append(fr.saved, m.cur)
	}
	l.frames = append(l.frames, fr)

	// Rules read here may add dir-merge rules, which are read here too.
	for i := 0; i < len(l.merges); i++ {
		m := l.merges[i]
		if m.removed {
			continue
		}
		inherit := m.cur
		if m.n.f&uint32(ModNoInherit) != 0 {
			inherit = nil
		}
		var err error
		if m.pending {
			m.pending = false
			if inherit, err = l.scanParents(m, dir, inherit, read); err != nil {
				return err
			}
		}
		if m.cur, err = l.readPerDir(m, dir, inherit, read, false); err != nil {
			return err
		}
	}
	return nil
}

// LeaveDir undoes the matching EnterDir (also one that failed).
func (l *List) LeaveDir() {
	k := len(l.frames) - 1
	if k < 0 {
		return
	}
	fr := l.frames[k]
	l.frames = l.frames[:k]
	for _, m := range l.merges[fr.nMerges:] {
		m.removed = true
	}
	clear(l.merges[fr.nMerges:])
	l.merges = l.merges[:fr.nMerges]
	for i, m := range l.merges {
		m.cur = fr.saved[i]
	}
}

// scanParents runs once per dir-merge rule whose name holds a '/': the name
// becomes its base name, and if its directory is dir or above, the file is
// read in every directory from there down to dir's parent first (rsync's
// "parent_dirscan", e.g. for -F's ": /.rsync-filter").
func (l *List) scanParents(m *mergeState, dir string, inherit *chain, read ReadFunc) (*chain, error) {
	if strings.IndexByte(m.name, '/') < 0 {
		return inherit, nil
	}
	full := cleanPath(m.name)
	if !strings.HasPrefix(m.name, "/") {
		full = joinPath(dir, m.name)
	}
	mdir, base := "", full
	if k := strings.LastIndexByte(full, '/'); k >= 0 {
		mdir, base = full[:k], full[k+1:]
	}
	m.name = base
	if base == "" || !isAncestor(mdir, dir) {
		return inherit, nil
	}
	for d := mdir; d != dir; {
		c, err := l.readPerDir(m, d, inherit, read, true)
		if err != nil {
			return nil, err
		}
		inherit = c
		if m.n.f&uint32(ModNoInherit) != 0 {
			inherit = nil
		}
		rest := dir[len(d):]
		if d != "" {
			rest = rest[1:]
		}
		next := rest
		if k := strings.IndexByte(rest, '/'); k >= 0 {
			next = rest[:k]
		}
		d = joinPath(d, next)
	}
	return inherit, nil
}

// readPerDir reads m's file in dir and returns its rules in front of inherit.
func (l *List) readPerDir(m *mergeState, dir string, inherit *chain, read ReadFunc, scan bool) (*chain, error) {
	if read == nil {
		return nil, errors.New("filter: a dir-merge rule needs a read function")
	}
	if m.name == "" || m.name == "." || m.name == ".." {
		return inherit, nil // names a directory: rsync reads nothing from it
	}
	path := joinPath(dir, m.name)
	data, err := read(path)
	if err != nil {
		// rsync reads nothing from a missing file or a directory.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) {
			return inherit, nil
		}
		return nil, fmt.Errorf("filter: per-directory merge file %q: %w", path, err)
	}
	if len(data) > MaxMergeFileSize {
		return nil, fmt.Errorf("filter: per-directory merge file %q is larger than %d bytes", path, MaxMergeFileSize)
	}
	var local []*node
	ctx := &addCtx{dst: &local, inherit: &inherit, dir: dir, anchor: true, scan: scan, read: read, depth: 1}
	xf := xAnchoredAbs
	if l.cfg.DeleteExcluded {
		xf |= xDeleteExcluded
	}
	err = parseLines(data, m.n.f, xf, func(r Rule) error { return l.add(ctx, r) })
	if err != nil {
		return nil, fmt.Errorf("filter: per-directory merge file %q: %w", path, err)
	}
	return link(local, inherit), nil
}

// Check returns the decision of the first rule that applies to path (a
// name relative to the transfer root, such as "dir/file") for side.
func (l *List) Check(path string, side Side, fl Flags) Result {
	return l.check(l.top, path, side, fl)
}

// Match reports whether path is excluded for side: on the sender, left out
// of the file list; on the receiver, protected from deletion.
func (l *List) Match(path string, isDir bool, side Side) bool {
	var fl Flags
	if isDir {
		fl = IsDir
	}
	return l.check(l.top, path, side, fl) == Excluded
}

// ExcludedPath is Match that also checks every parent directory of path,
// as rsync applies a daemon's own filter to names a client asks for.
func (l *List) ExcludedPath(path string, isDir bool, side Side) bool {
	for i := 1; i < len(path); i++ {
		if path[i] == '/' && l.check(l.top, path[:i], side, IsDir) == Excluded {
			return true
		}
	}
	return l.Match(path, isDir, side)
}

func (l *List) check(nodes []*node, path string, side Side, fl Flags) Result {
	for _, n := range nodes {
		if fl&IgnorePerishable != 0 && n.f&uint32(ModPerishable) != 0 {
			continue
		}
		if n.merge != nil {
			for c := n.merge.cur; c != nil; c = c.next {
				if r := l.check(c.nodes, path, side, fl); r != NoMatch {
					return r
				}
			}
			continue
		}
		if n.f&uint32(ModCVS) != 0 {
			if r := l.check(l.cvs, path, side, fl); r != NoMatch {
				return r
			}
			continue
		}
		if !onSide(n.f, side) || !n.applies(path, fl, l.cfg.Root) {
			continue
		}
		if n.f&fInclude != 0 {
			return Included
		}
		return Excluded
	}
	return NoMatch
}

// onSide reports whether a rule with flags f takes part on side.
func onSide(f uint32, side Side) bool {
	switch f & fSides {
	case uint32(ModSender):
		return side != Receiver
	case uint32(ModReceiver):
		return side != Sender
	}
	return true
}

// Rules returns the top-level rules, as rsync would list them (merge files
// already expanded, per-directory contents not included).
func (l *List) Rules() []Rule {
	out := make([]Rule, 0, len(l.top))
	for _, n := range l.top {
		p := n.pattern
		if n.anchored {
			p = "/" + p
		}
		out = append(out, ruleFrom(n.f, p))
	}
	return out
}

// cleanPath makes p relative, without "." or empty elements, with ".."
// resolved and unable to climb above the top.
func cleanPath(p string) string {
	if !strings.Contains(p, "//") && !strings.Contains(p, ".") && !strings.HasPrefix(p, "/") && !strings.HasSuffix(p, "/") {
		return p
	}
	var parts []string
	for _, e := range strings.Split(p, "/") {
		switch e {
		case "", ".":
		case "..":
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			parts = append(parts, e)
		}
	}
	return strings.Join(parts, "/")
}

// joinPath joins a clean relative dir and a relative name, cleaning.
func joinPath(dir, name string) string {
	if dir == "" {
		return cleanPath(name)
	}
	return cleanPath(dir + "/" + name)
}

// isAncestor reports whether a is b or a directory above it.
func isAncestor(a, b string) bool {
	return a == "" || a == b || (strings.HasPrefix(b, a) && b[len(a)] == '/')
}
