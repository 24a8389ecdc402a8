package driverrt

import (
	"io"

	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

// Runtime hosts the modules of one driver in one process.
type Runtime interface {
	plugin.Driver
	// Close stops every module and the runtime's goroutines and waits for them.
	Close() error
	// Busy says what a module is doing, "" when it only waits for time or its device: no
	// function, scheduled job or connection hook running, no command running or ready to run,
	// every status sent (sdktest's WaitIdle).
	Busy(moduleID string) string
}

// New describes the driver that factory makes and returns a runtime ready to host its modules,
// writing its log lines (hclog JSON) to logOut. factory and opts are what sdk.Serve takes: a
// func() D for a driver type D, and sdk.Option values. It fails when they are not, or when the
// driver's declarations are invalid (bad tags or defaults).
//
// Package sdk sets New when it is initialised, so it is set wherever sdk is imported.
var New func(factory any, logOut io.Writer, opts ...any) (Runtime, error)

// ErrorResponse is the answer a driver function gives when it returns err: the code, class,
// message and backtrace it chose (an *sdk.Error). sdktest's mock modules answer with it, so a
// mock fails as a driver does. Set by package sdk.
var ErrorResponse func(err error) *proto.ExecResponse

// ExecError is the failure in an exec's response as a driver author sees it (an *sdk.Error), nil
// for a success. Set by package sdk.
var ExecError func(resp *proto.ExecResponse) error
