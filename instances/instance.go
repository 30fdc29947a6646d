// Package instances finds and loads rsyncd-go instance configs (YAML through
// viper), applies rsyncd's defaults and reports every config problem at once.
package instances

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/hashicorp/go-multierror"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

// Instance is one daemon: its listeners, instance-wide settings and modules.
type Instance struct {
	Name           string        // the file's base name without extension ("default" for Default)
	File           string        // the file it was loaded from
	Listen         []string      // host:port for net.Listen; DefaultListen when the file sets none
	MaxConnections int           // "max_connections" at the top level: limit for the whole instance, 0 = none
	Timeout        time.Duration // "timeout" at the top level, 0 = none
	Motd           string        // "motd_file": path of the file whose contents greet clients, "" = none
	LogFormat      string        // "log_format": "text" (default), "json", or "rsyncd" (stock rsyncd's log file lines)
	LogFile        string        // "log_file": "" = stderr
	PidFile        string        // "pid_file": written (and locked) while listening, as rsyncd does; "" = none
	// "lock_file": max_connections counted in this file's locks, across
	// processes (--inetd); "" = counted in the one process.
	LockFile string
	// "metrics_listen": ADDRESS:PORT serving Prometheus metrics, "" = off.
	MetricsListen string
	// "proxy_protocol": connections start with a PROXY v1/v2 header whose
	// client address replaces the peer's; only accepted from a peer in
	// "proxy_protocol_hosts" (required then, hosts_allow syntax).
	ProxyProtocol      bool
	ProxyProtocolHosts []string
	// "socket_options": rsync's setsockopt list, set on every connection
	// and listening socket (modules.ParseSocketOptions checked it).
	SocketOptions string
	// "listen_backlog": accept queue length of each listening socket
	// (0 = Go's, the kernel's maximum).
	ListenBacklog int
	// "syslog_facility", "syslog_tag": where logs go without a log_file:
	// setting either logs to syslog ("" = rsyncd's daemon and rsyncd).
	SyslogFacility string
	SyslogTag      string
	Modules        []modules.Module
}

// Module returns the module a client asks for by name; names match exactly,
// case included, as in rsyncd.
func (i *Instance) Module(name string) (*modules.Module, bool) {
	for j := range i.Modules {
		if i.Modules[j].Name == name {
			return &i.Modules[j], true
		}
	}
	return nil, false
}

// Where configs live and what an instance listens on by default.
const (
	EnvConfigDir     = "RSYNCD_GO_CONFIG_DIR"
	DefaultConfigDir = "/etc/rsyncd-go"
	DefaultListen    = ":873" // rsyncd's default: port 873 on every address
	maxFileSize      = 4 << 20
)

// Error is one config problem, located in its file and, when known, line.
type Error struct {
	File string
	Line int // 0 when the problem has no single line
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ConfigDir is the --config-dir flag value, else $RSYNCD_GO_CONFIG_DIR, else
// /etc/rsyncd-go.
func ConfigDir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if d := os.Getenv(EnvConfigDir); d != "" {
		return d
	}
	return DefaultConfigDir
}

// Find returns the config file of instance name in dir: <dir>/<name>.yaml,
// <dir>/<name>.yml or the rsyncd.conf <dir>/<name>.conf. Its error names
// every path it tried, or every file found when there are several.
func Find(dir, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return "", fmt.Errorf("invalid instance name %q: want a plain name such as backup", name)
	}
	var found, tried []string
	for _, ext := range []string{".yaml", ".yml", ".conf"} {
		p := filepath.Join(dir, name+ext)
		tried = append(tried, p)
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return "", fmt.Errorf("instance %q: %w", name, err)
		case fi.IsDir():
			return "", fmt.Errorf("instance %q: %s is a directory", name, p)
		default:
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("instance %q: no config file (tried %s)", name, strings.Join(tried, " and "))
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("instance %q: both %s exist; remove all but one", name, strings.Join(found, " and "))
}

// Load reads and validates one instance file: YAML, or rsyncd.conf(5)
// when its name does not end in .yaml or .yml (see LoadConf). All problems
// come back at once as a *multierror.Error of *Error, each naming the file
// and line.
func Load(path string) (*Instance, error) {
	if IsConf(path) {
		return LoadConf(path, ConfOptions{})
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loading instance: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("loading instance: reading %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, &Error{File: path, Err: fmt.Errorf("larger than %d bytes", maxFileSize)}
	}
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".yaml"), ".yml")
	return load(name, path, data)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// load is Load on bytes; file is only used to name the source in errors.
func load(name, file string, data []byte) (*Instance, error) {
	w := &walker{file: file, budget: maxNodes}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, w.syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, w.syntaxError(err)
		}
		w.errorf(extra.Line, "only one YAML document is allowed per instance file")
	}

	clean := w.document(&doc)
	raw, err := decode(clean)
	if err != nil {
		// The walker only lets well-typed known keys through; this is a bug
		// or a viper surprise, never to be swallowed.
		w.errorf(0, "decoding: %w", err)
	}

	inst := build(name, file, raw)
	w.checkInstance(inst)
	w.checkModules(inst)
	if len(w.errs) > 0 {
		sort.SliceStable(w.errs, func(i, j int) bool {
			a, b := w.errs[i].Line, w.errs[j].Line
			return a != 0 && (b == 0 || a < b)
		})
		var me *multierror.Error
		for _, e := range w.errs {
			me = multierror.Append(me, e)
		}
		return nil, me
	}
	return inst, nil
}

func (w *walker) syntaxError(err error) error {
	e := &Error{File: w.file, Err: err}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Err = errors.New("YAML syntax: " + m[2])
	}
	return multierror.Append(nil, e)
}

// decode hands the clean tree to viper and decodes it strictly: no weak
// typing, and any key the structs do not take is an error.
func decode(clean *yaml.Node) (rawInstance, error) {
	var raw rawInstance
	data, err := yaml.Marshal(clean)
	if err != nil {
		return raw, fmt.Errorf("re-encoding YAML: %w", err)
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return raw, fmt.Errorf("viper: %w", err)
	}
	err = v.UnmarshalExact(&raw, func(c *mapstructure.DecoderConfig) {
		c.WeaklyTypedInput = false
		c.DecodeHook = mapstructure.StringToTimeDurationHookFunc()
	})
	if err != nil {
		return raw, fmt.Errorf("viper: %w", err)
	}
	return raw, nil
}

// build applies defaults: rsyncd's for each module parameter, overridden by
// the top-level value, overridden by the module's own.
func build(name, file string, raw rawInstance) *Instance {
	g := raw.rawModule
	inst := &Instance{
		Name:      name,
		File:      file,
		Listen:    []string{DefaultListen},
		LogFormat: "text",
	}
	if raw.Listen != nil && len(*raw.Listen) > 0 {
		inst.Listen = slices.Clone(*raw.Listen)
	}
	pick(&inst.MaxConnections, g.MaxConnections)
	pick(&inst.Timeout, g.Timeout)
	pick(&inst.Motd, raw.MotdFile)
	pick(&inst.LogFormat, raw.LogFormat)
	pick(&inst.LogFile, raw.LogFile)
	pick(&inst.PidFile, raw.PidFile)
	pick(&inst.LockFile, raw.LockFile)
	pick(&inst.MetricsListen, raw.MetricsListen)
	pick(&inst.ProxyProtocol, raw.ProxyProtocol)
	pickList(&inst.ProxyProtocolHosts, raw.ProxyProtocolHosts)
	pick(&inst.SocketOptions, raw.SocketOptions)
	pick(&inst.ListenBacklog, raw.ListenBacklog)
	pick(&inst.SyslogFacility, raw.SyslogFacility)
	pick(&inst.SyslogTag, raw.SyslogTag)
	for _, rm := range raw.Modules {
		inst.Modules = append(inst.Modules, merge(rm, g))
	}
	return inst
}

func merge(m, g rawModule) modules.Module {
	out := modules.New("", "")
	pick(&out.Name, m.Name)
	pick(&out.Path, m.Path, g.Path)
	pick(&out.Comment, m.Comment, g.Comment)
	pick(&out.ReadOnly, m.ReadOnly, g.ReadOnly)
	pick(&out.WriteOnly, m.WriteOnly, g.WriteOnly)
	pick(&out.List, m.List, g.List)
	pickList(&out.AuthUsers, m.AuthUsers, g.AuthUsers)
	pick(&out.SecretsFile, m.SecretsFile, g.SecretsFile)
	pick(&out.StrictModes, m.StrictModes, g.StrictModes)
	pick(&out.AuthDigest, m.AuthDigest, g.AuthDigest)
	pickList(&out.HostsAllow, m.HostsAllow, g.HostsAllow)
	pickList(&out.HostsDeny, m.HostsDeny, g.HostsDeny)
	pick(&out.ForwardLookup, m.ForwardLookup, g.ForwardLookup)
	pick(&out.ReverseLookup, m.ReverseLookup, g.ReverseLookup)
	pick(&out.MaxConnections, m.MaxConnections, g.MaxConnections)
	pick(&out.Timeout, m.Timeout, g.Timeout)
	pickList(&out.RefuseOptions, m.RefuseOptions, g.RefuseOptions)
	pickList(&out.DontCompress, m.DontCompress, g.DontCompress)
	pickList(&out.Filter, m.Filter, g.Filter)
	pickList(&out.Include, m.Include, g.Include)
	pickList(&out.Exclude, m.Exclude, g.Exclude)
	pick(&out.IncludeFrom, m.IncludeFrom, g.IncludeFrom)
	pick(&out.ExcludeFrom, m.ExcludeFrom, g.ExcludeFrom)
	pick(&out.IncomingChmod, m.IncomingChmod, g.IncomingChmod)
	pick(&out.OutgoingChmod, m.OutgoingChmod, g.OutgoingChmod)
	pick(&out.UID, m.UID, g.UID)
	pick(&out.GID, m.GID, g.GID)
	pick(&out.NumericIDs, m.NumericIDs, g.NumericIDs)
	pick(&out.FakeSuper, m.FakeSuper, g.FakeSuper)
	pick(&out.TempDir, m.TempDir, g.TempDir)
	if v := m.OpenNoatime; v != nil || g.OpenNoatime != nil {
		if v == nil {
			v = g.OpenNoatime
		}
		b := *v
		out.OpenNoatime = &b
	}
	pick(&out.MungeSymlinks, m.MungeSymlinks, g.MungeSymlinks)
	pick(&out.IgnoreErrors, m.IgnoreErrors, g.IgnoreErrors)
	pick(&out.IgnoreNonreadable, m.IgnoreNonreadable, g.IgnoreNonreadable)
	pick(&out.MaxVerbosity, m.MaxVerbosity, g.MaxVerbosity)
	pick(&out.EarlyExec, m.EarlyExec, g.EarlyExec)
	pick(&out.PreXferExec, m.PreXferExec, g.PreXferExec)
	pick(&out.PostXferExec, m.PostXferExec, g.PostXferExec)
	pick(&out.TransferLogging, m.TransferLogging, g.TransferLogging)
	pick(&out.TransferLogFormat, m.TransferLogFormat, g.TransferLogFormat)
	return out
}

// pick sets *dst to the first value that was set.
func pick[T any](dst *T, vals ...*T) {
	for _, v := range vals {
		if v != nil {
			*dst = *v
			return
		}
	}
}

// pickList is pick for lists, copying so modules never share a backing array.
func pickList(dst *[]string, vals ...*[]string) {
	for _, v := range vals {
		if v != nil {
			*dst = slices.Clone(*v)
			return
		}
	}
}

// checkInstance validates the instance-wide settings.
func (w *walker) checkInstance(inst *Instance) {
	top := w.top.keys
	seen := map[string]int{}
	for i, l := range inst.Listen {
		line := top["listen"].itemLine(i)
		if err := checkListen(l); err != nil {
			w.errorf(line, "listen: %v", err)
			continue
		}
		if prev, dup := seen[l]; dup {
			w.errorf(line, "listen: %q is listed twice (first on line %d)", l, prev)
		}
		seen[l] = line
	}
	if inst.MaxConnections < 0 {
		w.errorf(top["max_connections"].line, "max_connections: must not be negative at the top level (got %d)", inst.MaxConnections)
	}
	if inst.Timeout < 0 {
		w.errorf(top["timeout"].line, "timeout: must not be negative (got %v)", inst.Timeout)
	}
	if inst.LogFormat != "text" && inst.LogFormat != "json" && inst.LogFormat != "rsyncd" {
		w.errorf(top["log_format"].line, "log_format: want text, json or rsyncd, got %q", inst.LogFormat)
	}
	if _, err := modules.ParseHosts(inst.ProxyProtocolHosts); err != nil {
		for _, e := range flattenErr(err) {
			var he *modules.HostError
			line := top["proxy_protocol_hosts"].line
			if errors.As(e, &he) {
				line = top["proxy_protocol_hosts"].itemLine(he.Index)
			}
			w.errorf(line, "proxy_protocol_hosts: %v", e)
		}
	} else if inst.ProxyProtocol && len(inst.ProxyProtocolHosts) == 0 {
		// Stock rsyncd starts and then refuses every connection.
		w.errorf(top["proxy_protocol"].line, "proxy_protocol: true needs proxy_protocol_hosts: the addresses of the trusted proxies (no one else may send a PROXY header)")
	}
	if inst.Motd != "" {
		if fi, err := os.Stat(inst.Motd); err != nil {
			w.errorf(top["motd_file"].line, "motd_file: %v", err)
		} else if !fi.Mode().IsRegular() {
			w.errorf(top["motd_file"].line, "motd_file: %s is not a regular file", inst.Motd)
		}
	}
	if inst.LogFile != "" {
		dir := filepath.Dir(inst.LogFile)
		if fi, err := os.Stat(dir); err != nil {
			w.errorf(top["log_file"].line, "log_file: directory of %s: %v", inst.LogFile, err)
		} else if !fi.IsDir() {
			w.errorf(top["log_file"].line, "log_file: %s is not a directory", dir)
		}
	}
	if inst.PidFile != "" {
		if !filepath.IsAbs(inst.PidFile) {
			w.errorf(top["pid_file"].line, "pid_file: %q is not an absolute path", inst.PidFile)
		} else if fi, err := os.Stat(filepath.Dir(inst.PidFile)); err != nil {
			w.errorf(top["pid_file"].line, "pid_file: directory of %s: %v", inst.PidFile, err)
		} else if !fi.IsDir() {
			w.errorf(top["pid_file"].line, "pid_file: %s is not a directory", filepath.Dir(inst.PidFile))
		}
	}
	if inst.LockFile != "" {
		dir := filepath.Dir(inst.LockFile)
		if fi, err := os.Stat(dir); err != nil {
			w.errorf(top["lock_file"].line, "lock_file: directory of %s: %v", inst.LockFile, err)
		} else if !fi.IsDir() {
			w.errorf(top["lock_file"].line, "lock_file: %s is not a directory", dir)
		} else if fi, err := os.Lstat(inst.LockFile); err == nil && !fi.Mode().IsRegular() {
			w.errorf(top["lock_file"].line, "lock_file: %s is not a regular file", inst.LockFile)
		}
	}
	if inst.MetricsListen != "" {
		line := top["metrics_listen"].line
		if err := checkListen(inst.MetricsListen); err != nil {
			w.errorf(line, "metrics_listen: %v", err)
		} else {
			for _, l := range inst.Listen {
				if listenOverlap(inst.MetricsListen, l) {
					w.errorf(line, "metrics_listen: %q overlaps listen address %q", inst.MetricsListen, l)
				}
			}
		}
	}
	w.checkFront(inst) // front.go
	if w.items == 0 && !w.top.bad["modules"] {
		w.errorf(top["modules"].line, "no modules: define at least one under modules: (- name: NAME, path: DIR)")
	}
}

// listenOverlap tells whether binding a and b (both valid for checkListen)
// would clash: the same port, unless 0, on the same or a wildcard host.
func listenOverlap(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	norm := func(h string) string {
		if h == "localhost" {
			return "127.0.0.1"
		}
		if ip, err := netip.ParseAddr(h); err == nil {
			return ip.Unmap().String()
		}
		return h
	}
	return wild(ha) || wild(hb) || norm(ha) == norm(hb)
}

// checkListen accepts what net.Listen("tcp", s) takes with a literal IP
// (or "localhost", or nothing for every address) and a numeric port.
func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q: want ADDRESS:PORT such as 0.0.0.0:873 or [::1]:873", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	if host == "" || host == "localhost" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("%q: %q is not an IP address", s, host)
	}
	return nil
}

// inheritedError groups one error of a top-level default that several
// modules inherit, so it is reported once, on the top-level line.
type inheritedError struct {
	line  int
	field string
	err   error
	names []string
}

// checkModules validates every module and the uniqueness of their names,
// mapping each problem to the line of the key that caused it.
func (w *walker) checkModules(inst *Instance) {
	if len(inst.Modules) != len(w.mods) {
		w.errorf(0, "internal error: %d modules decoded from %d module mappings", len(inst.Modules), len(w.mods))
		return
	}
	byName := map[string]int{}
	for i, m := range inst.Modules {
		kl := w.mods[i]
		if m.Name == "" {
			continue // Validate reports it
		}
		key := strings.ToLower(m.Name)
		line := kl.keys["name"].line
		if j, dup := byName[key]; dup {
			first := inst.Modules[j]
			if first.Name == m.Name {
				w.errorf(line, "module %q: defined twice (first on line %d)", m.Name, w.mods[j].keys["name"].line)
			} else {
				w.errorf(line, "module %q: differs only in case from module %q on line %d (rsyncd.conf would merge them)", m.Name, first.Name, w.mods[j].keys["name"].line)
			}
			continue
		}
		byName[key] = i
	}

	var inherited []*inheritedError
	for i := range inst.Modules {
		m := &inst.Modules[i]
		kl := w.mods[i]
		for _, e := range flattenErr(m.Validate()) {
			var fe *modules.FieldError
			if !errors.As(e, &fe) {
				w.errorf(kl.line, "module %q: %v", m.Name, e)
				continue
			}
			loc, own := kl.keys[fe.Field]
			topLoc, fromTop := w.top.keys[fe.Field]
			if w.suppressed(kl, fe) {
				continue
			}
			line := kl.line
			switch {
			case own:
				line = lineOf(loc, fe)
			case fromTop:
				if fe.Field == "timeout" {
					continue // checkInstance reports the top-level value
				}
				line = lineOf(topLoc, fe)
				inherited = addInherited(inherited, line, fe)
				continue
			}
			w.errs = append(w.errs, &Error{File: w.file, Line: line, Err: fe})
		}
	}
	for _, ie := range inherited {
		w.errorf(ie.line, "%s: %v (top-level default, inherited by module %s)", ie.field, ie.err, strings.Join(ie.names, ", "))
	}
}

// suppressed tells a module error that only follows from a key already
// reported (dropped for a type error), so one mistake is reported once.
func (w *walker) suppressed(kl keyLines, fe *modules.FieldError) bool {
	badKey := func(k string) bool {
		if _, own := kl.keys[k]; own {
			return kl.bad[k]
		}
		return w.top.bad[k]
	}
	if badKey(fe.Field) {
		return true
	}
	return errors.Is(fe, modules.ErrNoSecretsFile) && badKey("secrets_file")
}

func addInherited(list []*inheritedError, line int, fe *modules.FieldError) []*inheritedError {
	name := strconv.Quote(fe.Module)
	for _, ie := range list {
		if ie.line == line && ie.field == fe.Field && ie.err.Error() == fe.Err.Error() {
			if !slices.Contains(ie.names, name) {
				ie.names = append(ie.names, name)
			}
			return list
		}
	}
	return append(list, &inheritedError{line: line, field: fe.Field, err: fe.Err, names: []string{name}})
}

// lineOf is the key's line, or the list item's for a bad hosts entry.
func lineOf(loc location, fe *modules.FieldError) int {
	var he *modules.HostError
	if errors.As(fe, &he) {
		return loc.itemLine(he.Index)
	}
	return loc.line
}

func flattenErr(err error) []error {
	if err == nil {
		return nil
	}
	var me *multierror.Error
	if errors.As(err, &me) {
		return me.Errors
	}
	return []error{err}
}
