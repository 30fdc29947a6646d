package server

import (
	"fmt"

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
		if m.IncomingChmod != "" {
			unsupported("incoming_chmod")
		}
		if m.OutgoingChmod != "" {
			unsupported("outgoing_chmod")
		}
		if m.FakeSuper {
			unsupported("fake_super")
		}
		if m.MungeSymlinks {
			unsupported("munge_symlinks")
		}
		if m.IgnoreNonreadable {
			unsupported("ignore_nonreadable")
		}
	}
	return errs.ErrorOrNil()
}
