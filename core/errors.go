package core

import "github.com/placeos-go/engine/errkind"

var (
	// ErrSystemNotFound: no system with that id.
	ErrSystemNotFound = errkind.New(errkind.SystemNotFound, "system not found")
	// ErrModuleNotFound: no module with that id in the model, or none at that place in the system.
	ErrModuleNotFound = errkind.New(errkind.NotFound, "module not found")
	// ErrFunctionNotFound: the module's driver has no such function.
	ErrFunctionNotFound = errkind.New(errkind.BadRequest, "function not found")
	// ErrBadArguments: the arguments do not bind to the function's parameters.
	ErrBadArguments = errkind.New(errkind.BadRequest, "bad arguments")
	// ErrMalformedArgs: the arguments are not JSON.
	ErrMalformedArgs = errkind.New(errkind.Malformed, "malformed arguments")
	// ErrAccessDenied: the caller's clearance is below the function's security level, or the
	// module is protected (_-prefixed) and the caller below support.
	ErrAccessDenied = errkind.New(errkind.Forbidden, "access denied")
	// ErrBadMetadata: the driver's metadata does not parse.
	ErrBadMetadata = errkind.New(errkind.Internal, "driver metadata does not parse")
	// ErrModuleStopped: the module exists but is not running on this node.
	ErrModuleStopped = errkind.New(errkind.Unavailable, "module is not running")
	// ErrCutOff: no leader has reached this node for longer than the others wait before moving
	// its modules, so it stopped them (cutoff.go).
	ErrCutOff = errkind.New(errkind.Unavailable, "node is cut off from the cluster's leader")
	// ErrNodeStarting: this node has not reconciled the current membership yet.
	ErrNodeStarting = errkind.New(errkind.Unavailable, "node is starting")
	// ErrBadTarget: a call named a module neither by id nor by system and name.
	ErrBadTarget = errkind.New(errkind.BadRequest, "no target module given")
	// ErrDriverBinary: the module's driver has no binary this node can run.
	ErrDriverBinary = errkind.New(errkind.Unavailable, "driver binary unavailable")
	// ErrNotHosted: this node was asked to run a module it does not host (see NotHostedError).
	ErrNotHosted = errkind.New(errkind.Conflict, "module is not hosted on this node")
	// ErrMoving: the nodes do not agree yet on where a module lives; retry shortly.
	ErrMoving = errkind.New(errkind.Unavailable, "module is moving between nodes")
	// ErrTimeout: the call did not finish within its deadline.
	ErrTimeout = errkind.New(errkind.Timeout, "deadline exceeded")
	// ErrNotReachable: a module's owner has no address this node can reach it on.
	ErrNotReachable = errkind.New(errkind.Unavailable, "module owner unreachable")
	// ErrNoBuilder: this node compiles no drivers.
	ErrNoBuilder = errkind.New(errkind.EntityNotFound, "this node has no builder")
)
