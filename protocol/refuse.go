package protocol

import (
	"strings"

	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Refuse tells a client that its arguments were refused. As rsyncd does, it
// first completes the protocol setup (read leniently from the raw
// arguments, since they did not parse) so the client can receive the error
// on the multiplexed stream, then sends "rsync: <err>" and exit code 4.
func Refuse(r *wire.Reader, w *wire.Writer, proto int, args []string, refusal error) {
	l := lenientArgs(args)
	if _, err := negotiate(r, w, proto, l.caps, l.csumChoice, l.compressChoice, l.compress, 0); err != nil {
		return
	}
	if l.filesFrom && !l.sender {
		_ = w.WriteByte(0)
	}
	if err := w.StartMultiplex(); err != nil {
		return
	}
	msg := strings.TrimRight(refusal.Error(), "\n")
	tellError(w, proto, "server", rerr.New(rerr.Unsupported, "rsync: %s", msg))
}

type lenient struct {
	caps, csumChoice, compressChoice string
	compress, sender, filesFrom      bool
}

// lenientArgs picks out of unparsed arguments just what the protocol setup
// depends on.
func lenientArgs(args []string) lenient {
	var l lenient
	for _, a := range args {
		switch {
		case a == "--sender":
			l.sender = true
		case strings.HasPrefix(a, "--files-from"):
			l.filesFrom = true
		case strings.HasPrefix(a, "--checksum-choice="):
			l.csumChoice = a[len("--checksum-choice="):]
		case strings.HasPrefix(a, "--compress-choice="):
			l.compressChoice = a[len("--compress-choice="):]
			l.compress = l.compressChoice != "none"
		case a == "--new-compress":
			l.compressChoice, l.compress = "zlibx", true
		case a == "--old-compress":
			l.compressChoice, l.compress = "zlib", true
		case a == "--compress":
			l.compress = true
		case len(a) > 1 && a[0] == '-' && a[1] != '-':
			bundle := a[1:]
			if i := strings.IndexByte(bundle, 'e'); i >= 0 {
				l.caps = bundle[i+1:]
				bundle = bundle[:i]
			}
			if n := strings.Count(bundle, "z"); n > 0 {
				l.compress = true
				if n > 1 && l.compressChoice == "" {
					l.compressChoice = "zlibx"
				}
			}
		}
	}
	return l
}
