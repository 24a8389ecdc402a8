package sdk

import "github.com/placeos-go/engine/errkind"

var (
	// ErrUnknownFunction is returned when an exec names a function the driver does not expose.
	ErrUnknownFunction = errkind.New(errkind.BadRequest, "unknown function")
	// ErrBadArguments is returned when exec arguments do not bind to the function's parameters.
	ErrBadArguments = errkind.New(errkind.BadRequest, "bad arguments")
	// ErrModuleNotRunning is returned for calls naming a module this process does not host.
	ErrModuleNotRunning = errkind.New(errkind.NotFound, "module not running in this driver")
	// ErrSettingNotFound is returned by Base.Setting when the key is absent.
	ErrSettingNotFound = errkind.New(errkind.NotFound, "setting not found")
	// ErrBadSettings is returned when settings do not decode into the requested type.
	ErrBadSettings = errkind.New(errkind.BadRequest, "bad settings")
	// ErrBadDriver is returned when a driver type cannot be described (bad tags, bad defaults).
	ErrBadDriver = errkind.New(errkind.Internal, "invalid driver declaration")
	// ErrNoHost is returned by calls that need the host before the host connected or after the
	// module stopped.
	ErrNoHost = errkind.New(errkind.Unavailable, "host not connected")
	// ErrNotConnected is returned by a transport that has no open connection.
	ErrNotConnected = errkind.New(errkind.Unavailable, "transport not connected")
	// ErrStopped is returned by calls on a module that has been unloaded.
	ErrStopped = errkind.New(errkind.Unavailable, "module stopped")
)
