package receiver

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

type flushBuf struct {
	bytes.Buffer
	flushes int
}

func (f *flushBuf) Flush() error { f.flushes++; return nil }

func TestForwardFilesFrom(t *testing.T) {
	for _, c := range []struct {
		name, in string
		from0    bool
		want     string
	}{
		{"lines", "a\nb\n", false, "a\x00b\x00\x00"},
		{"crlf and blanks collapse", "\n\na\r\n\r\nb", false, "a\x00b\x00\x00"},
		{"comments pass", "#x\n;y\n", false, "#x\x00;y\x00\x00"},
		{"empty", "", false, "\x00"},
		{"only newlines", "\n\r\n", false, "\x00"},
		{"from0 keeps newlines", "a\nb\x00\x00c", true, "a\nb\x00c\x00\x00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// One byte per read: the state carries across chunks.
			for _, r := range []bool{false, true} {
				var out flushBuf
				src := strings.NewReader(c.in)
				var err error
				if r {
					err = ForwardFilesFrom(&out, iotest.OneByteReader(src), c.from0)
				} else {
					err = ForwardFilesFrom(&out, src, c.from0)
				}
				if err != nil {
					t.Fatal(err)
				}
				if out.String() != c.want {
					t.Errorf("one byte reads %v: sent %q, want %q", r, out.String(), c.want)
				}
				if out.flushes == 0 {
					t.Error("never flushed")
				}
			}
		})
	}
	// A read error still ends the list, and is reported.
	var out flushBuf
	err := ForwardFilesFrom(&out, iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader("ab"))), false)
	if err == nil || out.String() != "a\x00\x00" {
		t.Errorf("read error: %v, sent %q", err, out.String())
	}
}
