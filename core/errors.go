package core

import "github.com/placeos-go/engine/errkind"

var (
	// ErrModuleNotFound: no module with that id in the model.
	ErrModuleNotFound = errkind.New(errkind.NotFound, "module not found")
	// ErrModuleStopped: the module exists but is not running on this node.
	ErrModuleStopped = errkind.New(errkind.Unavailable, "module is not running")
	// ErrNodeStarting: this node has not reconciled the current membership yet.
	ErrNodeStarting = errkind.New(errkind.Unavailable, "node is starting")
	// ErrBadTarget: a driver named a module neither by id nor by system and name.
	ErrBadTarget = errkind.New(errkind.BadRequest, "no target module given")
	// ErrDriverBinary: the module's driver has no binary this node can run.
	ErrDriverBinary = errkind.New(errkind.Unavailable, "driver binary unavailable")
)
