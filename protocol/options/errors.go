package options

import "fmt"

// Exit codes a stock rsync daemon exits with for these failures.
const (
	ExitSyntax      = 1 // RERR_SYNTAX: syntax or usage error
	ExitUnsupported = 4 // RERR_UNSUPPORTED: requested action not supported
)

// errBufLen is the size of rsync's err_buf: longer messages are cut.
const errBufLen = 200

// OptionError is a parse failure, worded as stock rsync words it (without
// the "rsync: " prefix and the trailing newline rsync adds when it sends
// the text to the client).
type OptionError struct {
	Msg  string
	Code int // exit code a stock daemon ends the session with
}

func (e *OptionError) Error() string { return e.Msg }

// newErr builds an OptionError whose text went through rsync's 200-byte
// err_buf (snprintf(err_buf, sizeof err_buf, "...\n")).
func newErr(code int, format string, a ...any) *OptionError {
	msg := fmt.Sprintf(format, a...)
	if len(msg) > errBufLen-1 {
		msg = msg[:errBufLen-1]
	}
	return &OptionError{Msg: msg, Code: code}
}

// RefusedError reports an option the module's "refuse options" (or one of
// rsyncd's built-in refusals) rejects.
type RefusedError struct {
	Long  string // long name without "--"; "" for -D, -F, -P
	Short byte   // one-letter name, 0 if none
}

// Error words the refusal exactly as rsyncd does, including its "--(null)"
// for the three options that have no long name.
func (e *RefusedError) Error() string {
	return optMsg("The server is configured to refuse", e.Long, e.Short)
}

// UnsupportedError reports an option that rsync knows but this daemon does
// not implement (Config.Implemented), worded as a stock rsync server words
// an option it was built without.
type UnsupportedError struct {
	Long  string
	Short byte
}

func (e *UnsupportedError) Error() string {
	return optMsg("The server does not support", e.Long, e.Short)
}

func optMsg(prefix, long string, short byte) string {
	if long == "" {
		long = "(null)"
	}
	msg := prefix + " --" + long
	if short != 0 {
		msg += " (-" + string(short) + ")"
	}
	return msg
}

// ExitCode returns the exit code a stock daemon uses after err, a parse
// error from this package.
func ExitCode(err error) int {
	if e, ok := err.(*OptionError); ok {
		return e.Code
	}
	return ExitUnsupported
}
