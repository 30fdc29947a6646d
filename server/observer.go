package server

import "time"

// Observer is told what the server does, at the points where it logs: the
// hook for metrics (package metrics implements it). Module names come from
// clients as they are; an Observer bounds them itself. Implementations must
// be safe for concurrent use and must not block.
type Observer interface {
	ConnOpened()
	ConnClosed()
	Connection(module string)      // a handshake named module ("" for a module list)
	Refused(module, reason string) // a refusal, reason as the metrics package's Reason constants
	AuthFailed(module string)      // a failed authentication
	Transfer(module, direction string, read, written int64, d time.Duration, failed bool)
}

// Refusal reasons passed to Observer.Refused (package metrics has the same).
const (
	refusedUnknownModule  = "unknown_module"
	refusedAccessDenied   = "access_denied"
	refusedMaxConnections = "max_connections"
	refusedLockFile       = "lock_file"
	refusedModulePath     = "module_path"
	refusedArguments      = "arguments"
)

type nopObserver struct{}

func (nopObserver) ConnOpened()                                                {}
func (nopObserver) ConnClosed()                                                {}
func (nopObserver) Connection(string)                                          {}
func (nopObserver) Refused(string, string)                                     {}
func (nopObserver) AuthFailed(string)                                          {}
func (nopObserver) Transfer(string, string, int64, int64, time.Duration, bool) {}

// observer returns s.Observer, or one that does nothing.
func (s *Server) observer() Observer {
	if s.Observer == nil {
		return nopObserver{}
	}
	return s.Observer
}
