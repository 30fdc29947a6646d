package server

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/rsyncd-go/rsyncd-go/modules"
	"github.com/rsyncd-go/rsyncd-go/protocol"
	"github.com/rsyncd-go/rsyncd-go/protocol/flist"
	"github.com/rsyncd-go/rsyncd-go/protocol/options"
	"github.com/rsyncd-go/rsyncd-go/protocol/xferlog"
	"github.com/rsyncd-go/rsyncd-go/rsyncdlog"
)

// DefaultTransferLogFormat is rsyncd's "log format" default.
const DefaultTransferLogFormat = "%o %h [%a] %m (%u) %f %l"

// maxLogFormat is rsyncd's bound of a "log format" (MAXPATHLEN).
const maxLogFormat = 4096

// logSession is what a transfer log line says about its session.
type logSession struct {
	Module, ModulePath string
	User, Host, Addr   string
	Sender             bool // the daemon sends (a pull)
	PreserveUID        bool // -o: %U is the file's uid, else 0
	PreserveGID        bool // -g: %G is the file's gid, else DEFAULT
	SumLen             int  // bytes of the transfer checksum, for a blank %C
	Now                func() time.Time
}

// logDirective is one piece of a parsed format: literal text, or an escape.
type logDirective struct {
	lit      string
	esc      byte // 0 for literal text
	width    int
	left     bool // "-": pad on the right
	hasWidth bool
	humanize int // number of "'" flags
}

// logFormat is a parsed "log format" (log.c log_formatted): "%" then any
// "'" (digit grouping, twice or more for units), an optional "-", a width,
// more "'", and the escape letter. Unknown escapes stay as written.
type logFormat struct {
	dirs []logDirective
	hasI bool // the format itemizes (%i): every changed entry is logged
	hasO bool
}

func parseLogFormat(f string) (*logFormat, error) {
	if len(f) > maxLogFormat {
		return nil, fmt.Errorf("log format longer than %d bytes", maxLogFormat)
	}
	lf := &logFormat{}
	lit := func(s string) {
		if s == "" {
			return
		}
		if n := len(lf.dirs); n > 0 && lf.dirs[n-1].esc == 0 {
			lf.dirs[n-1].lit += s
			return
		}
		lf.dirs = append(lf.dirs, logDirective{lit: s})
	}
	for {
		i := strings.IndexByte(f, '%')
		if i < 0 {
			lit(f)
			break
		}
		lit(f[:i])
		p := i + 1
		var d logDirective
		for p < len(f) && f[p] == '\'' {
			d.humanize++
			p++
		}
		if p < len(f) && f[p] == '-' {
			d.left = true
			p++
		}
		start := p
		for p < len(f) && f[p] >= '0' && f[p] <= '9' && p-start < 23 {
			p++
		}
		if p > start {
			d.hasWidth = true
			d.width, _ = strconv.Atoi(f[start:p])
		}
		for p < len(f) && f[p] == '\'' {
			d.humanize++
			p++
		}
		if p >= len(f) {
			lit(f[i:]) // a dangling escape stays as written
			break
		}
		d.esc = f[p]
		if !strings.ContainsRune("abBcCfGhiLlmMnoPptuU%", rune(d.esc)) {
			lit(f[i : p+1])
		} else {
			d.hasWidth = d.hasWidth || d.left
			lf.dirs = append(lf.dirs, d)
			lf.hasI = lf.hasI || d.esc == 'i'
			lf.hasO = lf.hasO || d.esc == 'o'
		}
		f = f[p+1:]
	}
	return lf, nil
}

// format renders the line for ev.
func (lf *logFormat) format(ev *xferlog.Event, s *logSession) string {
	var b strings.Builder
	f := ev.File
	for i := range lf.dirs {
		d := &lf.dirs[i]
		if d.esc == 0 {
			b.WriteString(d.lit)
			continue
		}
		var n string
		switch d.esc {
		case 'a':
			n = s.Addr
		case 'h':
			n = s.Host
		case 'm':
			n = s.Module
		case 'P':
			n = s.ModulePath
		case 'u':
			n = s.User
		case 'o':
			n = ev.Op
		case 'p':
			n = strconv.Itoa(os.Getpid())
		case 't':
			n = timeString(s.Now())
		case 'M':
			n = strings.ReplaceAll(timeString(time.Unix(f.ModTime, 0)), " ", "-")
		case 'l':
			n = bigNum(f.Size, d.humanize)
		case 'b', 'c':
			var v int64
			if ev.Iflags&xferlog.ItemTransfer != 0 {
				if s.Sender == (d.esc == 'b') {
					v = ev.Written
				} else {
					v = ev.Read
				}
			}
			n = bigNum(v, d.humanize)
		case 'U':
			n = "0"
			if s.PreserveUID {
				n = strconv.FormatUint(uint64(f.UID), 10)
			}
		case 'G':
			n = "DEFAULT"
			if s.PreserveGID {
				n = strconv.FormatUint(uint64(f.GID), 10)
			}
		case 'B':
			n = permString(f.Mode)
		case 'f':
			n = strings.TrimPrefix(path.Clean(ev.Path), "/")
			if f.Name == "." && n != "." {
				n += "/." // rsync joins the directory and the entry's "."
			}
		case 'n':
			n = f.Name
			if f.Mode&flist.ModeTypeMask == flist.ModeDir {
				n += "/"
			}
		case 'L':
			// Not padded like the others: " -> " then the padded target.
			switch {
			case f.Mode&flist.ModeTypeMask == flist.ModeSymlink && ev.Op != xferlog.Delete:
				b.WriteString(" -> ")
				b.WriteString(pad(f.LinkTarget, d))
			case d.hasWidth:
				b.WriteString("    ")
				b.WriteString(pad("", d))
			}
			continue
		case 'C':
			if f.Mode&flist.ModeTypeMask == flist.ModeRegular && ev.Sum != nil {
				n = hex.EncodeToString(ev.Sum)
			} else {
				b.WriteString(strings.Repeat(" ", 2*s.SumLen))
				continue
			}
		case 'i':
			n = itemize(ev, s.Sender)
		case '%':
			n = "%"
		}
		b.WriteString(pad(n, d))
	}
	return b.String()
}

func pad(s string, d *logDirective) string {
	if !d.hasWidth || len(s) >= d.width {
		return s
	}
	sp := strings.Repeat(" ", d.width-len(s))
	if d.left {
		return s + sp
	}
	return sp + s
}

// timeString is rsync's timestring: local time as "YYYY/MM/DD HH:MM:SS".
func timeString(t time.Time) string {
	return t.Local().Format("2006/01/02 15:04:05")
}

// bigNum is rsync's do_big_num: plain digits, "," groups with one "'",
// and K/M/G units of 1000 (two) or 1024 (three or more).
func bigNum(v int64, humanize int) string {
	if humanize > 1 {
		mult := 1000.0
		if humanize > 2 {
			mult = 1024
		}
		if float64(v) >= mult || float64(v) <= -mult {
			d := float64(v) / mult
			if d < 0 {
				d = -d
			}
			unit := byte('K')
			for _, u := range []byte("MGTP") {
				if d < mult {
					break
				}
				d /= mult
				unit = u
			}
			if v < 0 {
				d = -d
			}
			return fmt.Sprintf("%.2f%c", d, unit)
		}
	}
	s := strconv.FormatInt(v, 10)
	if humanize == 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// permString is "rwxr-xr-x" with the set-id and sticky letters, as rsync's
// permstring prints it after the type character.
func permString(mode uint32) string {
	const rwx = "rwxrwxrwx"
	b := []byte("---------")
	for i := range 9 {
		if mode&(1<<(8-i)) != 0 {
			b[i] = rwx[i]
		}
	}
	for _, s := range []struct {
		bit uint32
		at  int
		low byte
	}{{0o4000, 2, 's'}, {0o2000, 5, 's'}, {0o1000, 8, 't'}} {
		if mode&s.bit != 0 {
			if b[s.at] == '-' {
				b[s.at] = s.low - 'a' + 'A'
			} else {
				b[s.at] = s.low
			}
		}
	}
	return string(b)
}

// itemize is the 11-letter %i string of log.c.
func itemize(ev *xferlog.Event, sender bool) string {
	fl := ev.Iflags
	if fl&xferlog.ItemDeleted != 0 {
		return "*deleting  "
	}
	mode := ev.File.Mode & flist.ModeTypeMask
	c := []byte("...........")
	switch {
	case fl&xferlog.ItemLocalChange != 0 && fl&xferlog.ItemXnameFollows != 0:
		c[0] = 'h'
	case fl&xferlog.ItemLocalChange != 0:
		c[0] = 'c'
	case fl&xferlog.ItemTransfer == 0:
		c[0] = '.'
	case sender:
		c[0] = '<'
	default:
		c[0] = '>'
	}
	flag := func(bit int, ch byte) byte {
		if fl&bit != 0 {
			return ch
		}
		return '.'
	}
	if mode == flist.ModeSymlink {
		c[1] = 'L'
		c[3] = '.'
		c[4] = flag(xferlog.ItemReportTime, 'T')
		if fl&xferlog.ItemReportTime != 0 && fl&xferlog.ItemReportTimeFail == 0 {
			c[4] = 't'
		}
	} else {
		switch mode {
		case flist.ModeDir:
			c[1] = 'd'
		case flist.ModeFIFO, flist.ModeSocket:
			c[1] = 'S'
		case flist.ModeCharDev, flist.ModeBlockDev:
			c[1] = 'D'
		default:
			c[1] = 'f'
		}
		c[3] = flag(xferlog.ItemReportSize, 's')
		c[4] = flag(xferlog.ItemReportTime, 't')
	}
	c[2] = flag(xferlog.ItemReportChange, 'c')
	c[5] = flag(xferlog.ItemReportPerms, 'p')
	c[6] = flag(xferlog.ItemReportOwner, 'o')
	c[7] = flag(xferlog.ItemReportGroup, 'g')
	switch fl & (xferlog.ItemReportAtime | xferlog.ItemReportCrtime) {
	case 0:
		c[8] = '.'
	case xferlog.ItemReportAtime | xferlog.ItemReportCrtime:
		c[8] = 'b'
	case xferlog.ItemReportAtime:
		c[8] = 'u'
	default:
		c[8] = 'n'
	}
	c[9] = flag(xferlog.ItemReportACL, 'a')
	c[10] = flag(xferlog.ItemReportXattr, 'x')
	if fl&(xferlog.ItemIsNew|xferlog.ItemMissingData) != 0 {
		ch := byte('+')
		if fl&xferlog.ItemIsNew == 0 {
			ch = '?'
		}
		for i := 2; i < len(c); i++ {
			c[i] = ch
		}
	} else if c[0] == '.' || c[0] == 'h' || c[0] == 'c' {
		if strings.Trim(string(c[2:]), ".") == "" {
			for i := 2; i < len(c); i++ {
				c[i] = ' '
			}
		}
	}
	return string(c)
}

// transferLog returns the OnFile hook that writes m's transfer log through
// log, or nil when the module does not log transfers.
func transferLog(log *slog.Logger, lf *logFormat, s *logSession) func(protocol.FileEvent) {
	if lf == nil {
		return nil
	}
	return func(ev protocol.FileEvent) {
		if ev.Op != xferlog.Delete && ev.Iflags&xferlog.ItemTransfer == 0 && !loggedItem(lf, ev.Iflags) {
			return
		}
		if ev.Op == xferlog.Delete && !lf.hasO && !lf.hasI {
			// rsyncd logs deletions as "deleting %n" unless the format
			// shows the operation itself.
			name := ev.File.Name
			if ev.File.Mode&flist.ModeTypeMask == flist.ModeDir {
				name += "/"
			}
			log.Info("deleting " + name)
			return
		}
		log.Info(lf.format(&ev, s))
	}
}

// significantItems are the itemize flags that make an entry worth a line
// (rsync's SIGNIFICANT_ITEM_FLAGS).
const significantItems = ^(xferlog.ItemBasisTypeFollows | xferlog.ItemXnameFollows | xferlog.ItemLocalChange) & 0xffff

// loggedItem reports whether rsyncd logs an entry the transfer did not
// send data for (log.c maybe_log_item on a server): only with %i in the
// format, and only when something about it changed or it is a hard link.
func loggedItem(lf *logFormat, iflags int) bool {
	return lf.hasI && (iflags&significantItems != 0 || iflags&xferlog.ItemXnameFollows != 0)
}

// startTransferLog returns the OnFile hook of a session of m when the
// module has "transfer logging"; nil otherwise. Its lines are rsyncd's
// own texts (rsyncdlog.Verbatim).
func (s *conn) startTransferLog(m *modules.Module, user string, o *options.Options, rawPaths []string) func(protocol.FileEvent) {
	if !m.TransferLogging {
		return nil
	}
	format := m.TransferLogFormat
	if format == "" {
		format = DefaultTransferLogFormat
	}
	lf, err := parseLogFormat(format)
	if err != nil {
		s.log.Warn("transfer logging off", "err", err) // the loader refuses such a format
		return nil
	}
	addr := s.remote.Addr().String()
	host := s.peerHost()
	return transferLog(s.log.With(rsyncdlog.Verbatim()), lf, &logSession{
		Module: m.Name, ModulePath: m.Path, User: user, Host: host, Addr: addr,
		Sender: o.Sender, PreserveUID: o.Owner, PreserveGID: o.Group,
		SumLen: 16, // md5, md4, xxh128: the usual transfer sums
		Now:    time.Now,
	})
}
