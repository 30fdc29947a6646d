package rsyncdlog

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	at := time.Date(2026, 11, 24, 13, 58, 39, 0, time.Local)
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want string
	}{
		{"line attribute", func(l *slog.Logger) {
			l.Info("connect", Line("connect from UNDETERMINED (127.0.0.1)"), "remote", "127.0.0.1:5")
		}, "2026/11/24 13:58:39 [42] connect from UNDETERMINED (127.0.0.1)\n"},
		{"structured record dropped", func(l *slog.Logger) {
			l.Info("transfer done", "bytes_in", 5)
		}, ""},
		{"empty line dropped", func(l *slog.Logger) { l.Info("x", Line("")) }, ""},
		{"session id", func(l *slog.Logger) {
			l.With(PID(7962)).Warn("auth failed", Line("auth failed on module backup from H (A) for u: password mismatch"))
		}, "2026/11/24 13:58:39 [7962] auth failed on module backup from H (A) for u: password mismatch\n"},
		{"verbatim logger", func(l *slog.Logger) {
			l.With(Verbatim(), PID(9)).Warn(`ERROR: daemon refused to receive file "a.tmp"`, "err", "x")
		}, "2026/11/24 13:58:39 [9] ERROR: daemon refused to receive file \"a.tmp\"\n"},
		{"line wins over verbatim msg", func(l *slog.Logger) {
			l.With(Verbatim()).Info("transfer starting", Line("rsync to m/ from h (a)"))
		}, "2026/11/24 13:58:39 [42] rsync to m/ from h (a)\n"},
		{"verbatim turned off", func(l *slog.Logger) {
			l.With(Verbatim()).Info("structured", slog.Bool(VerbatimKey, false))
		}, ""},
		{"multi-line text", func(l *slog.Logger) {
			l.Warn("refused", Line("pre-xfer exec returned failure (768):\nclosed for maintenance\n"))
		}, "2026/11/24 13:58:39 [42] pre-xfer exec returned failure (768):\n2026/11/24 13:58:39 [42] closed for maintenance\n"},
		{"escapes", func(l *slog.Logger) {
			l.Info("x", Line("recv a\x1bb\tc\x85d\\#123e\\#12"))
		}, "2026/11/24 13:58:39 [42] recv a\\#033b\tc\\#205d\\#134#123e\\#12\n"},
		{"group attributes ignored", func(l *slog.Logger) {
			l.WithGroup("g").Info("x", Line("not stock"))
		}, ""},
		{"below level", func(l *slog.Logger) { l.Debug("x", Line("debug")) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			h := NewHandler(&b, &Options{PID: 42, Now: func() time.Time { return at }})
			tc.log(slog.New(timeFixed{h, at}))
			if got := b.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// timeFixed sets every record's time, so lines are predictable.
type timeFixed struct {
	slog.Handler
	at time.Time
}

func (f timeFixed) Handle(ctx context.Context, r slog.Record) error {
	r.Time = f.at
	return f.Handler.Handle(ctx, r)
}
func (f timeFixed) WithAttrs(as []slog.Attr) slog.Handler {
	return timeFixed{f.Handler.WithAttrs(as), f.at}
}
func (f timeFixed) WithGroup(n string) slog.Handler { return timeFixed{f.Handler.WithGroup(n), f.at} }

func TestDefaultPID(t *testing.T) {
	var b bytes.Buffer
	slog.New(NewHandler(&b, nil)).Info("x", Line("hello"))
	if !bytes.Contains(b.Bytes(), []byte("] hello\n")) || bytes.Contains(b.Bytes(), []byte("[0]")) {
		t.Errorf("got %q", b.String())
	}
}

// FuzzHandler: whatever text a record carries (file names come from the
// wire), every output line has the prefix and no raw control byte.
func FuzzHandler(f *testing.F) {
	f.Add("recv a\x1bb\tc\x85d\\#123e")
	f.Add("pre-xfer exec returned failure (768):\nclosed\r\n")
	f.Fuzz(func(t *testing.T, text string) {
		var b bytes.Buffer
		slog.New(NewHandler(&b, &Options{PID: 7})).Info("x", Line(text))
		for _, l := range bytes.Split(bytes.TrimSuffix(b.Bytes(), []byte("\n")), []byte("\n")) {
			if b.Len() == 0 {
				break
			}
			if !bytes.Contains(l, []byte(" [7] ")) {
				t.Fatalf("line without prefix: %q", l)
			}
			for _, c := range l {
				if c != '\t' && (c < ' ' || c >= 0x80 && c <= 0x9f) {
					t.Fatalf("raw control byte %#x in %q", c, l)
				}
			}
		}
	})
}
