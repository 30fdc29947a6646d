package options

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// splitArgs turns fuzz bytes into an argument list (NUL-separated).
func splitArgs(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	return strings.Split(string(data), "\x00")
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("--server\x00-logDtprze.iLsfxCIvu\x00--delete\x00.\x00backup/"), "", byte(0))
	f.Add([]byte("--server\x00--sender\x00-slogDtpre.iLsfxCIvu\x00--iconv=utf8"), "", byte(1))
	f.Add([]byte("--server\x00-B\x00!#:+\x00--suffix=a!#:+b\x00.\x00x"), "c delete", byte(2))
	f.Add([]byte("-v\x00--server\x00--max-size=1.5k-1\x00--bwlimit=1m\x00--chmod=Dg+s,ug+w\x00.\x00m/"), "* !a !v", byte(3))
	f.Add([]byte("--server\x00--stop-at=2-29T12:00\x00--partial-dir=a/../b/./\x00--backup-dir=./x\x00."), "[[:upper:]] no-*", byte(4))
	f.Add([]byte("--server\x00--files-from=[::1]:x\x00--cc=md5,foo\x00--zc=zstd\x00--only-write-batch=b"), "delete-* !delete-during", byte(5))
	f.Fuzz(func(t *testing.T, data []byte, refuse string, flags byte) {
		args := splitArgs(data)
		cfg := &Config{Refuse: []string{refuse}, Charset: flags&1 != 0, Protocol: 27 + int(flags>>1)%6}
		if flags&0x40 != 0 {
			cfg.Implemented = []string{"archive", "recursive", "links", "perms", "times", "owner", "group", "D", "delete", "compress", "dirs"}
		}
		o, err := Parse(args, cfg)
		if err == nil && o.NeedSecluded() {
			o, err = o.ParseSecluded(args)
		}
		if err != nil {
			var oe *OptionError
			var re *RefusedError
			var ue *UnsupportedError
			if !errors.As(err, &oe) && !errors.As(err, &re) && !errors.As(err, &ue) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if err.Error() == "" || ExitCode(err) == 0 {
				t.Fatalf("empty error or code: %#v", err)
			}
			return
		}
		if o == nil {
			t.Fatal("nil options without an error")
		}
		_ = o.DeleteTiming(29).String() + o.Super.String()
		_, _, _ = o.SubProtocol()
		_ = o.IncRecurse()
		if o.BlockSize < 0 || o.MaxDelete < -1 || (o.Compress && o.CompressThreads > maxDaemonThreads) || o.Bwlimit < 0 {
			t.Fatalf("out of range: %+v", *o)
		}
	})
}

func FuzzReadArgs(f *testing.F) {
	f.Add([]byte("--server\x00-r\x00.\x00m/\x00\x00"), true)
	f.Add([]byte("--server\n-r\r\n"), false)
	f.Add([]byte("\x00"), true)
	f.Fuzz(func(t *testing.T, data []byte, nulls bool) {
		args, err := ReadArgs(bytes.NewReader(data), nulls)
		if err != nil {
			return
		}
		for _, a := range args {
			if a == "" || len(a) > MaxArgLen || (nulls && strings.IndexByte(a, 0) >= 0) ||
				(!nulls && strings.ContainsAny(a, "\r\n")) {
				t.Fatalf("bad argument %q", a)
			}
		}
	})
}
