package instances

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-multierror"
	"go.yaml.in/yaml/v3"

	"github.com/rsyncd-go/rsyncd-go/rsyncdconf"
)

// ConfOptions are what rsync's --daemon command line adds to an rsyncd.conf.
type ConfOptions struct {
	Env     func(string) (string, bool) // %VAR% lookup; os.LookupEnv if nil
	Dparams []string                    // --dparam NAME=VALUE, as rsync applies them
	Address string                      // --address: overrides "address"
	Port    int                         // --port: overrides "port"; 0 = the config's, else 873
	Family  string                      // "4" (--ipv4), "6" (--ipv6) or "" for both
	LogFile string                      // --log-file: overrides every "log file"
}

// IsConf reports whether path names an rsyncd.conf(5) file rather than
// instance YAML: any name that does not end in .yaml or .yml.
func IsConf(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext != ".yaml" && ext != ".yml"
}

// Converted is an rsyncd.conf turned into the instance YAML that means the
// same service.
type Converted struct {
	File string // the rsyncd.conf
	// YAML is the instance config, with comments where the conversion made a
	// default explicit or mapped a parameter under another name.
	YAML []byte
	// Problems are the parameters rsyncd-go refuses, each an *Error at the
	// parameter's file:line; the YAML must not be served while there are any.
	Problems []error
	pos      map[int]Error // YAML line -> where in the rsyncd.conf its value came from
}

// LoadConf loads an rsyncd.conf as an instance: it is converted to instance
// YAML and loaded exactly as a YAML file is, with every error pointing at
// the rsyncd.conf's file:line.
func LoadConf(path string, o ConfOptions) (*Instance, error) {
	c, err := ConvertConf(path, o)
	if err != nil {
		return nil, err
	}
	if len(c.Problems) > 0 {
		return nil, multierror.Append(nil, c.Problems...)
	}
	return c.Load()
}

// Load loads the converted YAML as an instance named after the rsyncd.conf.
func (c *Converted) Load() (*Instance, error) {
	inst, err := load(confName(c.File), c.File, c.YAML)
	if err != nil {
		return nil, c.remap(err)
	}
	return inst, nil
}

func confName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".conf")
}

// remap points the YAML loader's errors at the rsyncd.conf.
func (c *Converted) remap(err error) error {
	var out *multierror.Error
	for _, e := range flattenErr(err) {
		var ie *Error
		if errors.As(e, &ie) {
			p, ok := c.pos[ie.Line]
			if !ok {
				p = Error{File: c.File}
			}
			e = &Error{File: p.File, Line: p.Line, Err: ie.Err}
		}
		out = multierror.Append(out, e)
	}
	return out
}

// confParam says what becomes of one rsyncd.conf parameter.
type confParam struct {
	key string // the YAML key it maps to when the schema has it; "" = handled apart
	// refuse, when not empty, is why rsyncd-go does not take the parameter.
	refuse string
}

// confParams covers every parameter of rsyncd.conf(5) 3.5.0 (rsyncdconf's
// table); TestConfParamsComplete keeps the two in step. A key the schema
// does not have (yet) refuses the parameter as "not supported yet".
var confParams = map[string]confParam{
	// Global-only.
	"address":              {},
	"port":                 {},
	"listen backlog":       {key: "listen_backlog"},
	"motd file":            {key: "motd_file"},
	"pid file":             {key: "pid_file"},
	"proxy protocol":       {key: "proxy_protocol"},
	"proxy protocol hosts": {key: "proxy_protocol_hosts"},
	"daemon uid":           {},
	"daemon gid":           {},
	"daemon chroot":        {refuse: "rsyncd-go does not chroot itself; every module is confined to its path by os.Root (for more, use systemd's RootDirectory= or ProtectSystem=)"},
	"socket options":       {key: "socket_options"},

	// Module parameters (a global value is the default of every module).
	"path":               {key: "path"},
	"comment":            {key: "comment"},
	"read only":          {key: "read_only"},
	"write only":         {key: "write_only"},
	"list":               {key: "list"},
	"auth users":         {key: "auth_users"},
	"secrets file":       {key: "secrets_file"},
	"strict modes":       {key: "strict_modes"},
	"auth digest":        {key: "auth_digest"},
	"hosts allow":        {key: "hosts_allow"},
	"hosts deny":         {key: "hosts_deny"},
	"forward lookup":     {key: "forward_lookup"},
	"reverse lookup":     {key: "reverse_lookup"},
	"max connections":    {key: "max_connections"},
	"timeout":            {key: "timeout"},
	"refuse options":     {key: "refuse_options"},
	"dont compress":      {key: "dont_compress"},
	"filter":             {key: "filter"},
	"include":            {key: "include"},
	"exclude":            {key: "exclude"},
	"include from":       {key: "include_from"},
	"exclude from":       {key: "exclude_from"},
	"incoming chmod":     {key: "incoming_chmod"},
	"outgoing chmod":     {key: "outgoing_chmod"},
	"numeric ids":        {key: "numeric_ids"},
	"fake super":         {key: "fake_super"},
	"munge symlinks":     {key: "munge_symlinks"},
	"ignore errors":      {key: "ignore_errors"},
	"ignore nonreadable": {key: "ignore_nonreadable"},
	"max verbosity":      {key: "max_verbosity"},
	"lock file":          {key: "lock_file"},
	"transfer logging":   {key: "transfer_logging"},
	"log format":         {key: "transfer_log_format"},
	"pre-xfer exec":      {key: "pre_xfer_exec"},
	"post-xfer exec":     {key: "post_xfer_exec"},
	"log file":           {},
	"use chroot":         {},
	"uid":                {key: "uid"},
	"gid":                {key: "gid"},
	"insecure links":     {},
	"open noatime":       {key: "open_noatime"},
	"name":               {refuse: "a module's name is its [section] header"},
	"charset":            {refuse: "file names are stored as the client sends them (no iconv)"},
	"early exec":         {key: "early_exec"},
	"name converter":     {refuse: "user and group names are looked up by the daemon itself"},
	"temp dir":           {key: "temp_dir"},
	"syslog facility":    {key: "syslog_facility"},
	"syslog tag":         {key: "syslog_tag"},
}

// Keys whose top-level YAML value also sets an instance-wide limit, which a
// global rsyncd.conf value does not: they always go into each module.
var perModuleOnly = map[string]bool{"max_connections": true, "timeout": true}

// moduleKeyOrder is the order of module keys in the YAML.
var moduleKeyOrder = []string{
	"name", "path", "comment", "read_only", "write_only", "list",
	"auth_users", "secrets_file", "strict_modes", "auth_digest",
	"hosts_allow", "hosts_deny", "forward_lookup", "reverse_lookup",
	"max_connections", "timeout", "refuse_options", "dont_compress",
	"filter", "include", "exclude", "include_from", "exclude_from",
	"incoming_chmod", "outgoing_chmod", "uid", "gid", "numeric_ids", "fake_super", "temp_dir", "open_noatime",
	"munge_symlinks", "ignore_errors", "ignore_nonreadable", "max_verbosity",
	"transfer_logging", "transfer_log_format", "early_exec", "pre_xfer_exec", "post_xfer_exec",
}

// instanceKeysOfModuleParams are instance-wide YAML keys of rsyncd.conf
// module parameters, in YAML order.
var instanceKeysOfModuleParams = []string{"lock_file", "syslog_facility", "syslog_tag"}

// value is one YAML value with where it came from.
type value struct {
	node    *yaml.Node
	pos     Error // File and Line only
	comment string
}

func (v value) same(w value) bool {
	return v.node.Tag == w.node.Tag && v.node.Value == w.node.Value
}

type converter struct {
	file     string
	o        ConfOptions
	problems []error
	notes    []string
	refused  map[string]bool // "file:line:name" already reported
}

// note records a parameter that has no YAML key but is accepted, for the
// YAML's head comment; once per file:line.
func (cv *converter) note(p rsyncdconf.Param, msg string) {
	k := fmt.Sprintf("note:%s:%d:%s", p.File, p.Line, p.Name)
	if cv.refused[k] {
		return
	}
	cv.refused[k] = true
	cv.notes = append(cv.notes, fmt.Sprintf("%s:%d: %s = %s: %s", p.File, p.Line, p.Name, p.Value, msg))
}

func (cv *converter) refusePos(pos Error, name, why string) {
	cv.refuse(rsyncdconf.Param{Name: name, File: pos.File, Line: pos.Line}, why)
}

// confNameOf is the rsyncd.conf name of a YAML key.
func confNameOf(key string) string {
	for n, cp := range confParams {
		if cp.key == key {
			return n
		}
	}
	return key
}

// anyKeys are the keys of either level of the schema.
var anyKeys = func() map[string]kind {
	m := map[string]kind{}
	for k, v := range topKeys {
		m[k] = v
	}
	for k, v := range moduleKeys {
		m[k] = v
	}
	return m
}()

func (cv *converter) refuse(p rsyncdconf.Param, why string) {
	k := fmt.Sprintf("%s:%d:%s", p.File, p.Line, p.Name)
	if cv.refused[k] {
		return // a global inherited by several modules is reported once
	}
	cv.refused[k] = true
	cv.problems = append(cv.problems, &Error{File: p.File, Line: p.Line,
		Err: fmt.Errorf("%q is not supported by rsyncd-go: %s", p.Name, why)})
}

// ConvertConf parses an rsyncd.conf and converts it to instance YAML. The
// error reports the file's syntax problems (unknown or misspelled
// parameters, bad values, each with file:line); parameters rsyncd-go does
// not take are the Converted's Problems.
func ConvertConf(path string, o ConfOptions) (*Converted, error) {
	cfg, err := rsyncdconf.ParseWith(path, rsyncdconf.Options{Env: o.Env, Dparams: o.Dparams})
	if err != nil {
		var out *multierror.Error
		for _, e := range flattenErr(err) {
			var re *rsyncdconf.Error
			if errors.As(e, &re) {
				e = &Error{File: re.File, Line: re.Line, Err: re.Err}
			}
			out = multierror.Append(out, e)
		}
		return nil, out
	}
	cv := &converter{file: path, o: o, refused: map[string]bool{}}
	return cv.convert(cfg)
}

func (cv *converter) convert(cfg *rsyncdconf.Config) (*Converted, error) {
	globals := cfg.Globals()
	top := map[string]value{}
	var topOrder []string
	setTop := func(key string, v value) {
		if _, ok := top[key]; !ok {
			topOrder = append(topOrder, key)
		}
		top[key] = v
	}

	// Instance settings from the global-only parameters.
	listen, lv := cv.listen(globals)
	setTop("listen", value{node: plainStr(listen), pos: lv.pos, comment: lv.comment})
	for _, name := range []string{"pid file", "motd file", "proxy protocol", "proxy protocol hosts", "listen backlog", "socket options"} {
		p, ok := globals[name]
		if !ok || name == "socket options" && strings.TrimSpace(p.Value) == "" {
			continue
		}
		if v, ok := cv.mapped(p, topKeys); ok {
			setTop(confParams[name].key, v)
		}
	}
	for _, name := range []string{"daemon uid", "daemon gid"} {
		if p, ok := globals[name]; ok {
			if why := cv.sameIdentity(name, p.Value); why != "" {
				cv.refuse(p, why)
			} else if p.Value != "" {
				cv.note(p, "accepted: the daemon already runs as "+p.Value)
			}
		}
	}
	for _, name := range []string{"daemon chroot"} {
		if p, ok := globals[name]; ok && p.Value != "" {
			cv.refuse(p, confParams[name].refuse)
		}
	}
	logFile := value{}
	if cv.o.LogFile != "" {
		logFile = value{node: plainStr(cv.o.LogFile), pos: Error{File: "--log-file"}}
	} else if p, ok := globals["log file"]; ok && p.Value != "" {
		logFile = value{node: plainStr(p.Value), pos: posOf(p)}
	}
	if logFile.node != nil {
		setTop("log_file", logFile)
	}
	// A drop-in keeps its log: stock rsyncd's lines, in the file or syslog.
	setTop("log_format", value{node: plainStr("rsyncd"), pos: Error{File: cv.file}})

	// Modules: each one's effective parameters, as rsync computes them.
	mods := make([]map[string]value, len(cfg.Modules))
	for i, sec := range cfg.Modules {
		mods[i] = cv.module(cfg, sec, logFile)
	}

	// A module default goes to the top level when every module of several
	// has the same value; otherwise each module carries its own.
	var shared []string
	if len(mods) > 0 {
		for _, k := range append(slices.Clone(moduleKeyOrder), instanceKeysOfModuleParams...) {
			_, modKey := moduleKeys[k]
			if k == "name" || k == "path" || perModuleOnly[k] || modKey && len(mods) == 1 {
				continue
			}
			v0, ok := mods[0][k]
			if !ok {
				continue
			}
			all := true
			for _, m := range mods[1:] {
				if v, ok := m[k]; !ok || !v.same(v0) {
					all = false
					break
				}
			}
			if all {
				shared = append(shared, k)
			}
		}
	}
	for _, k := range shared {
		v := mods[0][k]
		for _, m := range mods {
			delete(m, k)
		}
		setTop(k, v)
	}
	for i, m := range mods {
		for k, v := range m {
			if _, ok := moduleKeys[k]; !ok {
				cv.refusePos(v.pos, confNameOf(k), "modules differ in it, and rsyncd-go takes one value per instance ("+k+")")
				delete(mods[i], k)
			}
		}
	}

	// Encode, then find the line of every key for error positions.
	doc := newMapping()
	doc.HeadComment = strings.Join(append([]string{fmt.Sprintf("Converted from %s by rsyncd-go import.", cv.file)}, cv.notes...), "\n")
	pos := map[string]Error{}
	for _, k := range topOrder {
		v := top[k]
		key := plainStr(k)
		if v.comment != "" {
			v.node.LineComment = v.comment
		}
		doc.Content = append(doc.Content, key, v.node)
		pos["/"+k] = v.pos
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i, m := range mods {
		item := newMapping()
		for _, k := range moduleKeyOrder {
			v, ok := m[k]
			if !ok {
				continue
			}
			key := plainStr(k)
			if v.comment != "" {
				v.node.LineComment = v.comment
			}
			item.Content = append(item.Content, key, v.node)
			pos[fmt.Sprintf("/%d/%s", i, k)] = v.pos
		}
		pos[fmt.Sprintf("/%d", i)] = Error{File: cfg.Modules[i].File, Line: cfg.Modules[i].Line}
		seq.Content = append(seq.Content, item)
	}
	modsKey := plainStr("modules")
	doc.Content = append(doc.Content, modsKey, seq)

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding the instance YAML of %s: %w", cv.file, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding the instance YAML of %s: %w", cv.file, err)
	}
	c := &Converted{File: cv.file, YAML: buf.Bytes(), Problems: cv.problems, pos: map[int]Error{}}
	c.locate(pos)
	sort.SliceStable(c.Problems, func(i, j int) bool {
		a, b := c.Problems[i].(*Error), c.Problems[j].(*Error)
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return c, nil
}

// locate maps the lines of the encoded YAML back to the rsyncd.conf.
func (c *Converted) locate(pos map[string]Error) {
	var doc yaml.Node
	if yaml.Unmarshal(c.YAML, &doc) != nil || len(doc.Content) == 0 {
		return
	}
	c.pos[0] = Error{File: c.File}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if p, ok := pos["/"+k.Value]; ok {
			c.pos[k.Line] = p
		}
		if k.Value != "modules" {
			continue
		}
		c.pos[k.Line] = Error{File: c.File}
		for j, m := range v.Content {
			mp := pos[fmt.Sprintf("/%d", j)]
			c.pos[m.Line] = mp
			for n := 0; n+1 < len(m.Content); n += 2 {
				mk := m.Content[n]
				if p, ok := pos[fmt.Sprintf("/%d/%s", j, mk.Value)]; ok && p.File != "" {
					c.pos[mk.Line] = p
				} else if _, set := c.pos[mk.Line]; !set {
					c.pos[mk.Line] = mp
				}
			}
		}
	}
}

func posOf(p rsyncdconf.Param) Error { return Error{File: p.File, Line: p.Line} }

// listen is the listen address of "address" and "port" with the command
// line's overrides, as rsync --daemon binds them.
func (cv *converter) listen(globals map[string]rsyncdconf.Param) (string, value) {
	host, port := "", 873
	v := value{pos: Error{File: cv.file}, comment: "rsync's default: port 873 on every address"}
	if p, ok := globals["address"]; ok && p.Value != "" {
		host = p.Value
		v.pos, v.comment = posOf(p), "rsyncd.conf's address and port"
	}
	if p, ok := globals["port"]; ok {
		n, _ := strconv.Atoi(strings.TrimSpace(p.Value)) // rsyncdconf checked it
		if n != 0 {
			port = n
		}
		if host == "" {
			v.pos = posOf(p)
		}
		v.comment = "rsyncd.conf's address and port"
	}
	if cv.o.Address != "" {
		host = cv.o.Address
		v.pos, v.comment = Error{File: "--address"}, "--address and the port"
	}
	if cv.o.Port != 0 {
		port = cv.o.Port
		v.comment = "the address and --port"
	}
	if host == "" {
		switch cv.o.Family {
		case "4":
			host = "0.0.0.0"
		case "6":
			host = "::"
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), v
}

// mapped converts a parameter whose YAML key the schema has; otherwise it
// refuses it as not supported yet.
func (cv *converter) mapped(p rsyncdconf.Param, schema map[string]kind) (value, bool) {
	cp := confParams[p.Name]
	kd, ok := schema[cp.key]
	if !ok {
		cv.refuse(p, "not supported yet")
		return value{}, false
	}
	if strings.Contains(p.Value, "%RSYNC_") && p.Name != "path" {
		// Only "path" is resolved per connection (modules.ExpandPath).
		cv.refuse(p, "values with connection-time variables (%RSYNC_...%) are supported in path only")
		return value{}, false
	}
	v := value{pos: posOf(p)}
	switch kd {
	case kindBool:
		b, err := rsyncdconf.ParseBool(p.Value)
		if err != nil { // "unset" of a three-state parameter: the default
			return value{}, false
		}
		v.node = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
	case kindInt, kindDuration:
		n, err := strconv.Atoi(strings.TrimSpace(p.Value))
		if err != nil {
			cv.refuse(p, fmt.Sprintf("%q is not a number", p.Value))
			return value{}, false
		}
		v.node = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)}
	default:
		v.node = plainStr(p.Value)
	}
	if p.Name == "log format" {
		v.comment = `rsyncd.conf's "log format"`
	}
	return v, true
}

// module converts one module's effective parameters to YAML values.
func (cv *converter) module(cfg *rsyncdconf.Config, sec rsyncdconf.Section, logFile value) map[string]value {
	eff := cfg.Effective(sec.Name)
	out := map[string]value{"name": {node: plainStr(sec.Name), pos: Error{File: sec.File, Line: sec.Line}}}
	names := make([]string, 0, len(eff))
	for n := range eff {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := eff[n]
		cp, known := confParams[n]
		switch {
		case !known:
			cv.refuse(p, "not supported yet")
		case cp.refuse != "":
			if p.Value != "" {
				cv.refuse(p, cp.refuse)
			}
		case (n == "uid" || n == "gid") && os.Geteuid() != 0 && cv.sameIdentity(n, p.Value) != "":
			// Only a daemon running as root can act as a module's user.
			cv.refuse(p, cv.sameIdentity(n, p.Value))
		case (n == "syslog facility" || n == "syslog tag") && logFile.node != nil:
			// As in rsyncd: no effect when there is a log file.
			cv.note(p, "no effect: logs go to the log file, as in rsyncd")
		case cp.key != "":
			// An instance-wide key ("lock_file") is taken when every module
			// agrees; convert checks that.
			if v, ok := cv.mapped(p, anyKeys); ok {
				out[cp.key] = v
			}
		case n == "log file":
			if cv.o.LogFile == "" && p.Value != "" && (logFile.node == nil || p.Value != logFile.node.Value) {
				cv.refuse(p, "one log per instance: a module's own log file is not supported; set it in the global section")
			}
		case n == "insecure links":
			if b, _ := rsyncdconf.ParseBool(p.Value); b {
				cv.refuse(p, "symlinks are never followed out of a module (os.Root)")
			}
		case n == "use chroot":
			// Accepted either way: every module is confined to its path by
			// os.Root, as a chroot would. Only its effect on defaults stays.
			cv.note(p, "accepted: every module is confined to its path (os.Root) whatever its value")
		}
	}
	if _, ok := out["read_only"]; !ok {
		out["read_only"] = value{node: &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"},
			pos: Error{File: sec.File, Line: sec.Line}, comment: "rsyncd.conf's default, made explicit"}
	}
	if _, ok := out["numeric_ids"]; !ok {
		if p, ok := eff["use chroot"]; ok {
			if b, err := rsyncdconf.ParseBool(p.Value); err == nil && b {
				out["numeric_ids"] = value{node: &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"},
					pos: posOf(p), comment: `rsyncd's default in a "use chroot" module`}
			}
		}
	}
	return out
}

// sameIdentity accepts a uid/gid (or daemon uid/gid) that names what the
// process already runs as: rsyncd-go never switches the process's users
// (under root a module's uid/gid applies to its transfers' threads only).
// It returns why any other value is refused, or "".
func (cv *converter) sameIdentity(name, val string) string {
	const why = "rsyncd-go acts as a module's user only when it runs as root; run it as that user and group (systemd User=, Group=) and remove %q, or set it to the identity the daemon runs as"
	val = strings.TrimSpace(val)
	if val == "" {
		return ""
	}
	if strings.Contains(val, "%RSYNC_") {
		return fmt.Sprintf(why, name)
	}
	if strings.HasSuffix(name, "uid") {
		if idMatches(val, os.Geteuid(), func(s string) (string, error) {
			u, err := user.Lookup(s)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		}) {
			return ""
		}
		return fmt.Sprintf(why, name)
	}
	items := strings.FieldsFunc(val, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	if len(items) == 1 && idMatches(items[0], os.Getegid(), func(s string) (string, error) {
		g, err := user.LookupGroup(s)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	}) {
		return ""
	}
	return fmt.Sprintf(why, name)
}

func idMatches(val string, id int, lookup func(string) (string, error)) bool {
	if n, err := strconv.Atoi(val); err == nil {
		return n == id
	}
	s, err := lookup(val)
	return err == nil && s == strconv.Itoa(id)
}

// plainStr is a string scalar the encoder quotes only when it must.
func plainStr(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}
