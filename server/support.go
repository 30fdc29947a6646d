package server

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"

	"github.com/hashicorp/go-multierror"

	"github.com/rsyncd-go/rsyncd-go/modules"
	"github.com/rsyncd-go/rsyncd-go/protocol"
)

// CheckSupported reports, all at once, module parameters this daemon
// cannot carry out as configured, as it runs now. A daemon must refuse to
// start on them rather than ignore them: an operator who sets "uid"
// expects what is written to be owned by that user, which a daemon not
// running as root can only promise for its own uid. (Validate checks that
// the users and groups exist.)
func CheckSupported(mods []modules.Module) error {
	var errs *multierror.Error
	for i := range mods {
		m := &mods[i]
		if os.Geteuid() != 0 && (m.UID != "" || m.GID != "") {
			// Not root: the transfers cannot act as another user.
			id, err := moduleIdentity(m)
			switch {
			case err != nil:
				errs = multierror.Append(errs, fmt.Errorf("module %q: %w", m.Name, err))
			case m.UID != "" && id.UID != os.Geteuid():
				errs = multierror.Append(errs, fmt.Errorf("module %q: uid %q: rsyncd-go acts as a module's user only when it runs as root; run it as that user (systemd User=) or remove uid", m.Name, m.UID))
			case m.GID != "" && (id.GID != os.Getegid() || len(id.Groups) > 1):
				errs = multierror.Append(errs, fmt.Errorf("module %q: gid %q: rsyncd-go acts as a module's groups only when it runs as root; run it as that group (systemd Group=) or remove gid", m.Name, m.GID))
			}
		}
	}
	return errs.ErrorOrNil()
}

// mungeDirExists reports whether /rsyncd-munged is a directory (or a
// symlink to one) on this host, where munged symlinks would resolve.
func mungeDirExists() bool {
	fi, err := os.Stat("/rsyncd-munged")
	return err == nil && fi.IsDir()
}

// moduleIdentity resolves a module's "uid" and "gid" as rsyncd does when
// it switches users for a transfer: names or numbers, "*" first for all
// groups of the uid, and under root nobody's group when only uid is set.
// It returns nil when the module sets neither.
func moduleIdentity(m *modules.Module) (*protocol.Identity, error) {
	if m.UID == "" && m.GID == "" {
		return nil, nil
	}
	id := &protocol.Identity{UID: os.Geteuid(), GID: os.Getegid()}
	var uname string
	if m.UID != "" {
		u, err := lookupUser(m.UID)
		if err != nil {
			return nil, fmt.Errorf("invalid uid %s: %w", m.UID, err)
		}
		if id.UID, err = strconv.Atoi(u.Uid); err != nil {
			return nil, fmt.Errorf("invalid uid %s: %w", m.UID, err)
		}
		uname = u.Username
	}
	toks := modules.SplitGID(m.GID)
	if len(toks) == 0 && m.UID != "" && os.Geteuid() == 0 {
		toks = []string{nobodyGroup()}
	}
	for i, t := range toks {
		if t == "*" && i == 0 {
			u, err := user.LookupId(strconv.Itoa(id.UID))
			if err != nil {
				return nil, fmt.Errorf("invalid gid setting: %w", err)
			}
			gids, err := u.GroupIds()
			if err != nil {
				return nil, fmt.Errorf("invalid gid setting: groups of %s: %w", uname, err)
			}
			// The user's primary group first: it owns what is created.
			gids = append([]string{u.Gid}, gids...)
			for _, g := range gids {
				n, err := strconv.Atoi(g)
				if err != nil {
					return nil, fmt.Errorf("invalid gid setting: group %q of %s", g, uname)
				}
				if !slices.Contains(id.Groups, n) {
					id.Groups = append(id.Groups, n)
				}
			}
			continue
		}
		n, err := lookupGroup(t)
		if err != nil {
			return nil, fmt.Errorf("invalid gid %s: %w", t, err)
		}
		id.Groups = append(id.Groups, n)
	}
	if len(id.Groups) > 0 {
		id.GID = id.Groups[0]
	}
	return id, nil
}

func lookupUser(s string) (*user.User, error) {
	if _, err := strconv.ParseUint(s, 10, 32); err == nil {
		if u, err := user.LookupId(s); err == nil {
			return u, nil
		}
		return &user.User{Uid: s, Gid: s, Username: s}, nil // a bare number, as rsync takes it
	}
	return user.Lookup(s)
}

func lookupGroup(s string) (int, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return int(n), nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

// nobodyGroup is rsync's NOBODY_GROUP: "nobody" where that group exists,
// else "nogroup" (Debian).
func nobodyGroup() string {
	if _, err := user.LookupGroup("nobody"); err == nil {
		return "nobody"
	}
	return "nogroup"
}
