package receiver

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/rootfs"
)

// tempRoot is where received files are written before they are renamed
// into place: the module's "temp dir", else the module itself.
func (t *transfer) tempRoot() *os.Root {
	if t.cfg.TempDir != nil {
		return t.cfg.TempDir
	}
	return t.cfg.Root
}

// installTemp renames temp file tmp (of tempRoot) to dest in the module.
// From a temp dir on another file system it copies the file to a temp
// name beside dest first and renames that (rsync's robust_rename and
// copy_file), so dest is replaced at once either way; f, when set, is
// the entry whose attributes the copy gets.
func (t *transfer) installTemp(tmp, dest string, f *flist.File) error {
	if t.cfg.TempDir == nil {
		return t.cfg.Root.Rename(tmp, dest)
	}
	err := renameAcross(t.cfg.TempDir, tmp, t.cfg.Root, dest)
	if !errors.Is(err, unix.EXDEV) {
		return err
	}
	beside := tempName(dest)
	if err := t.copyTemp(tmp, beside, dest, f); err != nil {
		_ = t.cfg.Root.Remove(beside)
		return err
	}
	if err := t.cfg.Root.Rename(beside, dest); err != nil {
		_ = t.cfg.Root.Remove(beside)
		return err
	}
	if err := t.cfg.TempDir.Remove(tmp); err != nil {
		t.cfg.Log.Warn("removing a copied temp file failed", "name", tmp, "err", err)
	}
	return nil
}

// copyTemp copies temp file tmp to beside, a fresh temp name next to dest,
// with f's attributes.
func (t *transfer) copyTemp(tmp, beside, dest string, f *flist.File) error {
	src, err := t.cfg.TempDir.Open(tmp)
	if err != nil {
		return fmt.Errorf("open temp file: %w", err)
	}
	defer src.Close()
	dst, err := t.cfg.Root.OpenFile(beside, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy from the temp dir: %w", err)
	}
	_, err = io.Copy(dst, src)
	if err == nil && f != nil {
		t.setFileAttrs(dst, dest, f)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy from the temp dir: %w", err)
	}
	return nil
}

// renameAcross renames entry from of root src (a single name) to name to
// of root dst with renameat on the two directory descriptors.
func renameAcross(src *os.Root, from string, dst *os.Root, to string) error {
	sd, err := src.Open(".")
	if err != nil {
		return err
	}
	defer sd.Close()
	dd, base, err := rootfs.OpenParent(dst, to)
	if err != nil {
		return err
	}
	defer dd.Close()
	if err := unix.Renameat(int(sd.Fd()), from, int(dd.Fd()), base); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
