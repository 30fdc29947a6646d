package modules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SocketOption is one setting of rsyncd.conf's "socket options" (and of
// the daemon's --sockopts), ready for setsockopt(2) with an int value.
type SocketOption struct {
	Name  string // as rsync spells it, e.g. "SO_SNDBUF"
	Level int
	Opt   int
	Value int
}

type sockOptKind int

const (
	sockBool sockOptKind = iota // NAME or NAME=N: on unless N is 0
	sockInt                     // NAME=N
	sockOn                      // NAME only: sets a fixed value (IP_TOS)
)

type sockOptDef struct {
	level, opt, value int
	kind              sockOptKind
	refuse            string // why rsyncd-go does not take it
}

// sockOpts is rsync's socket_options table (socket.c) as it stands on
// Linux. The timeouts and SO_SNDLOWAT are refused: Linux rejects them as
// rsync sets them (an int where the kernel wants a timeval; SO_SNDLOWAT is
// read-only), so stock rsyncd only logs an error for each.
var sockOpts = map[string]sockOptDef{
	"SO_KEEPALIVE":     {level: unix.SOL_SOCKET, opt: unix.SO_KEEPALIVE},
	"SO_REUSEADDR":     {level: unix.SOL_SOCKET, opt: unix.SO_REUSEADDR},
	"SO_BROADCAST":     {level: unix.SOL_SOCKET, opt: unix.SO_BROADCAST},
	"TCP_NODELAY":      {level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY},
	"IPTOS_LOWDELAY":   {level: unix.IPPROTO_IP, opt: unix.IP_TOS, value: 0x10 /* IPTOS_LOWDELAY */, kind: sockOn},
	"IPTOS_THROUGHPUT": {level: unix.IPPROTO_IP, opt: unix.IP_TOS, value: 0x08 /* IPTOS_THROUGHPUT */, kind: sockOn},
	"SO_SNDBUF":        {level: unix.SOL_SOCKET, opt: unix.SO_SNDBUF, kind: sockInt},
	"SO_RCVBUF":        {level: unix.SOL_SOCKET, opt: unix.SO_RCVBUF, kind: sockInt},
	"SO_RCVLOWAT":      {level: unix.SOL_SOCKET, opt: unix.SO_RCVLOWAT, kind: sockInt},
	"SO_SNDLOWAT":      {kind: sockInt, refuse: "Linux does not let it be set (setsockopt fails with ENOPROTOOPT, in stock rsyncd too)"},
	"SO_SNDTIMEO":      {kind: sockInt, refuse: "Linux rejects rsync's int value (it wants a timeval), and rsyncd-go's sockets are non-blocking, where it has no effect; use timeout"},
	"SO_RCVTIMEO":      {kind: sockInt, refuse: "Linux rejects rsync's int value (it wants a timeval), and rsyncd-go's sockets are non-blocking, where it has no effect; use timeout"},
}

// maxSockOptValue bounds buffer sizes and low-water marks: the kernel caps
// them (net.core.wmem_max) anyway, and a value past it is surely a typo.
const maxSockOptValue = 1 << 30

// ParseSocketOptions parses a "socket options" value as rsync's
// set_socket_options reads it: names of its table separated by spaces,
// tabs or commas, case-sensitive, with =N for the integer options (and
// optionally the on/off ones). Where rsync logs an error per connection
// and goes on (unknown name, a value where none is taken), this is an
// error at load time; every bad token is reported.
func ParseSocketOptions(s string) ([]SocketOption, error) {
	var out []SocketOption
	var errs []string
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' }) {
		name, val, hasVal := strings.Cut(tok, "=")
		d, ok := sockOpts[name]
		if !ok {
			hint := ""
			if _, ok := sockOpts[strings.ToUpper(name)]; ok {
				hint = fmt.Sprintf(" (names are case-sensitive: %s)", strings.ToUpper(name))
			}
			errs = append(errs, fmt.Sprintf("unknown socket option %q%s; rsync knows %s", name, hint, strings.Join(SocketOptionNames(), ", ")))
			continue
		}
		if d.refuse != "" {
			errs = append(errs, fmt.Sprintf("socket option %s is not supported: %s", name, d.refuse))
			continue
		}
		o := SocketOption{Name: name, Level: d.level, Opt: d.opt, Value: 1}
		switch {
		case d.kind == sockOn:
			if hasVal {
				errs = append(errs, fmt.Sprintf("socket option %s does not take a value", name))
				continue
			}
			o.Value = d.value
		case hasVal:
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > maxSockOptValue {
				errs = append(errs, fmt.Sprintf("socket option %s: value %q is not a number from 0 to %d", name, val, maxSockOptValue))
				continue
			}
			o.Value = n
		case d.kind == sockInt:
			errs = append(errs, fmt.Sprintf("socket option %s needs a value (%s=N)", name, name))
			continue
		}
		out = append(out, o)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// SocketOptionNames lists the names "socket options" accepts, sorted.
func SocketOptionNames() []string {
	var names []string
	for n, d := range sockOpts {
		if d.refuse == "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}
