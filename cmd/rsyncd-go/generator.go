package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/rsyncd-go/rsyncd-go/instances"
	"github.com/rsyncd-go/rsyncd-go/modules"
)

// newGeneratorCmd is the systemd generator (systemd.generator(7)): for each
// instance of the config dir it writes drop-ins that give
// rsyncd-go@NAME.socket its ListenStream= lines and rsyncd-go@NAME.service
// the ReadWritePaths= its modules need under ProtectSystem=strict.
func newGeneratorCmd(f *flags) *cobra.Command {
	return &cobra.Command{
		Use:    "systemd-generator NORMAL_DIR [EARLY_DIR LATE_DIR]",
		Short:  "Write systemd drop-ins for every instance (run by systemd as a generator)",
		Hidden: true,
		Args:   cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return generate(cmd.ErrOrStderr(), instances.ConfigDir(f.configDir), args[0])
		},
	}
}

// generate writes the drop-ins of every loadable instance of dir into out.
// An instance that fails to load, or a config dir that cannot be read, is
// reported on msgs and skipped: a generator must not fail the boot, so only
// a failure to write into out is an error.
func generate(msgs io.Writer, dir, out string) error {
	all, err := discover(dir)
	if err != nil {
		fmt.Fprintf(msgs, "rsyncd-go-generator: %v (no instances generated)\n", err)
		return nil
	}
	for _, l := range all {
		if l.err != nil && l.file != "" && onlyMissing(l.err) {
			// Generators run before most file systems are mounted: a module
			// path on a later mount does not exist yet. The listen list and
			// paths are still known; the daemon checks again when it starts.
			inst, err := loadUnchecked(l.name, l.file)
			if err == nil {
				for _, e := range problems(l.err) {
					fmt.Fprintf(msgs, "rsyncd-go-generator: instance %q: %v (generating anyway: it may be on a file system mounted later)\n", l.name, e)
				}
				l.inst, l.err = inst, nil
			}
		}
		if l.err != nil {
			for _, e := range problems(l.err) {
				fmt.Fprintf(msgs, "rsyncd-go-generator: skipping instance %q: %v\n", l.name, e)
			}
			continue
		}
		if !validUnitInstance(l.name) {
			// %i in the unit would not give back the name; skip rather
			// than start the daemon on the wrong config.
			fmt.Fprintf(msgs, "rsyncd-go-generator: skipping instance %q: a unit instance name may only hold A-Z a-z 0-9 : _ . -\n", l.name)
			continue
		}
		sock, skipped := socketDropIn(l.inst)
		for _, s := range skipped {
			fmt.Fprintf(msgs, "rsyncd-go-generator: instance %q: %s\n", l.name, s)
		}
		svc, skipped := serviceDropIn(l.inst)
		for _, s := range skipped {
			fmt.Fprintf(msgs, "rsyncd-go-generator: instance %q: %s\n", l.name, s)
		}
		unit := "rsyncd-go@" + l.name
		if err := writeDropIn(filepath.Join(out, unit+".socket.d"), "listen.conf", sock); err != nil {
			return err
		}
		if err := writeDropIn(filepath.Join(out, unit+".service.d"), "paths.conf", svc); err != nil {
			return err
		}
	}
	return nil
}

// onlyMissing tells whether every problem of err is a file that does not
// exist (a module path, secrets file, ...), the config itself being valid.
func onlyMissing(err error) bool {
	ps := problems(err)
	for _, p := range ps {
		if !errors.Is(p, fs.ErrNotExist) {
			return false
		}
	}
	return len(ps) > 0
}

// loadUnchecked reads just what the drop-ins need from an instance file
// that instances.Load validated but for missing files: the listen list, the
// module paths (a module without one inherits the top-level path), the
// log file and the lock file.
func loadUnchecked(name, file string) (*instances.Instance, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	var raw struct {
		Listen   any    `yaml:"listen"`
		Path     string `yaml:"path"`
		LogFile  string `yaml:"log_file"`
		LockFile string `yaml:"lock_file"`
		Modules  []struct {
			Path *string `yaml:"path"`
		} `yaml:"modules"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("generator: %s: %w", file, err)
	}
	inst := &instances.Instance{Name: name, File: file, LogFile: raw.LogFile, LockFile: raw.LockFile}
	switch v := raw.Listen.(type) {
	case nil:
	case string:
		inst.Listen = []string{v}
	case []any:
		for _, it := range v {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("generator: %s: listen: want strings", file)
			}
			inst.Listen = append(inst.Listen, s)
		}
	default:
		return nil, fmt.Errorf("generator: %s: listen: want a string or a list", file)
	}
	if len(inst.Listen) == 0 {
		inst.Listen = []string{instances.DefaultListen}
	}
	for _, m := range raw.Modules {
		p := raw.Path
		if m.Path != nil {
			p = *m.Path
		}
		inst.Modules = append(inst.Modules, modules.Module{Path: p})
	}
	return inst, nil
}

func writeDropIn(dir, name, body string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("generator: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		return fmt.Errorf("generator: %w", err)
	}
	return nil
}

// validUnitInstance tells whether name can stand as is between "@" and
// ".service" (systemd.unit(5)'s unit name characters), so that %i is name.
func validUnitInstance(name string) bool {
	if name == "" || len(name) > 200 {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ':' || c == '_' || c == '.' || c == '-':
		default:
			return false
		}
	}
	return true
}

// socketDropIn is the [Socket] drop-in of inst: one ListenStream= per
// listen address, and the messages for addresses it had to leave out.
func socketDropIn(inst *instances.Instance) (string, []string) {
	var b strings.Builder
	var skipped []string
	fmt.Fprintf(&b, "# Generated by rsyncd-go systemd-generator from %s\n[Socket]\n", unitComment(inst.File))
	type parsed struct {
		addr netip.Addr
		port uint16
	}
	var ps []parsed
	for _, l := range inst.Listen {
		host, port, err := net.SplitHostPort(l)
		p, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || perr != nil || p == 0 {
			// Port 0 (any free port) is useless for a socket unit: the
			// clients could not know the port.
			skipped = append(skipped, fmt.Sprintf("listen %q left out: want ADDRESS:PORT with a port from 1 to 65535", l))
			continue
		}
		var a netip.Addr
		switch host {
		case "0.0.0.0":
			a = netip.IPv4Unspecified()
		case "":
			// As rsyncd without "address": every address, both families.
			a = netip.IPv6Unspecified()
		case "localhost":
			// Go's net.Listen binds the first address of localhost, IPv4.
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		default:
			a, err = netip.ParseAddr(host)
			if err != nil {
				skipped = append(skipped, fmt.Sprintf("listen %q left out: %q is not an IP address", l, host))
				continue
			}
			a = a.Unmap()
		}
		ps = append(ps, parsed{a, uint16(p)})
	}
	// BindIPv6Only= is one setting for all sockets of the unit. rsyncd-go
	// binding [::]:P itself gets a dual-stack socket (server.Listen), so
	// "both" keeps that meaning under systemd. When the same instance also
	// listens on IPv4 on port P, a dual-stack [::]:P would make that bind
	// fail with EADDRINUSE: then [::]:P must be ipv6-only, and the IPv4
	// sockets serve IPv4.
	bindV6 := ""
	for _, p := range ps {
		if !p.addr.Is6() || !p.addr.IsUnspecified() {
			continue
		}
		if bindV6 == "" {
			bindV6 = "both"
		}
		if slices.ContainsFunc(ps, func(q parsed) bool { return q.addr.Is4() && q.port == p.port }) {
			bindV6 = "ipv6-only"
		}
	}
	seen := map[string]bool{}
	for _, p := range ps {
		// AddrPort.String gives "A.B.C.D:P" and "[v6%zone]:P", the forms
		// ListenStream= takes; % starts a specifier in unit files.
		s := strings.ReplaceAll(netip.AddrPortFrom(p.addr, p.port).String(), "%", "%%")
		if seen[s] {
			continue // ":873" and "[::]:873" are one socket
		}
		seen[s] = true
		fmt.Fprintf(&b, "ListenStream=%s\n", s)
	}
	if bindV6 != "" {
		fmt.Fprintf(&b, "BindIPv6Only=%s\n", bindV6)
	}
	return b.String(), skipped
}

// serviceDropIn is the [Service] drop-in of inst: ReadWritePaths= for each
// module path (once each, in module order) and for the log and lock files'
// directories, and the messages for paths it had to leave out.
func serviceDropIn(inst *instances.Instance) (string, []string) {
	var b strings.Builder
	var skipped []string
	fmt.Fprintf(&b, "# Generated by rsyncd-go systemd-generator from %s\n[Service]\n", unitComment(inst.File))
	var paths []string
	for _, m := range inst.Modules {
		paths = append(paths, m.Path)
	}
	if inst.LogFile != "" {
		// The daemon creates and appends to the log file: its directory
		// must be writable (the file may not exist yet).
		paths = append(paths, filepath.Dir(inst.LogFile))
	}
	if inst.LockFile != "" {
		// Likewise the lock file, created on the first limited connection.
		paths = append(paths, filepath.Dir(inst.LockFile))
	}
	seen := map[string]bool{}
	for _, p := range paths {
		p = filepath.Clean(p)
		if seen[p] {
			continue
		}
		seen[p] = true
		q, ok := quoteUnitPath(p)
		if !ok {
			skipped = append(skipped, fmt.Sprintf("path %q left out of ReadWritePaths=: it holds a control character, \" or \\ that a unit file cannot carry safely", p))
			continue
		}
		// "-": a missing path is ignored instead of failing the namespace
		// setup (status 226/NAMESPACE), so the daemon's own check reports
		// the missing module directory with its config line.
		fmt.Fprintf(&b, "ReadWritePaths=-%s\n", q)
	}
	return b.String(), skipped
}

// quoteUnitPath writes p for a ReadWritePaths= line (systemd.exec(5)):
// specifiers are expanded there, so % is doubled; the value is split into
// words on whitespace with quotes removed, so a path with a space, tab or
// single quote is double-quoted. How backslash escapes are read differs
// between systemd versions, so a path holding " or \ is refused (false),
// as are control characters, which no unit file line can carry.
func quoteUnitPath(p string) (string, bool) {
	if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '"' || r == '\\' }) {
		return "", false
	}
	p = strings.ReplaceAll(p, "%", "%%")
	if strings.ContainsAny(p, " '") {
		return `"` + p + `"`, true
	}
	return p, true
}

// unitComment is s made safe for the rest of a comment line.
func unitComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
