package server

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/xferlog"
)

func TestLogFormat(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)
	sess := &logSession{
		Module: "backup", ModulePath: "/srv/backup", User: "rsync_backup",
		Host: "UNDETERMINED", Addr: "203.0.113.7", PreserveUID: true, PreserveGID: true,
		SumLen: 16, Now: func() time.Time { return now },
	}
	file := &flist.File{Name: "dir/file.txt", Mode: flist.ModeRegular | 0o644, Size: 1234567,
		ModTime: time.Date(2025, 12, 31, 23, 59, 58, 0, time.Local).Unix(), UID: 1000, GID: 100}
	recv := xferlog.Event{Op: xferlog.Recv, File: file, Path: "sub/dir/file.txt",
		Iflags: xferlog.ItemTransfer | xferlog.ItemReportSize | xferlog.ItemReportTime, Read: 2048, Written: 64,
		Sum: []byte{0xde, 0xad, 0xbe, 0xef}}
	newFile := recv
	newFile.Iflags = xferlog.ItemTransfer | xferlog.ItemIsNew
	dir := xferlog.Event{Op: xferlog.Recv, File: &flist.File{Name: "dir", Mode: flist.ModeDir | 0o2755}, Path: "sub/dir",
		Iflags: xferlog.ItemReportTime}
	same := xferlog.Event{Op: xferlog.Recv, File: &flist.File{Name: "dir", Mode: flist.ModeDir | 0o755}, Path: "sub/dir"}
	link := xferlog.Event{Op: xferlog.Send, File: &flist.File{Name: "ln", Mode: flist.ModeSymlink | 0o777, LinkTarget: "file.txt"},
		Path: "ln", Iflags: xferlog.ItemTransfer | xferlog.ItemIsNew}
	del := xferlog.Event{Op: xferlog.Delete, File: &flist.File{Name: "old", Mode: flist.ModeRegular}, Path: "sub/old",
		Iflags: xferlog.ItemDeleted}
	sticky := xferlog.Event{Op: xferlog.Recv, File: &flist.File{Name: "t", Mode: flist.ModeDir | 0o1777}}
	setuid := xferlog.Event{Op: xferlog.Recv, File: &flist.File{Name: "s", Mode: flist.ModeRegular | 0o4644}}
	pid := strconv.Itoa(os.Getpid())

	tests := []struct {
		format string
		ev     xferlog.Event
		sender bool
		want   string
	}{
		{DefaultTransferLogFormat, recv, false, "recv UNDETERMINED [203.0.113.7] backup (rsync_backup) sub/dir/file.txt 1234567"},
		{"%a|%h|%m|%u|%P", recv, false, "203.0.113.7|UNDETERMINED|backup|rsync_backup|/srv/backup"},
		{"%o %f %n", recv, false, "recv sub/dir/file.txt dir/file.txt"},
		{"%n|%f", dir, false, "dir/|sub/dir"},
		{"%l %'l %''l %'''l", recv, false, "1234567 1,234,567 1.23M 1.18M"},
		{"%b %c", recv, false, "2048 64"},
		{"%b %c", recv, true, "64 2048"},
		{"%b %c", dir, false, "0 0"},
		{"%U %G", recv, false, "1000 100"},
		{"%B", recv, false, "rw-r--r--"},
		{"%B", dir, false, "rwxr-sr-x"},
		{"%B %B", sticky, false, "rwxrwxrwt rwxrwxrwt"},
		{"%B", setuid, false, "rwSr--r--"},
		{"%M", recv, false, "2025/12/31-23:59:58"},
		{"%t", recv, false, "2026/03/04 05:06:07"},
		{"%p", recv, false, pid},
		{"%C", recv, false, "deadbeef"},
		{"[%C]", dir, false, "[" + strings.Repeat(" ", 32) + "]"},
		{"%i", recv, false, ">f.st......"},
		{"%i", newFile, false, ">f+++++++++"},
		{"%i", dir, false, ".d..t......"},
		{"%i", same, false, ".d         "},
		{"%i", link, true, "<L+++++++++"},
		{"%i %n", del, false, "*deleting   old"},
		{"%n%L", link, true, "ln -> file.txt"},
		{"%n%L|", recv, false, "dir/file.txt|"},
		{"%n%5L|", recv, false, "dir/file.txt         |"},
		{"[%10n]", same, false, "[      dir/]"},
		{"[%-10n]", same, false, "[dir/      ]"},
		{"[%-8l]", recv, false, "[1234567 ]"},
		{"[%3o]", recv, false, "[recv]"},
		{"100%% %z %", recv, false, "100% %z %"},
		{"%-", recv, false, "%-"},
		{"", recv, false, ""},
	}
	for _, tt := range tests {
		lf, err := parseLogFormat(tt.format)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.format, err)
		}
		s := *sess
		s.Sender = tt.sender
		ev := tt.ev
		if got := lf.format(&ev, &s); got != tt.want {
			t.Errorf("format(%q, %s %s) = %q, want %q", tt.format, ev.Op, ev.File.Name, got, tt.want)
		}
	}
	if _, err := parseLogFormat(strings.Repeat("x", maxLogFormat+1)); err == nil {
		t.Errorf("an over-long format was accepted")
	}
}

func TestBigNum(t *testing.T) {
	tests := []struct {
		v    int64
		h    int
		want string
	}{
		{0, 0, "0"}, {999, 1, "999"}, {1000, 1, "1,000"}, {-1234567, 1, "-1,234,567"},
		{999, 2, "999"}, {1000, 2, "1.00K"}, {1023, 3, "1,023"}, {1024, 3, "1.00K"},
		{5 << 30, 3, "5.00G"}, {-2000000, 2, "-2.00M"},
	}
	for _, tt := range tests {
		if got := bigNum(tt.v, tt.h); got != tt.want {
			t.Errorf("bigNum(%d, %d) = %q, want %q", tt.v, tt.h, got, tt.want)
		}
	}
}
