package receiver

import (
	"path"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/chmod"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
)

func TestApplyListPolicy(t *testing.T) {
	files := func() []flist.File {
		return []flist.File{
			{Name: ".", Mode: 0o040755},
			{Name: "f", Mode: 0o100600},
			{Name: "l", Mode: 0o120777, LinkTarget: "f"},
			{Name: "d", Mode: 0o040700},
		}
	}
	tests := []struct {
		name   string
		cfg    Config
		modes  []uint32
		target string
	}{
		{"none", Config{PreserveLinks: true}, []uint32{0o040755, 0o100600, 0o120777, 0o040700}, "f"},
		{"chmod", Config{PreserveLinks: true, Chmod: chmod.MustParse("Dgo=rx,Fgo=r", 0)}, []uint32{0o040755, 0o100644, 0o120777, 0o040755}, "f"},
		{"munge", Config{PreserveLinks: true, MungeSymlinks: true}, []uint32{0o040755, 0o100600, 0o120777, 0o040700}, "/rsyncd-munged/f"},
		{"munge without links", Config{MungeSymlinks: true}, []uint32{0o040755, 0o100600, 0o120777, 0o040700}, "f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &transfer{cfg: &tt.cfg}
			fs := files()
			tr.applyListPolicy(fs)
			for i, f := range fs {
				if f.Mode != tt.modes[i] {
					t.Errorf("%s: mode %o, want %o", f.Name, f.Mode, tt.modes[i])
				}
			}
			if fs[2].LinkTarget != tt.target {
				t.Errorf("symlink target %q, want %q", fs[2].LinkTarget, tt.target)
			}
		})
	}
}

func TestWantModeChmod(t *testing.T) {
	reg := &flist.File{Name: "f", Mode: 0o100600}
	dir := &flist.File{Name: "d", Mode: 0o040700}
	existing := &stat{mode: 0o100640}
	tests := []struct {
		name   string
		cfg    Config
		f      *flist.File
		st     *stat
		exists bool
		want   uint32
	}{
		{"perms, no chmod", Config{PreservePerms: true}, reg, nil, false, 0o600},
		{"perms", Config{PreservePerms: true, Chmod: chmod.MustParse("go+r", 0)}, reg, nil, false, 0o644},
		{"no perms, new", Config{Umask: 0o022, Chmod: chmod.MustParse("o+r", 0)}, reg, nil, false, 0o604},
		// Without --perms an existing file keeps its mode, but the module's
		// chmod still applies (rsync's set_file_attrs).
		{"no perms, existing", Config{Chmod: chmod.MustParse("o+r", 0)}, reg, existing, true, 0o644},
		{"dir only", Config{PreservePerms: true, Chmod: chmod.MustParse("D755", 0)}, dir, nil, false, 0o755},
		{"dir only, file", Config{PreservePerms: true, Chmod: chmod.MustParse("D755", 0)}, reg, nil, false, 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &transfer{cfg: &tt.cfg}
			if got := tr.wantMode(tt.f, tt.st, tt.exists); got != tt.want {
				t.Errorf("wantMode = %o, want %o", got, tt.want)
			}
		})
	}
}

// TestLocalPath: the concatenating fast path gives what path.Join gives for
// every clean received name, whatever the destination looks like.
func TestLocalPath(t *testing.T) {
	for _, dest := range []string{".", "sub", "a/b", "/", "sub/", "./x", "a//b", "a/../b"} {
		for _, name := range []string{"f", "d/f", "d/e/f", "/abs/f", "."} {
			tr := newTransfer(nil, nil, &flist.List{}, &Config{Dest: dest})
			want := path.Join(dest, name)
			if name == "." {
				want = dest
			}
			if got := tr.localPath(&flist.File{Name: name}); got != want {
				t.Errorf("dest %q, name %q: %q, want %q", dest, name, got, want)
			}
		}
	}
}
