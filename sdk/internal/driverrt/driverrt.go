package driverrt

import (
	"io"

	"github.com/placeos-go/engine/plugin"
)

// Runtime hosts the modules of one driver in one process.
type Runtime interface {
	plugin.Driver
	// Close stops every module and the runtime's goroutines and waits for them.
	Close() error
}

// New describes the driver that factory makes and returns a runtime ready to host its modules,
// writing its log lines (hclog JSON) to logOut. factory and opts are what sdk.Serve takes: a
// func() D for a driver type D, and sdk.Option values. It fails when they are not, or when the
// driver's declarations are invalid (bad tags or defaults).
//
// Package sdk sets New when it is initialised, so it is set wherever sdk is imported.
var New func(factory any, logOut io.Writer, opts ...any) (Runtime, error)
