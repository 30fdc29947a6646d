package server

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/rsyncd-go/rsyncd-go/modules"
)

// Resolver looks up host names for "hosts allow"/"hosts deny", %h and
// RSYNC_HOST_NAME. *net.Resolver is one; tests pass a fake.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Bounds of host lookups: each one is cut off after lookupTimeout, and
// answers (failures too, for a shorter time) are kept in a small cache so a
// client reconnecting, or a list naming many hosts, costs one lookup.
const (
	lookupTimeout  = 5 * time.Second
	lookupTTL      = time.Minute
	lookupFailTTL  = 10 * time.Second
	lookupCacheMax = 1024
	maxHostName    = 255 // longer PTR answers are not host names
)

type lookupEntry struct {
	name  string       // reverse: the verified name, or "" (UNKNOWN)
	addrs []netip.Addr // forward
	err   error        // forward
	until time.Time
}

// lookupCache is the Server's cache of host lookups.
type lookupCache struct {
	mu sync.Mutex
	m  map[string]lookupEntry
}

func (c *lookupCache) get(key string, now time.Time) (lookupEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.After(e.until) {
		return lookupEntry{}, false
	}
	return e, true
}

func (c *lookupCache) put(key string, e lookupEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]lookupEntry{}
	}
	if len(c.m) >= lookupCacheMax {
		now := time.Now()
		for k, old := range c.m {
			if now.After(old.until) {
				delete(c.m, k)
			}
		}
		for k := range c.m { // still full: drop arbitrary entries
			if len(c.m) < lookupCacheMax {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = e
}

func (s *Server) resolver(cfg *Config) Resolver {
	if cfg.Resolver != nil {
		return cfg.Resolver
	}
	return net.DefaultResolver
}

// clientName is rsyncd's client_name: the client's name by reverse lookup
// (the first name), confirmed by a forward lookup of that name in the
// address's family holding the address (against spoofed PTR records).
// Any failure gives modules.UnknownHost, as in rsyncd.
func (s *conn) clientName(ctx context.Context, addr netip.Addr) string {
	addr = addr.Unmap()
	if !addr.IsValid() || addr == netip.IPv4Unspecified() {
		return modules.UnknownHost // rsync's "0.0.0.0": no socket peer
	}
	key := "r " + addr.String()
	now := time.Now()
	if e, ok := s.srv.lookups.get(key, now); ok {
		return nameOr(e.name)
	}
	r := s.srv.resolver(s.cfg)
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	e := lookupEntry{until: now.Add(lookupFailTTL)}
	names, err := r.LookupAddr(ctx, addr.WithZone("").String())
	switch {
	case err != nil || len(names) == 0:
		s.log.Info("name lookup failed", "addr", addr.String(), "err", err)
	default:
		name := strings.TrimSuffix(names[0], ".")
		network := "ip4"
		if addr.Is6() {
			network = "ip6"
		}
		addrs, err := r.LookupNetIP(ctx, network, name)
		switch {
		case len(name) == 0 || len(name) > maxHostName:
			s.log.Info("name lookup failed", "addr", addr.String(), "err", "unusable name")
		case err != nil:
			s.log.Info("forward name lookup failed", "name", name, "err", err)
		case !holds(addrs, addr):
			s.log.Warn("address is not a known address of its name: spoofed address?", "addr", addr.String(), "name", name)
		default:
			e.name, e.until = name, now.Add(lookupTTL)
		}
	}
	s.srv.lookups.put(key, e)
	return nameOr(e.name)
}

func nameOr(name string) string {
	if name == "" {
		return modules.UnknownHost
	}
	return name
}

func holds(addrs []netip.Addr, a netip.Addr) bool {
	for _, b := range addrs {
		if b.Unmap().WithZone("") == a.WithZone("") {
			return true
		}
	}
	return false
}

// forward is the resolver of host names in hosts lists ("forward lookup"),
// cached and bounded. Unlike rsyncd's gethostbyname, it also returns IPv6
// addresses, so a name matches IPv6 clients too.
func (s *conn) forward(ctx context.Context) modules.Resolver {
	return func(host string) ([]netip.Addr, error) {
		key := "f " + host
		now := time.Now()
		if e, ok := s.srv.lookups.get(key, now); ok {
			return e.addrs, e.err
		}
		ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
		addrs, err := s.srv.resolver(s.cfg).LookupNetIP(ctx, "ip", host)
		e := lookupEntry{addrs: addrs, err: err, until: now.Add(lookupTTL)}
		if err != nil {
			s.log.Info("forward lookup of a hosts list name failed", "name", host, "err", err)
			e.until = now.Add(lookupFailTTL)
		}
		s.srv.lookups.put(key, e)
		return addrs, err
	}
}

// access applies the module's hosts allow/deny as rsyncd does, and
// returns the client's host name as rsyncd goes on using it (%h,
// RSYNC_HOST_NAME, the refusal message): its verified name, UNKNOWN, or
// UNDETERMINED with "reverse lookup" off (then a hosts list name whose
// forward lookup matched the address stands for it). The reverse lookup
// is made only when something needs the name: a name pattern in a list,
// a refusal, or the module's hooks, logs and path.
func (s *conn) access(ctx context.Context, m *modules.Module) (bool, string) {
	addr := s.remote.Addr()
	host := ""
	if !m.ReverseLookup {
		host = modules.UndeterminedHost
	} else if needsName(m) {
		host = s.clientName(ctx, addr)
	}
	ok, got := m.Access(addr, host, s.forward(ctx))
	if got == "" && (!ok || usesName(m)) {
		got = s.clientName(ctx, addr)
	}
	return ok, got
}

// needsName tells whether the access rule of m looks at the client's name.
func needsName(m *modules.Module) bool {
	for _, list := range [][]string{m.HostsAllow, m.HostsDeny} {
		l, err := modules.ParseHosts(list)
		if err == nil && l.HasNames() {
			return true
		}
	}
	return false
}

// usesName tells whether a session of m shows the client's name.
func usesName(m *modules.Module) bool {
	return m.TransferLogging || m.EarlyExec != "" || m.PreXferExec != "" || m.PostXferExec != "" ||
		strings.Contains(m.Path, "%RSYNC_HOST_NAME%")
}
