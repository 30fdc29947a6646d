// Package rsyncdlog writes log records as stock rsyncd's log file lines,
// "YYYY/MM/DD HH:MM:SS [PID] message", and drops records stock has no line for.
package rsyncdlog

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Attribute keys a record carries for this handler; the JSON and text
// handlers show them as ordinary attributes.
const (
	// LineKey holds the exact text of stock rsyncd's line for the record.
	LineKey = "rsyncd"
	// VerbatimKey (true) says the record's message itself is stock's line:
	// set on the logger of a session's engine, whose messages are
	// rsync's own texts ("ERROR: daemon refused to receive ...").
	VerbatimKey = "rsyncd_verbatim"
	// PIDKey holds the session's id, printed in place of rsyncd's pid.
	PIDKey = "rsyncd_pid"
)

// Line is the attribute carrying stock rsyncd's line for a record.
func Line(text string) slog.Attr { return slog.String(LineKey, text) }

// Verbatim marks the records of a logger as carrying stock lines as msg.
func Verbatim() slog.Attr { return slog.Bool(VerbatimKey, true) }

// PID is the attribute of a session's id, the [N] of its lines.
func PID(id int64) slog.Attr { return slog.Int64(PIDKey, id) }

// Handler is a slog.Handler printing stock rsyncd's log file lines.
type Handler struct {
	mu       *sync.Mutex
	w        io.Writer
	level    slog.Leveler
	now      func() time.Time
	pid      int64
	line     string // from WithAttrs
	hasLine  bool
	verbatim bool
	grouped  bool // attributes in groups are not this handler's keys
}

// Options of a Handler.
type Options struct {
	Level slog.Leveler     // minimum level; nil means Info
	PID   int64            // the daemon's own id; 0 means os.Getpid()
	Now   func() time.Time // the clock; nil means time.Now
}

// NewHandler returns a Handler writing to w.
func NewHandler(w io.Writer, o *Options) *Handler {
	h := &Handler{mu: &sync.Mutex{}, w: w, level: slog.LevelInfo, now: time.Now, pid: int64(os.Getpid())}
	if o != nil {
		if o.Level != nil {
			h.level = o.Level
		}
		if o.PID != 0 {
			h.pid = o.PID
		}
		if o.Now != nil {
			h.now = o.Now
		}
	}
	return h
}

// Enabled reports whether records of level l are written.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// apply folds one of this handler's attributes into h.
func (h *Handler) apply(a slog.Attr) {
	switch a.Key {
	case LineKey:
		h.line, h.hasLine = a.Value.Resolve().String(), true
	case VerbatimKey:
		v := a.Value.Resolve()
		h.verbatim = v.Kind() == slog.KindBool && v.Bool()
	case PIDKey:
		if v := a.Value.Resolve(); v.Kind() == slog.KindInt64 {
			h.pid = v.Int64()
		}
	}
}

// WithAttrs returns a handler that knows the attributes' line, mark and id.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	if !c.grouped {
		for _, a := range as {
			c.apply(a)
		}
	}
	return &c
}

// WithGroup returns a handler ignoring the group's attributes.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.grouped = true
	return &c
}

// Handle writes the record's stock line(s), or nothing.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	c := *h
	if !c.grouped {
		r.Attrs(func(a slog.Attr) bool {
			c.apply(a)
			return true
		})
	}
	text := c.line
	if !c.hasLine {
		if !c.verbatim {
			return nil
		}
		text = r.Message
	}
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return nil
	}
	t := r.Time
	if t.IsZero() {
		t = c.now()
	}
	buf := make([]byte, 0, 32+len(text))
	prefix := strconv.AppendInt(append(t.Local().AppendFormat(buf, "2006/01/02 15:04:05"), " ["...), c.pid, 10)
	prefix = append(prefix, "] "...)
	out := make([]byte, 0, len(prefix)+len(text)+8)
	for line := range strings.SplitSeq(text, "\n") {
		out = append(out, prefix...)
		out = appendEscaped(out, strings.TrimSuffix(line, "\r"))
		out = append(out, '\n')
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(out)
	return err
}

// appendEscaped appends s as rsync's filtered_fwrite writes a log line:
// control characters but tab, C1 bytes and a literal "\#ddd" become
// "\#ooo" (octal), so a file name cannot forge lines or escapes.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		esc := c != '\t' && (c < ' ' || (c >= 0x80 && c <= 0x9f))
		if c == '\\' && i+4 < len(s) && s[i+1] == '#' && isDigit(s[i+2]) && isDigit(s[i+3]) && isDigit(s[i+4]) {
			esc = true
		}
		if !esc {
			b = append(b, c)
			continue
		}
		b = append(b, '\\', '#', '0'+c>>6, '0'+(c>>3)&7, '0'+c&7)
	}
	return b
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
