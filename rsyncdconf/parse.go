package rsyncdconf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Limits on what Parse will read; a config larger than this is a mistake or an attack.
const (
	MaxFileSize     = 4 << 20  // bytes per file
	MaxTotalSize    = 32 << 20 // bytes over all included files
	MaxIncludeDepth = 16       // nested &include/&merge levels
	MaxFiles        = 1024     // files read through directives
)

// Param is one "name = value" line. Name is canonical (e.g. "read only");
// Value has continuation lines joined, whitespace trimmed and %VAR% expanded.
type Param struct {
	Name, Value string
	File        string
	Line        int
}

// Section is the global section or one module; Params are its own, in file order.
type Section struct {
	Name   string
	File   string
	Line   int
	Params []Param
}

// Config is a parsed rsyncd.conf.
type Config struct {
	// Global holds every parameter set in global context, in file order
	// (including ones an &include later reverted; see Globals).
	Global Section
	// Modules in order of first appearance; duplicate sections are merged.
	Modules []Section

	inherited []map[string]Param // per module: module defaults in force when it was first declared
	globals   map[string]Param   // global-context state at end of parse
}

// Error is one problem in a config file.
type Error struct {
	File string
	Line int // 0 when the problem is with the file as a whole
	Err  error
}

func (e *Error) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Module returns the module whose name is exactly name (as rsync's lp_number
// matches it), or nil.
func (c *Config) Module(name string) *Section {
	if i := c.index(name); i >= 0 {
		return &c.Modules[i]
	}
	return nil
}

func (c *Config) index(name string) int {
	for i := range c.Modules {
		if c.Modules[i].Name == name {
			return i
		}
	}
	return -1
}

// Effective returns a module's parameters: its own, over the module defaults
// in force where the module was first declared (rsync copies them then), over
// the final global values for string parameters that were still unset there
// (rsync falls back to the global value of a NULL string when it is read).
// It returns nil for an unknown module.
func (c *Config) Effective(module string) map[string]Param {
	i := c.index(module)
	if i < 0 {
		return nil
	}
	m := make(map[string]Param, len(c.inherited[i])+len(c.Modules[i].Params))
	for k, v := range c.globals {
		if d, _ := lookup(k); !d.global && lateBound(d) {
			m[k] = v
		}
	}
	for k, v := range c.inherited[i] {
		m[k] = v
	}
	for _, p := range c.Modules[i].Params {
		m[p.Name] = p
	}
	return m
}

// Globals returns the global-context values in force at the end of the file
// (global-only parameters and module defaults); values set inside an
// &include'd file are not among them, as in rsync.
func (c *Config) Globals() map[string]Param {
	m := make(map[string]Param, len(c.globals))
	for k, v := range c.globals {
		m[k] = v
	}
	return m
}

// ExpandVars replaces each %NAME% (NAME starting with an upper-case letter)
// whose variable env knows; unknown references are kept literally, as rsync does.
func ExpandVars(s string, env func(string) (string, bool)) string {
	return expand(s, env, false)
}

func expand(s string, env func(string) (string, bool), keepRsync bool) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '%' && i+1 < len(s) && s[i+1] >= 'A' && s[i+1] <= 'Z' {
			if j := strings.IndexByte(s[i+1:], '%'); j >= 0 {
				name := s[i+1 : i+1+j]
				if !(keepRsync && strings.HasPrefix(name, "RSYNC_")) {
					if v, ok := env(name); ok {
						b.WriteString(v)
						i += j + 2
						continue
					}
				}
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// Parse reads the config file at path, following &include and &merge, and
// expanding %VAR% with env (os.LookupEnv if nil). %RSYNC_*% references in
// string parameters are kept for connection time. It reports every problem
// found (a *multierror.Error of *Error); the Config is returned even then.
func Parse(path string, env func(string) (string, bool)) (*Config, error) {
	return ParseWith(path, Options{Env: env})
}

// Options are what rsync's daemon command line adds to reading a config.
type Options struct {
	Env func(string) (string, bool) // %VAR% lookup; os.LookupEnv if nil
	// Dparams are --dparam NAME=VALUE overrides. As in rsync, they are
	// applied as global parameters where the first global section ends
	// (before the first module), so modules and later [global] sections
	// may still override them. Their errors name DparamFile.
	Dparams []string
}

// DparamFile is the file name errors of Options.Dparams carry.
const DparamFile = "--dparam"

// ParseWith is Parse with the daemon command line's Options.
func ParseWith(path string, o Options) (*Config, error) {
	env := o.Env
	if env == nil {
		env = os.LookupEnv
	}
	p := &parser{
		env:      env,
		cfg:      &Config{Global: Section{Name: "global", File: path}},
		vars:     map[string]Param{},
		inGlobal: true,
		cur:      -1,
		dparams:  o.Dparams,
	}
	p.file(path, 0, "", 0)
	p.applyDparams()
	p.cfg.globals = p.vars
	return p.cfg, p.errs.ErrorOrNil()
}

// applyDparams sets the --dparam values in global context, once.
func (p *parser) applyDparams() {
	if p.dparamsDone {
		return
	}
	p.dparamsDone = true
	inGlobal, cur := p.inGlobal, p.cur
	p.inGlobal = true
	for _, d := range p.dparams {
		name, value, ok := strings.Cut(d, "=")
		if !ok || strings.TrimSpace(name) == "" {
			p.errorf(DparamFile, 0, "%q: want NAME=VALUE", d)
			continue
		}
		p.param(strings.TrimSpace(name), strings.TrimLeft(value, " \t\n\v\f\r"), DparamFile, 0)
	}
	p.inGlobal, p.cur = inGlobal, cur
}

type parser struct {
	env      func(string) (string, bool)
	cfg      *Config
	errs     *multierror.Error
	vars     map[string]Param // rsync's Vars: global-context values
	stack    []map[string]Param
	inGlobal bool
	cur      int // module index when !inGlobal; -1 after a rejected section header
	dparams  []string
	// dparamsDone is set once the --dparam values were applied.
	dparamsDone bool
	open        []os.FileInfo
	total       int64
	nfiles      int
}

func (p *parser) errorf(file string, line int, format string, args ...any) {
	p.errs = multierror.Append(p.errs, &Error{File: file, Line: line, Err: fmt.Errorf(format, args...)})
}

// file parses one file; at and atLine locate the directive that named it.
func (p *parser) file(path string, depth int, at string, atLine int) {
	where, wline := at, atLine
	if where == "" {
		where = path
	}
	if depth > MaxIncludeDepth {
		p.errorf(where, wline, "%s: includes nested deeper than %d", path, MaxIncludeDepth)
		return
	}
	p.nfiles++
	if p.nfiles > MaxFiles {
		p.errorf(where, wline, "%s: more than %d config files", path, MaxFiles)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		p.errorf(where, wline, "open config: %w", err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		p.errorf(where, wline, "stat config: %w", err)
		return
	}
	if !st.Mode().IsRegular() {
		p.errorf(where, wline, "%s: not a regular file", path)
		return
	}
	for _, o := range p.open {
		if os.SameFile(o, st) {
			p.errorf(where, wline, "%s: include cycle", path)
			return
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		p.errorf(where, wline, "read config %s: %w", path, err)
		return
	}
	if len(data) > MaxFileSize {
		p.errorf(where, wline, "%s: larger than %d bytes", path, MaxFileSize)
		return
	}
	p.total += int64(len(data))
	if p.total > MaxTotalSize {
		p.errorf(where, wline, "%s: config files exceed %d bytes in all", path, MaxTotalSize)
		return
	}
	p.open = append(p.open, st)
	s := &scanner{data: data, line: 1, file: path, p: p, depth: depth}
	s.run()
	p.open = p.open[:len(p.open)-1]
}

// scanner reads one file with the lexical rules of rsync's params.c.
type scanner struct {
	data  []byte
	pos   int
	line  int
	file  string
	p     *parser
	depth int
	nul   bool
}

const eof = -1

// getc returns the next byte or eof; a NUL ends the file, as in params.c.
func (s *scanner) getc() int {
	if s.pos >= len(s.data) {
		return eof
	}
	c := s.data[s.pos]
	if c == 0 {
		s.nul = true
		return eof
	}
	s.pos++
	if c == '\n' {
		s.line++
	}
	return int(c)
}

// eatWS skips whitespace other than newline.
func (s *scanner) eatWS() int {
	c := s.getc()
	for c >= 0 && c != '\n' && isCSpace(byte(c)) {
		c = s.getc()
	}
	return c
}

func (s *scanner) eatLine() int {
	c := s.getc()
	for c >= 0 && c != '\n' {
		c = s.getc()
	}
	return c
}

// continuation returns the index of a trailing backslash (after trailing
// whitespace) in buf, or -1.
func continuation(buf []byte) int {
	i := len(buf) - 1
	for i >= 0 && isCSpace(buf[i]) {
		i--
	}
	if i >= 0 && buf[i] == '\\' {
		return i
	}
	return -1
}

func (s *scanner) errorf(line int, format string, args ...any) {
	s.p.errorf(s.file, line, format, args...)
}

func (s *scanner) run() {
	c := s.eatWS()
	for c >= 0 {
		line := s.line
		switch c {
		case '\n':
			c = s.eatWS()
		case ';', '#':
			c = s.eatLine()
		case '[':
			s.section(line)
			c = s.eatWS()
		case '\\': // a stray backslash at line start is skipped, as rsync does
			c = s.eatWS()
		default:
			s.parameter(c, line)
			c = s.eatWS()
		}
	}
	if s.nul {
		s.errorf(s.line, "NUL byte in config file (rsync stops reading here)")
	}
}

func (s *scanner) section(line int) {
	var buf []byte
	end := 0
	c := s.eatWS()
	for c >= 0 {
		switch {
		case c == ']':
			name := string(buf[:end])
			if end == 0 {
				s.errorf(line, "empty section name")
				s.p.discard()
			} else {
				s.p.section(name, s.file, line)
			}
			s.eatLine()
			return
		case c == '\n':
			i := continuation(buf)
			if i < 0 {
				s.errorf(line, "section header %q has no closing ']'", string(buf[:end]))
				s.p.discard()
				return
			}
			buf = buf[:i]
			end = i
			if i > 0 && buf[i-1] == ' ' {
				end = i - 1
			}
			c = s.getc()
		case isCSpace(byte(c)): // one space per whitespace run
			buf = append(buf[:end], ' ')
			c = s.eatWS()
		default:
			buf = append(buf, byte(c))
			end = len(buf)
			c = s.getc()
		}
	}
	s.errorf(line, "unexpected end of file in section header %q", string(buf[:end]))
	s.p.discard()
}

func (s *scanner) parameter(c int, line int) {
	var buf []byte
	end := 0
	name := ""
	directive := c == '&'
	for found := false; !found; {
		switch {
		case c == '=':
			if end == 0 {
				s.errorf(line, "empty parameter name")
				s.eatLine()
				return
			}
			name = string(buf[:end])
			found = true
			c = s.eatWS()
		case c == '\n':
			i := continuation(buf)
			if i < 0 {
				s.errorf(line, "badly formed line %q (no '=')", string(buf[:end]))
				return
			}
			buf = buf[:i]
			end = i
			if i > 0 && buf[i-1] == ' ' {
				end = i - 1
			}
			c = s.getc()
		case c == eof:
			s.errorf(line, "unexpected end of file in parameter %q", string(buf[:end]))
			return
		case directive && (c == ' ' || c == '\t'): // a directive ends at the first blank
			name = string(buf[:end])
			found = true
			c = s.eatWS()
			if c == '=' {
				c = s.eatWS()
			}
		case isCSpace(byte(c)):
			buf = append(buf[:end], ' ')
			c = s.eatWS()
		default:
			buf = append(buf, byte(c))
			end = len(buf)
			c = s.getc()
		}
	}
	var val []byte
	vend := 0
	for c >= 0 {
		if c == '\r' { // params.c drops CRs inside values
			c = s.getc()
			continue
		}
		if c == '\n' {
			i := continuation(val)
			if i < 0 {
				break
			}
			val = val[:i]
			vend = i
			c = s.getc()
			continue
		}
		val = append(val, byte(c))
		if !isCSpace(byte(c)) {
			vend = len(val)
		}
		c = s.getc()
	}
	value := string(val[:vend])
	if directive {
		s.directive(name, value, line)
		return
	}
	s.p.param(name, value, s.file, line)
}

func (s *scanner) directive(name, value string, line int) {
	var merge bool
	switch fold(name) {
	case "&INCLUDE":
	case "&MERGE":
		merge = true
	default:
		s.errorf(line, "unknown directive %q (want &include or &merge)", name)
		return
	}
	if value == "" {
		s.errorf(line, "%s needs a file or directory", name)
		return
	}
	st, err := os.Stat(value)
	if err != nil {
		s.errorf(line, "%s: %w", name, err)
		return
	}
	p := s.p
	switch {
	case st.Mode().IsRegular():
		if !merge {
			p.push()
		}
		p.file(value, s.depth+1, s.file, line)
		if !merge {
			p.pop(false)
		}
	case st.IsDir():
		// &include reads *.conf, &merge reads *.inc (params.c include_config).
		suffix := ".conf"
		if merge {
			suffix = ".inc"
		}
		ents, err := os.ReadDir(value)
		if err != nil {
			s.errorf(line, "%s: %w", name, err)
			return
		}
		var files []string
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), suffix) && !e.IsDir() {
				files = append(files, filepath.Join(value, e.Name()))
			}
		}
		sort.Strings(files)
		for j, f := range files {
			if !merge {
				if j == 0 {
					p.push()
				} else {
					p.pop(true)
				}
			}
			p.file(f, s.depth+1, s.file, line)
		}
		if !merge && len(files) > 0 {
			p.pop(false)
		}
	default:
		s.errorf(line, "%s: %s is neither a file nor a directory", name, value)
	}
}

func copyVars(m map[string]Param) map[string]Param {
	c := make(map[string]Param, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// push, pop and reset mirror rsync's "]push"/"]pop"/"]reset" pseudo-sections:
// an &include'd file starts in global context and its global settings are undone after.
func (p *parser) push() {
	p.stack = append(p.stack, copyVars(p.vars))
	p.inGlobal = true
}

func (p *parser) pop(keep bool) {
	top := p.stack[len(p.stack)-1]
	if keep { // reset: back to the saved state for the next file, still pushed
		p.vars = copyVars(top)
	} else {
		p.vars = top
		p.stack = p.stack[:len(p.stack)-1]
	}
	p.inGlobal = true
}

// discard sends the following parameters nowhere, after a header rsync would reject.
func (p *parser) discard() {
	p.inGlobal = false
	p.cur = -1
}

func (p *parser) section(name, file string, line int) {
	key := fold(name)
	if key == "GLOBAL" {
		p.inGlobal = true
		return
	}
	if p.inGlobal && len(p.cfg.Modules) == 0 {
		p.applyDparams() // rsync's set_dparams at the end of the first global section
	}
	if strings.Contains(name, "/") {
		p.errorf(file, line, "invalid module name %q: contains '/'", name)
		p.discard()
		return
	}
	p.inGlobal = false
	for i := len(p.cfg.Modules) - 1; i >= 0; i-- {
		if fold(p.cfg.Modules[i].Name) == key { // rsync merges duplicate sections
			p.cur = i
			return
		}
	}
	inh := make(map[string]Param)
	for k, v := range p.vars {
		if d, _ := lookup(k); !d.global {
			inh[k] = v
		}
	}
	p.cfg.Modules = append(p.cfg.Modules, Section{Name: name, File: file, Line: line})
	p.cfg.inherited = append(p.cfg.inherited, inh)
	p.cur = len(p.cfg.Modules) - 1
}

// ErrUnknownParameter is wrapped by errors for parameters rsync 3.5.0 does not know.
var ErrUnknownParameter = errors.New("unknown parameter")

func (p *parser) param(name, value, file string, line int) {
	d, ok := lookup(name)
	if !ok {
		if s := suggest(name); s != "" {
			p.errorf(file, line, "%w %q (did you mean %q?)", ErrUnknownParameter, name, s)
		} else {
			p.errorf(file, line, "%w %q", ErrUnknownParameter, name)
		}
		return
	}
	if !p.inGlobal && d.global {
		mod := "?"
		if p.cur >= 0 {
			mod = p.cfg.Modules[p.cur].Name
		}
		p.errorf(file, line, "global parameter %q in module [%s]", d.name, mod)
		return
	}
	if d.kind == kPath { // rsync strips trailing slashes from paths
		for len(value) > 1 && value[len(value)-1] == '/' {
			value = value[:len(value)-1]
		}
	}
	value = expand(value, p.env, d.kind == kString || d.kind == kPath)
	if err := validate(d, value); err != nil {
		p.errorf(file, line, "%s: %w", d.name, err)
		return
	}
	pr := Param{Name: d.name, Value: value, File: file, Line: line}
	switch {
	case p.inGlobal:
		p.cfg.Global.Params = append(p.cfg.Global.Params, pr)
		p.vars[d.name] = pr
	case p.cur >= 0:
		p.cfg.Modules[p.cur].Params = append(p.cfg.Modules[p.cur].Params, pr)
	}
}
