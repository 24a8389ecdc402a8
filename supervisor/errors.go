package supervisor

import "github.com/placeos-go/engine/errkind"

var (
	// ErrProcessExited is returned to calls in flight when the driver process dies under them.
	ErrProcessExited = errkind.New(errkind.Unavailable, "driver process exited")
	// ErrRestarting is returned to calls that arrive while the process is relaunched (after
	// waiting for it within the call's deadline) or is crash-looping.
	ErrRestarting = errkind.New(errkind.Unavailable, "driver process is restarting")
	// ErrModuleNotRunning is returned for a module this supervisor does not run.
	ErrModuleNotRunning = errkind.New(errkind.NotFound, "module not running")
	// ErrDriverNotRunning is returned for a driver binary with no process on this node.
	ErrDriverNotRunning = errkind.New(errkind.NotFound, "driver not running")
	// ErrLaunchTimeout is a launch that did not complete within Config.LaunchTimeout; its process
	// was killed.
	ErrLaunchTimeout = errkind.New(errkind.Unavailable, "driver process did not start in time")
	// ErrLaunchExited is a launch whose process exited with a failure before completing it; the
	// error quotes its exit status and its last stderr lines.
	ErrLaunchExited = errkind.New(errkind.Unavailable, "driver process exited during its launch")
	// ErrCallLost is a call whose connection to its driver process, or its Execs stream, ended
	// under it while the process lives: the driver stopped reading it (frozen), or ended it.
	ErrCallLost = errkind.New(errkind.Unavailable, "driver call lost")
	// ErrTimeout is returned when a call to a driver passes its deadline.
	ErrTimeout = errkind.New(errkind.Timeout, "driver call deadline exceeded")
	// ErrClosed is returned after Close.
	ErrClosed = errkind.New(errkind.Unavailable, "supervisor closed")
	// ErrInvalidModule is returned for a module without an id.
	ErrInvalidModule = errkind.New(errkind.BadRequest, "invalid module")
	// ErrMetadataTooLarge is a driver whose metadata is more than MaxMetadata: its modules do
	// not start.
	ErrMetadataTooLarge = errkind.New(errkind.Internal, "driver metadata too large")
	// ErrChecksum is returned when a driver binary fails its checksum and is not launched.
	ErrChecksum = errkind.New(errkind.Internal, "driver binary failed its checksum")
)

// Refusal is a driver's own answer to a call, in its words: an OnLoad that failed, a settings
// update its declared settings type refused. Other errors say the driver could not be reached or
// did not answer in time.
type Refusal struct{ msg string }

func (r *Refusal) Error() string { return r.msg }
