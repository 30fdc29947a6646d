package instances

import (
	"fmt"
	"log/syslog"
	"strconv"
	"strings"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

// Defaults of rsyncd.conf's "syslog facility" and "syslog tag".
const (
	DefaultSyslogFacility = "daemon"
	DefaultSyslogTag      = "rsyncd"
)

// syslogFacilities are the names rsyncd.conf(5) takes on Linux.
var syslogFacilities = map[string]syslog.Priority{
	"auth": syslog.LOG_AUTH, "authpriv": syslog.LOG_AUTHPRIV, "cron": syslog.LOG_CRON,
	"daemon": syslog.LOG_DAEMON, "ftp": syslog.LOG_FTP, "kern": syslog.LOG_KERN,
	"lpr": syslog.LOG_LPR, "mail": syslog.LOG_MAIL, "news": syslog.LOG_NEWS,
	"security": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG, "user": syslog.LOG_USER,
	"uucp":   syslog.LOG_UUCP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// ParseSyslogFacility reads a "syslog facility" as rsyncd does: a name
// (any case), or the facility's number as syslog.h defines it (LOG_LOCAL5
// is 168); "" is the default, daemon.
func ParseSyslogFacility(s string) (syslog.Priority, error) {
	if s == "" {
		return syslog.LOG_DAEMON, nil
	}
	if f, ok := syslogFacilities[strings.ToLower(s)]; ok {
		return f, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n%8 == 0 && n <= int(syslog.LOG_LOCAL7) {
		return syslog.Priority(n), nil
	}
	return 0, fmt.Errorf("unknown syslog facility %q (want auth, authpriv, cron, daemon, ftp, kern, lpr, mail, news, security, syslog, user, uucp or local0 to local7)", s)
}

// maxBacklog bounds "listen_backlog"; the kernel caps it at somaxconn.
const maxBacklog = 1 << 16

// checkFront validates the daemon front's settings: socket options,
// listen backlog and syslog.
func (w *walker) checkFront(inst *Instance) {
	top := w.top.keys
	if inst.SocketOptions != "" {
		if _, err := modules.ParseSocketOptions(inst.SocketOptions); err != nil {
			w.errorf(top["socket_options"].line, "socket_options: %v", err)
		}
	}
	if inst.ListenBacklog < 0 || inst.ListenBacklog > maxBacklog {
		w.errorf(top["listen_backlog"].line, "listen_backlog: want 0 (the kernel's maximum) to %d, got %d", maxBacklog, inst.ListenBacklog)
	}
	if _, set := top["syslog_facility"]; set {
		if _, err := ParseSyslogFacility(inst.SyslogFacility); err != nil || inst.SyslogFacility == "" {
			if err == nil {
				err = fmt.Errorf("empty: want a facility name such as daemon or local5")
			}
			w.errorf(top["syslog_facility"].line, "syslog_facility: %v", err)
		}
	}
	if _, set := top["syslog_tag"]; set {
		switch t := inst.SyslogTag; {
		case t == "":
			w.errorf(top["syslog_tag"].line, "syslog_tag: empty")
		case modules.HasConnVars(t):
			w.errorf(top["syslog_tag"].line, "syslog_tag: %%RSYNC_...%% values are not supported here: the log is opened once per instance")
		case strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f || r == ':' || r == '[' }):
			w.errorf(top["syslog_tag"].line, "syslog_tag: %q holds a space, control character, ':' or '[' (they end a syslog tag)", t)
		case len(t) > 48:
			w.errorf(top["syslog_tag"].line, "syslog_tag: longer than 48 bytes")
		}
	}
	if inst.LogFile != "" {
		for _, k := range []string{"syslog_facility", "syslog_tag"} {
			if loc, set := top[k]; set {
				w.errorf(loc.line, "%s: has no effect with log_file set (logs go to %s); remove one of them", k, inst.LogFile)
			}
		}
	}
}

// Syslog tells whether the instance logs to syslog by its own settings
// (syslog_facility or syslog_tag set, no log_file), with the facility and
// tag to use (rsyncd's defaults where unset).
func (i *Instance) Syslog() (use bool, facility syslog.Priority, tag string) {
	facility, err := ParseSyslogFacility(i.SyslogFacility)
	if err != nil {
		facility = syslog.LOG_DAEMON // the loader refuses such a value
	}
	tag = i.SyslogTag
	if tag == "" {
		tag = DefaultSyslogTag
	}
	return i.LogFile == "" && (i.SyslogFacility != "" || i.SyslogTag != ""), facility, tag
}
