package sender

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/user"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/checksum"
	"github.com/rsyncd-go/rsyncd-go/protocol/filter"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
	"github.com/rsyncd-go/rsyncd-go/protocol/safelink"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// I/O error bits (rsync.h IOERR_*).
const (
	ioErrGeneral  = 1 << 0
	ioErrVanished = 1 << 1
)

// builder walks the module for send_file_list: entries in files, the
// module-relative path of each in paths (files[i].HLinkGroup holds i until
// the list is sorted, so the sorted list finds its paths again).
type builder struct {
	cfg     *Config
	w       *wire.Writer
	files   []flist.File
	paths   []string
	ioError int32
	users   map[uint32]string
	groups  map[uint32]string
	xferErr bool         // a FERROR_XFER message went out
	filt    *filter.List // the client's rules for the current argument
	base    string       // --files-from: the directory the names are relative to

	lastImplied    string // --relative: the parents sent for the last argument
	impliedDot     bool   // send "." as an implied dir before this argument
	impliedDotSent bool

	// Incremental recursion: directories are listed one level at a time
	// and their contexts noted for the lists of their contents.
	inc       bool
	dirInfo   []*dirNode // per entry of files: a directory's context
	infos     []*dirNode // emit's, per sorted entry
	sorter    flist.Sorter
	argFilt   *argFilter // the rules of the argument being listed
	walkLevel int        // the depth of the directories walk lists
	walkBase  string     // the argument's directory

	lastInc     *dirNode // --relative: the implied directory sent last
	lastIncBase string   // its argument's directory
	lastIncPath string   // its name

	names rootfs.NameBuf // lstatAt's
	st    fileInfo       // lstatAt's result
	dirs  rootfs.Dirs    // the directories walk lists
}

// say sends a message to the client as rsync's rprintf does from a server.
func (b *builder) say(tag wire.MsgTag, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if tag == wire.MsgErrorXfer {
		b.xferErr = true
	}
	_ = b.w.WriteMsg(tag, []byte(msg))
}

// fullName is rsync's full_fname for a daemon: the name relative to the
// module with the module named after it.
func (b *builder) fullName(dir, name string) string {
	p := name
	if dir != "" && dir != "." {
		p = "/" + dir + "/" + name
	}
	return fmt.Sprintf("%q (in %s)", p, b.cfg.Module)
}

// sanitize confines an argument to the module as rsync's sanitize_path
// does: leading slashes go, ".." removes the component before it and is
// dropped at the top, "." stays, and so does a trailing slash.
func sanitize(p string) string {
	trailing := strings.HasSuffix(p, "/")
	var out []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "":
			continue
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			continue
		}
		out = append(out, c)
	}
	s := strings.Join(out, "/")
	if trailing && s != "" {
		s += "/"
	}
	return s
}

// addArg sends one path argument (send_file_list without --relative).
func (b *builder) addArg(arg string) error {
	cfg := b.cfg
	fbuf := sanitize(arg)
	var dir, fn string
	dotDir, follow := false, false
	if cfg.Relative {
		dir, fn = b.splitRelative(fbuf)
		dir = b.inBase(dir)
		c := path.Clean(fn)
		switch {
		case c == ".":
			dotDir = true
		case strings.HasSuffix(fn, "/"):
			follow = true // SLASH_ENDING_NAME
		}
		fn = c
	} else {
		switch {
		case fbuf == "" || fbuf == "./" || fbuf == ".":
			fbuf = "."
			dotDir = true
		case strings.HasSuffix(fbuf, "/"):
			fbuf += "."
			dotDir = true
		case strings.HasSuffix(fbuf, "/."):
			dotDir = true
		}
		fn = fbuf
		if i := strings.LastIndexByte(fbuf, '/'); i >= 0 {
			dir, fn = fbuf[:i], fbuf[i+1:]
		}
		dir = b.inBase(dir)
		if fn == "" {
			fn = "."
			dotDir = true
		}
	}
	follow = follow || dotDir
	disk := path.Join(dir, fn)
	// The client's rules see names relative to this argument's directory,
	// where its per-directory merge files are found too.
	b.filt = filter.New(filter.Config{Protocol: cfg.Protocol, Root: dir})
	if err := b.filt.Add(cfg.ClientRules, cfg.MergeRead); err != nil {
		return rerr.New(rerr.Syntax, "%v", err)
	}
	if b.inc {
		b.argFilt = &argFilter{l: b.filt}
	}
	var st fs.FileInfo
	var err error
	if follow || cfg.CopyDirlinks || cfg.CopyLinks {
		st, err = cfg.Root.Stat(disk)
	} else {
		st, err = cfg.Root.Lstat(disk)
	}
	// The module's rules see module-relative paths, and guard every
	// directory on the way down, the named one included.
	if err == nil && disk != "." && cfg.DaemonFilter != nil && cfg.DaemonFilter.ExcludedPath(disk, st.IsDir(), filter.Sender) {
		err = fs.ErrNotExist
	}
	if err != nil {
		errno := errnoOf(err)
		if errno != syscall.ENOENT {
			b.ioError |= ioErrGeneral
		}
		b.say(wire.MsgErrorXfer, "rsync: [sender] link_stat %s failed: %s (%d)\n", b.fullName(dir, fn), errnoText(errno), int(errno))
		return nil
	}
	if !dotDir && b.excluded(fn, disk, st.IsDir()) {
		return nil
	}
	if st.IsDir() && !cfg.Recursive && !cfg.Dirs {
		b.say(wire.MsgInfo, "skipping directory %s\n", fn)
		return nil
	}
	var flags uint32
	if cfg.Recursive {
		flags = flist.FlagContentDir
	}
	if cfg.Relative && b.impliedDot {
		b.impliedDot = false
		if dst, err := cfg.Root.Stat(dirOrDot(dir)); err == nil && !b.unreadable(nil, dirOrDot(dir), dst) {
			b.addEntry(".", dirOrDot(dir), dst, flist.FlagImpliedDir)
		}
	}
	switch {
	case cfg.Relative && b.inc:
		// Only the first directory of the path goes into the first
		// list; the rest follows in its list (send_file_list).
		if i := strings.IndexByte(fn, '/'); i > 0 {
			b.impliedInc(dir, fn[:i], fn[i+1:], follow, 1)
			return nil
		}
	case cfg.Relative && cfg.ImpliedDirs:
		if i := strings.LastIndexByte(fn, '/'); i > 0 {
			b.sendImpliedDirs(dir, fn[:i])
		}
	}
	if cfg.Recursive || (cfg.Dirs && (dotDir || follow)) {
		if !b.addEntry(fn, disk, st, flist.FlagTopDir|flist.FlagContentDir|flags) {
			return nil
		}
		if st.IsDir() && b.inc {
			// Only a "." argument's contents go into the first list;
			// a named directory's follow in a list of their own.
			af := b.argFilt
			b.walkBase = dir
			if !dotDir {
				b.noteDir(fn, disk, dir, 1, af)
				return nil
			}
			af.setLevel(b, 0, "")
			b.walkLevel = 1
			return b.walk(fn, disk, flags)
		}
		if st.IsDir() {
			return b.walk(fn, disk, flags)
		}
		return nil
	}
	b.addEntry(fn, disk, st, flags)
	return nil
}

// inBase puts an argument's directory under the --files-from base.
func (b *builder) inBase(dir string) string {
	switch {
	case b.base == "" || b.base == ".":
		return dir
	case dir == "":
		return b.base
	}
	return b.base + "/" + dir
}

func dirOrDot(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

// splitRelative splits a --relative argument at "/./" into the directory
// the names are relative to and the name (send_file_name's dir and fn),
// and notes a leading "./" that asks for an implied ".".
func (b *builder) splitRelative(fbuf string) (dir, fn string) {
	fn = fbuf
	if i := strings.Index(fbuf, "/./"); i >= 0 {
		dir, fn = fbuf[:i], strings.TrimLeft(fbuf[i+3:], "/")
	}
	if strings.HasPrefix(fn, "./") && len(fn) > 2 && !b.impliedDotSent {
		b.impliedDot, b.impliedDotSent = true, true
	}
	return dir, fn
}

// sendImpliedDirs sends the parents of a --relative name, those not
// shared with the previous argument's (send_implied_dirs): followed as
// symlinks within the module, flagged implied, unfiltered by the client.
func (b *builder) sendImpliedDirs(dir, prefix string) {
	sent := false
	for i := 0; i <= len(prefix); i++ {
		if i < len(prefix) && prefix[i] != '/' {
			continue
		}
		q := prefix[:i]
		if !sent && (b.lastImplied == q || strings.HasPrefix(b.lastImplied, q+"/")) {
			continue
		}
		sent = true
		disk := path.Join(dir, q)
		st, err := b.cfg.Root.Stat(disk)
		if err == nil && b.cfg.DaemonFilter != nil && b.cfg.DaemonFilter.ExcludedPath(disk, st.IsDir(), filter.Sender) {
			continue
		}
		if err == nil && b.unreadable(nil, disk, st) {
			continue
		}
		if err != nil {
			e := errnoOf(err)
			b.ioError |= ioErrGeneral
			b.say(wire.MsgErrorXfer, "rsync: [sender] link_stat %s failed: %s (%d)\n", b.fullName("", disk), errnoText(e), int(e))
			continue
		}
		flags := flist.FlagImpliedDir
		if !st.IsDir() {
			flags = 0
		}
		b.addEntry(q, disk, st, flags)
	}
	if sent {
		b.lastImplied = prefix
	}
}

// excluded applies the client's rules to the list name and the module's
// rules to the module-relative path.
func (b *builder) excluded(name, disk string, isDir bool) bool {
	if b.filt != nil && b.filt.Match(name, isDir, filter.Sender) {
		return true
	}
	return b.cfg.DaemonFilter != nil && b.cfg.DaemonFilter.Match(disk, isDir, filter.Sender)
}

// walk sends the contents of directory name (send_directory), then, with
// --recursive, those of its subdirectories.
func (b *builder) walk(name, disk string, flags uint32) error {
	if b.filt.HasDirMerge() && !b.inc { // incremental: the caller set the rules' level
		rel := name
		if rel == "." {
			rel = ""
		}
		err := b.filt.EnterDir(rel, b.cfg.MergeRead)
		defer b.filt.LeaveDir()
		if err != nil {
			b.ioError |= ioErrGeneral
			b.say(wire.MsgErrorXfer, "rsync: [sender] %v\n", err)
			return nil
		}
	}
	d, dfd, err := b.dirs.Dir(disk)
	if err != nil {
		b.ioError |= ioErrGeneral
		b.say(wire.MsgErrorXfer, "rsync: [sender] opendir %s failed: %s (%d)\n", b.fullName("", disk), errnoText(errnoOf(err)), int(errnoOf(err)))
		return nil
	}
	var ents []string
	if _, err = d.Seek(0, io.SeekStart); err == nil { // the cache may hold it listed
		ents, err = d.Readdirnames(-1)
	}
	if err != nil {
		b.ioError |= ioErrGeneral
		b.say(wire.MsgErrorXfer, "rsync: [sender] readdir(%s): %v\n", b.fullName("", disk), err)
	}
	start := len(b.files)
	// One allocation per list instead of appends doubling through it.
	b.files, b.paths = slices.Grow(b.files, len(ents)), slices.Grow(b.paths, len(ents))
	// Most often the directory's name in the list is its clean path on
	// disk too; then an entry's disk path is its name, not a second string.
	sameDisk := name == disk && path.Clean(name) == name
	for _, child := range ents {
		cname := child
		if name != "." {
			cname = name + "/" + child
		}
		if len(cname) >= flist.MaxPathLen {
			b.ioError |= ioErrGeneral
			b.say(wire.MsgErrorXfer, "skipping overly long name: %s\n", cname)
			continue
		}
		cdisk := cname
		if !sameDisk {
			cdisk = path.Join(disk, child)
		}
		st, err := b.lstatAt(dfd, child) // dirfd.go
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // vanished while listing
			}
			b.ioError |= ioErrGeneral
			b.say(wire.MsgErrorXfer, "rsync: [sender] readlink_stat(%s) failed: %s (%d)\n", b.fullName("", cdisk), errnoText(errnoOf(err)), int(errnoOf(err)))
			continue
		}
		if b.excluded(cname, cdisk, st.IsDir()) || b.unreadable(d, cdisk, st) {
			continue
		}
		if b.addEntry(cname, cdisk, st, flags) && b.inc && b.files[len(b.files)-1].IsDir() {
			b.noteDir(cname, cdisk, b.walkBase, b.walkLevel, b.argFilt)
		}
	}
	if !b.cfg.Recursive || b.inc {
		return nil
	}
	end := len(b.files)
	for i := start; i < end; i++ {
		if b.files[i].IsDir() {
			if err := b.walk(b.files[i].Name, b.paths[i], flags); err != nil {
				return err
			}
		}
	}
	return nil
}

// addEntry appends one entry (make_file); it reports false when the entry
// is skipped.
func (b *builder) addEntry(name, disk string, st fs.FileInfo, flags uint32) bool {
	cfg := b.cfg
	if st.Mode()&fs.ModeSymlink != 0 && (cfg.CopyLinks || cfg.CopyUnsafeLinks) {
		var ok bool
		if st, ok = b.followLink(name, disk); !ok {
			return false
		}
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	if sys == nil {
		return false
	}
	var fakeLink *string // with fake super: the target a regular file stands in for
	if cfg.FakeSuper {
		if sys, fakeLink = b.fakeStat(disk, sys); sys == nil {
			return false
		}
	}
	f := flist.File{
		Name:       name,
		Mode:       sys.Mode,
		Size:       sys.Size,
		ModTime:    sys.Mtim.Sec,
		ModNsec:    int32(sys.Mtim.Nsec),
		UID:        sys.Uid,
		GID:        sys.Gid,
		HLinkGroup: int32(len(b.files)),
	}
	// Every type goes into the list, as make_file does; the receiver
	// skips what it does not preserve. Sizes are st_size but for devices
	// and specials.
	switch {
	case f.IsDir():
		f.Flags = flags
	case f.IsRegular():
	case f.IsSymlink():
		if cfg.Links {
			t, err := readLink(cfg.Root, disk, fakeLink)
			if err != nil || t == "" || len(t) >= flist.MaxPathLen {
				b.ioError |= ioErrGeneral
				b.say(wire.MsgErrorXfer, "rsync: [sender] readlink %s failed: %v\n", b.fullName("", disk), err)
				return false
			}
			f.LinkTarget = t
			if cfg.MungeSymlinks {
				f.LinkTarget = unmunge(t)
			}
		}
	case f.IsDevice():
		f.RdevMajor, f.RdevMinor = unix.Major(sys.Rdev), unix.Minor(sys.Rdev)
		f.Size = 0
	case f.IsSpecial():
		f.Size = 0
	default:
		return false
	}
	f.Mode = cfg.Chmod.Apply(f.Mode) // after make_file, as send_file_name does
	if cfg.Atimes && !f.IsDir() {
		f.Atime = sys.Atim.Sec
	}
	if cfg.Flist.PreserveUID && !cfg.Flist.NumericIDs {
		f.User = b.userName(f.UID)
	}
	if cfg.Flist.PreserveGID && !cfg.Flist.NumericIDs {
		f.Group = b.groupName(f.GID)
	}
	if cfg.Flist.PreserveHardLinks && !f.IsDir() {
		f.HLinkDev, f.HLinkIno = int64(sys.Dev), int64(sys.Ino)
		if sys.Nlink > 1 && f.IsRegular() {
			f.Flags |= flist.FlagHLinked
		}
	}
	if cfg.Flist.AlwaysChecksum && f.IsRegular() {
		sum, err := b.fileSum(disk)
		if err != nil {
			b.ioError |= ioErrGeneral
			b.say(wire.MsgErrorXfer, "rsync: [sender] checksum of %s failed: %v\n", b.fullName("", disk), err)
			sum = make([]byte, cfg.Flist.ChecksumLen)
		}
		f.Checksum = sum
	}
	b.files = append(b.files, f)
	b.paths = append(b.paths, disk)
	return true
}

// followLink is --copy-links and --copy-unsafe-links: the entry becomes
// what the link points to, found through the module root, so a link out
// of the module is never followed. It returns the link itself where it
// stays a link, and false where the entry is dropped.
func (b *builder) followLink(name, disk string) (fs.FileInfo, bool) {
	cfg := b.cfg
	self, err := cfg.Root.Lstat(disk)
	if err != nil {
		return nil, false
	}
	if !cfg.CopyLinks {
		t, err := cfg.Root.Readlink(disk)
		if err != nil || !unsafeLink(t, name) {
			return self, true
		}
	}
	st, err := cfg.Root.Stat(disk)
	switch {
	case err == nil:
		return st, true
	case errors.Is(err, fs.ErrNotExist):
		b.ioError |= ioErrGeneral
		b.say(wire.MsgErrorXfer, "symlink has no referent: %s\n", b.fullName("", disk))
	default:
		// Out of the module (or a loop): stock's confined open fails the
		// same way when it comes to send the data.
		b.ioError |= ioErrGeneral
		b.say(wire.MsgErrorXfer, "rsync: [sender] send_files failed to open %s: %s (%d)\n", b.fullName("", disk), errnoText(syscall.ELOOP), int(syscall.ELOOP))
	}
	return nil, false
}

// unsafeLink reports whether a symlink named name (relative to the
// transfer root) with target can leave the transfer tree, as rsync's
// unsafe_symlink judges it (safelink.Unsafe, shared with the receiver's
// --safe-links).
func unsafeLink(target, name string) bool {
	return safelink.Unsafe(target, name)
}

// fileSum computes a regular file's --checksum sum.
func (b *builder) fileSum(disk string) ([]byte, error) {
	h, err := checksum.NewFileSum(b.cfg.FileChecksum, b.cfg.Protocol)
	if err != nil {
		return nil, err
	}
	f, err := openNoFollow(b.cfg.Root, disk, b.cfg.OpenNoatime)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteTo(h); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func (b *builder) userName(id uint32) string {
	if n, ok := b.users[id]; ok {
		return n
	}
	var n string
	if u, err := user.LookupId(strconv.FormatUint(uint64(id), 10)); err == nil && len(u.Username) <= 255 {
		n = u.Username
	}
	if b.users == nil {
		b.users = map[uint32]string{}
	}
	b.users[id] = n
	return n
}

func (b *builder) groupName(id uint32) string {
	if n, ok := b.groups[id]; ok {
		return n
	}
	var n string
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(id), 10)); err == nil && len(g.Name) <= 255 {
		n = g.Name
	}
	if b.groups == nil {
		b.groups = map[uint32]string{}
	}
	b.groups[id] = n
	return n
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, fs.ErrNotExist) {
		return syscall.ENOENT
	}
	return syscall.EIO
}

// errnoText is strerror: Go's texts are lower-case, glibc's capitalised.
func errnoText(e syscall.Errno) string {
	s := e.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
