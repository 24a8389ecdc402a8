package sdk

import "github.com/placeos-go/engine/errkind"

var (
	// ErrBadArguments is returned when exec arguments do not bind to the function's parameters.
	ErrBadArguments = errkind.New(errkind.BadRequest, "bad arguments")
	// ErrSettingNotFound is returned by Base.Setting when the key is absent.
	ErrSettingNotFound = errkind.New(errkind.NotFound, "setting not found")
	// ErrBadSettings is returned when settings do not decode into the requested type.
	ErrBadSettings = errkind.New(errkind.BadRequest, "bad settings")
	// ErrNoHost is returned by calls that need the host before the host connected or after the
	// module stopped.
	ErrNoHost = errkind.New(errkind.Unavailable, "host not connected")
	// ErrNotConnected is returned by a transport that has no open connection.
	ErrNotConnected = errkind.New(errkind.Unavailable, "transport not connected")
	// ErrStopped is returned by calls on a module that has been unloaded.
	ErrStopped = errkind.New(errkind.Unavailable, "module stopped")
)

// Command queue outcomes. A command's failure is an *AbortError wrapping one of these, so a
// caller can tell them apart with errors.Is and the exec caller receives class "Abort".
var (
	// ErrAborted is a command aborted by the driver, by a command of the same name replacing it,
	// or by clearing the queue.
	ErrAborted = errkind.New(errkind.Conflict, "command aborted")
	// ErrOffline is an unnamed command added (or still queued) while the transport is offline.
	ErrOffline = errkind.New(errkind.Unavailable, "transport is currently offline")
	// ErrRetryLimit is a command that timed out (or asked for a retry) more often than allowed.
	ErrRetryLimit = errkind.New(errkind.Timeout, "retry limit reached")
	// ErrNoTransport is a command with data to send on a module that opened no transport.
	ErrNoTransport = errkind.New(errkind.Internal, "no transport to send the command on")
)
