package receiver

import (
	"github.com/rsyncd-go/rsyncd-go/protocol/rerr"
	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// success tells the client that entry ndx is in place (MSG_SUCCESS), so
// that with --remove-source-files it removes its copy. rsync's generator
// and receiver send it at the points where they call send_msg_success;
// a dry run sends none.
func (t *transfer) success(ndx int32) {
	if t.cfg.RemoveSource == 0 || t.cfg.DryRun {
		return
	}
	if err := t.out.WriteMsgInt32(wire.MsgSuccess, ndx); err != nil {
		t.fail(rerr.Wrap(rerr.SocketIO, err))
	}
}
