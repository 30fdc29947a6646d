package flist

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// treeEntry is what os.Lstat says about one path of a fixture tree, in the
// terms rsync puts on the wire.
type treeEntry struct {
	Name         string
	Mode         uint32
	Size         int64
	Mtime        int64
	Nsec         int32
	Atime        int64
	UID, GID     uint32
	User, Group  string
	Target       string
	Major, Minor uint32
	Inode        string // "dev:ino" of a non-directory with several links
	Content      string // sha256 of a regular file's data
}

// longDir is a directory path longer than 255 bytes, so that names below
// it exercise the 255-byte cap on the shared prefix and XMIT_LONG_NAME.
var longDir = "long/" + strings.Repeat("d", 200) + "/" + strings.Repeat("e", 100)

// buildTree creates the fixture tree under root (which must exist). What
// needs root (owners, devices) is added only when running as root.
func buildTree(t testing.TB, root string) {
	t.Helper()
	asRoot := os.Geteuid() == 0
	mkdir := func(p string, perm os.FileMode) {
		if err := os.MkdirAll(filepath.Join(root, p), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, p), perm); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, data string, perm os.FileMode) {
		mkdir(filepath.Dir(p), 0o755)
		full := filepath.Join(root, p)
		if err := os.WriteFile(full, []byte(data), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, perm); err != nil {
			t.Fatal(err)
		}
	}
	symlink := func(p, target string) {
		mkdir(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	link := func(old, p string) {
		mkdir(filepath.Dir(p), 0o755)
		if err := os.Link(filepath.Join(root, old), filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}

	mkdir("empty-dir", 0o700)
	write("a", "hello\n", 0o644)
	write("b.txt", "b", 0o600)
	write("empty", "", 0o644)
	write("exe", "#!/bin/sh\n", 0o755)
	write("setuid", "s", 0o4755)
	write("-dash", "dash", 0o644)
	write("+plus", "plus", 0o644)
	write("sp ace", "space", 0o644)
	write("dir!x", "bang", 0o644)
	write("dir.txt", "dot", 0o644)
	write("dir2/f", "f", 0o644)
	write("dir/c", "c", 0o644)
	write("dir/sub/d", "d", 0o644)
	write("dir/sub/e", "hello\n", 0o644) // same data as "a": same checksum
	write(longDir+"/f1", "long", 0o644)
	write(longDir+"/"+strings.Repeat("f", 250), "longer", 0o644)
	write("ünïcödé/ファイル.txt", "unicode", 0o644)
	write("bad\xff\xfe", "not utf-8", 0o644)
	symlink("link", "a")
	symlink("dangling", "nowhere/x")
	symlink("abs", "/etc/passwd")
	symlink("longlink", strings.Repeat("x/", 600))
	if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: filepath.Join(root, "sock")})
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	write("h1", "linked", 0o644)
	link("h1", "h2")
	link("h1", "dir/h3")
	write("g1", "group two", 0o600)
	link("g1", "g2")

	if asRoot {
		mkdir("dev", 0o755)
		devs := []struct {
			name         string
			mode         uint32
			major, minor uint32
		}{
			{"dev/null2", unix.S_IFCHR | 0o666, 1, 3},
			{"dev/big", unix.S_IFCHR | 0o600, 4, 300},
			{"dev/blk", unix.S_IFBLK | 0o660, 259, 70000},
		}
		for _, d := range devs {
			if err := unix.Mknod(filepath.Join(root, d.name), d.mode, int(unix.Mkdev(d.major, d.minor))); err != nil {
				t.Logf("no devices in this tree: %v", err)
				os.RemoveAll(filepath.Join(root, "dev"))
				break
			}
		}
		write("own/u1", "1", 0o644)
		write("own/u2", "2", 0o644)
		write("own/u3", "3", 0o644)
		symlink("own/l", "u1")
		mkdir("own", 0o750)
		chown := func(p string, uid, gid int) {
			if err := os.Lchown(filepath.Join(root, p), uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		chown("own/u1", 1, 2)
		chown("own/u2", 12345, 54321)
		chown("own/u3", 65534, 65534)
		chown("own/l", 1, 1)
		chown("own", 2, 0)
	}

	// Deterministic times: pairs share a second (XMIT_SAME_TIME), every
	// third has no nanoseconds. Directories last, deepest first, since
	// creating entries in them changes their times.
	var paths []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(paths, func(i, j int) bool {
		if di, dj := strings.Count(paths[i], "/"), strings.Count(paths[j], "/"); di != dj {
			return di > dj
		}
		return paths[i] < paths[j]
	})
	for k, p := range paths {
		sec := int64(1_600_000_000 + (k/2)*3600)
		nsec := int64(0)
		if k%3 != 0 {
			nsec = int64(k) * 7_919_011 % 1_000_000_000
		}
		ts := []unix.Timespec{
			{Sec: sec + 60, Nsec: nsec}, // atime
			{Sec: sec, Nsec: nsec},      // mtime
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshotTree lstats every path under root. Names are relative, "." for
// root itself.
func snapshotTree(t testing.TB, root string) map[string]treeEntry {
	t.Helper()
	out := make(map[string]treeEntry)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		e, err := lstatEntry(p)
		if err != nil {
			return err
		}
		e.Name = filepath.ToSlash(rel)
		out[e.Name] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func lstatEntry(p string) (treeEntry, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return treeEntry{}, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	e := treeEntry{
		Mode:  st.Mode,
		Size:  st.Size,
		Mtime: st.Mtim.Sec,
		Nsec:  int32(st.Mtim.Nsec),
		Atime: st.Atim.Sec,
		UID:   st.Uid,
		GID:   st.Gid,
	}
	if u, err := user.LookupId(strconv.Itoa(int(st.Uid))); err == nil {
		e.User = u.Username
	}
	if g, err := user.LookupGroupId(strconv.Itoa(int(st.Gid))); err == nil {
		e.Group = g.Name
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		if e.Target, err = os.Readlink(p); err != nil {
			return e, err
		}
		// Reading a link moves its atime (relatime), and rsync's sender
		// reads it after ours; what it sends is the time after our read.
		var st2 unix.Stat_t
		if err := unix.Lstat(p, &st2); err != nil {
			return e, err
		}
		e.Atime = st2.Atim.Sec
	case unix.S_IFCHR, unix.S_IFBLK:
		e.Major, e.Minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	case unix.S_IFREG:
		data, err := readNoAtime(p)
		if err != nil {
			return e, err
		}
		sum := sha256.Sum256(data)
		e.Content = hex.EncodeToString(sum[:8])
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Nlink > 1 {
		e.Inode = fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	return e, nil
}

// The manifest format: one entry per line, tab-separated, strings quoted
// with strconv.Quote so that any byte survives.
func writeManifest(path string, tree map[string]treeEntry) error {
	names := make([]string, 0, len(tree))
	for n := range tree {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		e := tree[n]
		fmt.Fprintf(&b, "%s\t%o\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n",
			strconv.Quote(e.Name), e.Mode, e.Size, e.Mtime, e.Nsec, e.Atime, e.UID, e.GID,
			strconv.Quote(e.User), strconv.Quote(e.Group), strconv.Quote(e.Target),
			e.Major, e.Minor, strconv.Quote(e.Inode), strconv.Quote(e.Content))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func readManifest(path string) (map[string]treeEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make(map[string]treeEntry)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 15 {
			return nil, fmt.Errorf("manifest line %q: %d fields", sc.Text(), len(fields))
		}
		var e treeEntry
		strs := []*string{&e.Name, &e.User, &e.Group, &e.Target, &e.Inode, &e.Content}
		for i, idx := range []int{0, 8, 9, 10, 13, 14} {
			if *strs[i], err = strconv.Unquote(fields[idx]); err != nil {
				return nil, fmt.Errorf("manifest field %q: %w", fields[idx], err)
			}
		}
		nums := []struct {
			dst  any
			base int
		}{{&e.Mode, 8}, {&e.Size, 10}, {&e.Mtime, 10}, {&e.Nsec, 10}, {&e.Atime, 10},
			{&e.UID, 10}, {&e.GID, 10}, {nil, 0}, {nil, 0}, {nil, 0}, {&e.Major, 10}, {&e.Minor, 10}}
		for i, n := range nums {
			if n.dst == nil {
				continue
			}
			v, err := strconv.ParseInt(fields[i+1], n.base, 64)
			if err != nil {
				return nil, fmt.Errorf("manifest field %q: %w", fields[i+1], err)
			}
			switch p := n.dst.(type) {
			case *uint32:
				*p = uint32(v)
			case *int32:
				*p = int32(v)
			case *int64:
				*p = v
			}
		}
		out[e.Name] = e
	}
	return out, sc.Err()
}

// readNoAtime reads a file without moving its atime (which --atimes
// captures compare), falling back to a plain read where O_NOATIME is not
// allowed.
func readNoAtime(p string) ([]byte, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOATIME|unix.O_CLOEXEC, 0)
	if err != nil {
		return os.ReadFile(p)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	return io.ReadAll(f)
}
