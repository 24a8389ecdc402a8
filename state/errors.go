package state

import "github.com/placeos-go/engine/errkind"

// Sentinel errors. Each wraps an errkind kind so httpapi can map it without importing state.
var (
	// ErrSystemNotFound: system/<id> does not exist (or holds no modules).
	ErrSystemNotFound = errkind.New(errkind.NotFound, "system not found")
	// ErrModuleNotFound: the system has no module under that name and index.
	ErrModuleNotFound = errkind.New(errkind.NotFound, "module not found")
	// ErrNoMetadata: interface/<module> does not exist (the module has not started).
	ErrNoMetadata = errkind.New(errkind.NotFound, "module metadata not found")
	// ErrInvalidValue: a status value that is not JSON text.
	ErrInvalidValue = errkind.New(errkind.BadRequest, "status value is not valid JSON")
	// ErrUnavailable: Redis could not be reached or failed the command.
	ErrUnavailable = errkind.New(errkind.Unavailable, "redis unavailable")
	// ErrTimeout: the caller's deadline passed during a Redis call.
	ErrTimeout = errkind.New(errkind.Timeout, "redis call deadline exceeded")
	// ErrSlowListener is given to a listener's OnDrop when its queue overflowed and it was removed.
	ErrSlowListener = errkind.New(errkind.Unavailable, "listener dropped: its queue overflowed")
	// ErrCancelled: Wait on a subscription that was cancelled.
	ErrCancelled = errkind.New(errkind.Unavailable, "subscription cancelled")
	// ErrClosed: the Store was closed (also given to OnDrop of listeners still registered then).
	ErrClosed = errkind.New(errkind.Unavailable, "state store closed")
)
