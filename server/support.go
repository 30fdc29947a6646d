package server

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

// CheckSupported reports, all at once, module parameters that the
// configuration accepts but this daemon does not carry out yet. A daemon
// must refuse to start on them rather than ignore them: an operator who
// sets "uid" expects what is written to be owned by that user.
func CheckSupported(mods []modules.Module) error {
	var errs *multierror.Error
	for i := range mods {
		m := &mods[i]
		unsupported := func(key string) {
			errs = multierror.Append(errs, fmt.Errorf("module %q: %s is not supported by rsyncd-go yet", m.Name, key))
		}
		if m.UID != "" {
			unsupported("uid")
		}
		if m.GID != "" {
			unsupported("gid")
		}
		if m.FakeSuper {
			unsupported("fake_super")
		}
		for key, list := range map[string][]string{"hosts_allow": m.HostsAllow, "hosts_deny": m.HostsDeny} {
			if name := hostName(list); name != "" {
				unsupported(fmt.Sprintf("%s with host name %q (no reverse lookup yet; use addresses)", key, name))
			}
		}
	}
	return errs.ErrorOrNil()
}

// hostName returns the first entry of a hosts list that is a host name or
// name pattern rather than an address, CIDR block or netmask; "*" alone
// matches every client without a lookup and is fine.
func hostName(list []string) string {
	for _, entry := range list {
		for _, tok := range strings.FieldsFunc(entry, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
			if tok == "*" {
				continue
			}
			addr, _, _ := strings.Cut(tok, "/")
			if _, err := netip.ParseAddr(strings.Trim(addr, "[]")); err != nil {
				return tok
			}
		}
	}
	return ""
}

// mungeDirExists reports whether /rsyncd-munged is a directory (or a
// symlink to one) on this host, where munged symlinks would resolve.
func mungeDirExists() bool {
	fi, err := os.Stat("/rsyncd-munged")
	return err == nil && fi.IsDir()
}
