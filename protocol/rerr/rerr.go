// Package rerr holds rsync's exit codes (errcode.h) and an error type that
// carries one, so every layer can say how a session should end.
package rerr

import (
	"errors"
	"fmt"
)

// Exit codes as rsync(1) documents them.
const (
	OK          = 0
	Syntax      = 1  // syntax or usage error
	Protocol    = 2  // protocol incompatibility
	FileSelect  = 3  // errors selecting input/output files, dirs
	Unsupported = 4  // requested action not supported
	SocketIO    = 10 // error in socket I/O
	FileIO      = 11 // error in file I/O
	StreamIO    = 12 // error in rsync protocol data stream
	IPC         = 14 // error in IPC code
	Partial     = 23 // partial transfer due to error
	Vanished    = 24 // some files vanished before they could be transferred
	DelLimit    = 25 // skipped some deletes due to --max-delete
	Timeout     = 30 // timeout in data send/receive
)

var descriptions = map[int]string{
	Syntax:      "syntax or usage error",
	Protocol:    "protocol incompatibility",
	FileSelect:  "errors selecting input/output files, dirs",
	Unsupported: "requested action not supported",
	SocketIO:    "error in socket IO",
	FileIO:      "error in file IO",
	StreamIO:    "error in rsync protocol data stream",
	IPC:         "error in IPC code",
	Partial:     "some files/attrs were not transferred (see previous errors)",
	Vanished:    "some files vanished before they could be transferred",
	DelLimit:    "the --max-delete limit stopped deletions",
	Timeout:     "timeout in data send/receive",
}

// Describe returns rsync's text for an exit code.
func Describe(code int) string {
	if d, ok := descriptions[code]; ok {
		return d
	}
	return fmt.Sprintf("unexplained error (code %d)", code)
}

// Error ends a session with an exit code. Msg, when set, is what the client
// is told (as rsync's "ERROR: ..." line); Err is the cause for the log.
type Error struct {
	Code int
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "" && e.Err != nil:
		return e.Msg + ": " + e.Err.Error()
	case e.Msg != "":
		return e.Msg
	case e.Err != nil:
		return e.Err.Error()
	}
	return Describe(e.Code)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a client-visible message.
func New(code int, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with code that keeps err as its cause.
func Wrap(code int, err error) *Error { return &Error{Code: code, Err: err} }

// Code returns the exit code an error stands for: its own if it carries one,
// else StreamIO for anything else (a broken or malformed stream).
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return StreamIO
}
