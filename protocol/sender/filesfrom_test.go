package sender

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

func readNames(t *testing.T, f *FilesFrom) ([]string, error) {
	t.Helper()
	var names []string
	for range 10000 {
		n, ok, err := f.Next()
		if err != nil || !ok {
			return names, err
		}
		names = append(names, n)
	}
	t.Fatal("no end of list")
	return nil, nil
}

func TestFilesFrom(t *testing.T) {
	long := strings.Repeat("x", 5000)
	for _, c := range []struct {
		name     string
		in       string
		eolNulls bool
		file     bool
		want     []string
		wantErr  bool
	}{
		{name: "socket", in: "a\x00b/c\x00\x00", want: []string{"a", "b/c"}},
		{name: "socket empty", in: "\x00", want: nil},
		{name: "socket keeps comments", in: "#x\x00;y\x00\x00", want: []string{"#x", ";y"}},
		{name: "socket cut short", in: "a\x00b", wantErr: true},
		{name: "socket no end marker", in: "a\x00", wantErr: true},
		{name: "socket stops at marker", in: "a\x00\x00b\x00\x00", want: []string{"a"}},
		{name: "socket long name cut", in: long + "\x00\x00", want: []string{long[:4095]}},
		{name: "file lines", in: "a\nb\r\nc", file: true, want: []string{"a", "b", "c"}},
		{name: "file comments and blanks", in: "#c\n\n;d\n a\n", file: true, want: []string{" a"}},
		{name: "file from0", in: "a\nb\x00c\x00\x00", file: true, eolNulls: true, want: []string{"a\nb", "c"}},
		{name: "file empty", in: "", file: true, want: nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := readNames(t, NewFilesFrom(bufio.NewReader(strings.NewReader(c.in)), c.eolNulls, c.file))
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error %v", err, c.wantErr)
			}
			if !c.wantErr && strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("names %q, want %q", got, c.want)
			}
		})
	}
}

// frame builds a multiplexed frame.
func frame(tag wire.MsgTag, p string) string {
	var h [4]byte
	binary.LittleEndian.PutUint32(h[:], uint32(tag+7)<<24|uint32(len(p)))
	return string(h[:]) + p
}

// TestNameSwitch reads a protocol-30 client stream: multiplexed data,
// raw names, multiplexed data again, with a message on each side.
func TestNameSwitch(t *testing.T) {
	stream := frame(wire.MsgData, "AB") + frame(wire.MsgNoop, "") + frame(wire.MsgData, "C") +
		"x/y\x00z\x00\x00" + frame(wire.MsgSuccess, "\x05\x00\x00\x00") + frame(wire.MsgData, "DE")
	sw := NewNameSwitch(wire.NewReader(strings.NewReader(stream)))
	var msgs []wire.MsgTag
	sw.Reader.OnMessage = func(tag wire.MsgTag, p []byte) error {
		msgs = append(msgs, tag)
		return nil
	}
	head := make([]byte, 3)
	if err := sw.Reader.ReadFull(head); err != nil || string(head) != "ABC" {
		t.Fatalf("head %q, %v", head, err)
	}
	if err := sw.RawNames(); err != nil {
		t.Fatal(err)
	}
	names, err := readNames(t, NewFilesFrom(sw.Reader, true, false))
	if err != nil || strings.Join(names, "|") != "x/y|z" {
		t.Fatalf("names %q, %v", names, err)
	}
	tail := make([]byte, 2)
	if err := sw.Reader.ReadFull(tail); err != nil || string(tail) != "DE" {
		t.Fatalf("tail %q, %v", tail, err)
	}
	if len(msgs) != 2 || msgs[0] != wire.MsgNoop || msgs[1] != wire.MsgSuccess {
		t.Errorf("messages %v", msgs)
	}
	// An empty list is a lone NUL.
	sw = NewNameSwitch(wire.NewReader(strings.NewReader("\x00" + frame(wire.MsgData, "Q"))))
	if err := sw.RawNames(); err != nil {
		t.Fatal(err)
	}
	if names, err := readNames(t, NewFilesFrom(sw.Reader, true, false)); err != nil || len(names) != 0 {
		t.Fatalf("names %q, %v", names, err)
	}
	if b, err := sw.Reader.ReadByte(); err != nil || b != 'Q' {
		t.Fatalf("after empty list: %q, %v", b, err)
	}
}

func TestNameSwitchErrors(t *testing.T) {
	for _, c := range []struct{ name, in string }{
		{"bad header", "\x00\x00\x00\x01"},
		{"huge message", "\xff\xff\xff\x08"},
		{"truncated frame", frame(wire.MsgData, "abc")[:5]},
		{"unhandled message", frame(wire.MsgInfo, "hi")},
	} {
		t.Run(c.name, func(t *testing.T) {
			sw := NewNameSwitch(wire.NewReader(strings.NewReader(c.in)))
			_, err := io.ReadAll(sw.Reader)
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("no error: %v", err)
			}
		})
	}
	// Names must start at a frame boundary.
	sw := NewNameSwitch(wire.NewReader(strings.NewReader(frame(wire.MsgData, "ab"))))
	if _, err := sw.Reader.ReadByte(); err != nil {
		t.Fatal(err)
	}
	// The reader buffered the whole frame, so the switch is at its end.
	if err := sw.RawNames(); err != nil {
		t.Fatalf("at frame end: %v", err)
	}
}

// FuzzFilesFrom feeds arbitrary client streams to the files-from readers
// (socket, file, and the protocol-30 raw switch): errors, never panics,
// and no name beyond rsync's bound.
func FuzzFilesFrom(f *testing.F) {
	f.Add([]byte("a\x00b/c\x00\x00"), uint8(0))
	f.Add([]byte("#c\n\n;d\nx\r\ny"), uint8(1))
	f.Add([]byte(frame(wire.MsgData, "AB")+"n\x00\x00"+frame(wire.MsgData, "Z")), uint8(2))
	f.Add([]byte("\xff\xff\xff\x08"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		var names *FilesFrom
		switch mode % 3 {
		case 0:
			names = NewFilesFrom(bytes.NewReader(in), true, false)
		case 1:
			names = NewFilesFrom(bytes.NewReader(in), mode&4 != 0, true)
		default:
			sw := NewNameSwitch(wire.NewReader(bytes.NewReader(in)))
			sw.Reader.OnMessage = func(wire.MsgTag, []byte) error { return nil }
			var b [1]byte
			if _, err := sw.Reader.Read(b[:]); err != nil {
				return
			}
			if err := sw.RawNames(); err != nil {
				return
			}
			names = NewFilesFrom(sw.Reader, true, false)
		}
		for i := 0; i <= len(in); i++ {
			n, ok, err := names.Next()
			if err != nil || !ok {
				return
			}
			if len(n) >= 4096 {
				t.Fatalf("name of %d bytes", len(n))
			}
		}
		t.Fatalf("more names than input bytes")
	})
}
