package httpapi

import (
	"context"
	"encoding/json"
)

// Modules is the engine as clients see it (core implements it). Errors wrap an errkind kind so
// that errors.go can classify them.
type Modules interface {
	// Resolve maps a system + module name + 1-based index to a module id (cached, no Redis
	// round trip). An unknown system or module is an errkind.NotFound error.
	Resolve(ctx context.Context, systemID, name string, index int) (string, error)
	// Exec runs fn; args is a JSON array (positional) or object (named), nil for none.
	// A driver-raised failure is returned as *errkind.DriverError (Class, Message, Backtrace, Code).
	Exec(ctx context.Context, moduleID, fn string, args json.RawMessage, userID, requestID string) (result json.RawMessage, code int, err error)
	// State is the module's status hash: name -> JSON text.
	State(ctx context.Context, moduleID string) (map[string]string, error)
	// StateValue is one status as JSON text; found is false when it is not set.
	StateValue(ctx context.Context, moduleID, name string) (value json.RawMessage, found bool, err error)
	// Metadata is the module's driver metadata (PROTOCOL §4); errkind.NotFound when there is none.
	Metadata(ctx context.Context, moduleID string) (json.RawMessage, error)
	// Types counts the modules of a system by resolved name. An unknown system must be an
	// errkind.NotFound error: httpapi also uses it to tell "no such system" from "no such module"
	// after Resolve fails.
	Types(ctx context.Context, systemID string) (map[string]int, error)
	StartModule(ctx context.Context, moduleID string) error
	StopModule(ctx context.Context, moduleID string) error
}

// Node is this node's runtime (core implements it).
type Node interface {
	// Ready reports whether this node has reconciled its share for the current epoch.
	Ready() bool
	// NodeStatus is JSON-encodable: drivers, modules, build failures on this node.
	NodeStatus(ctx context.Context) (any, error)
	// Loaded maps driver key -> module ids running on this node.
	Loaded() map[string][]string
	// DriverStatus is JSON-encodable in the PROTOCOL §6 shape; false when the driver is unknown.
	DriverStatus(key string) (any, bool)
	// KillDriver SIGKILLs the driver process; errkind.NotFound when the driver is unknown.
	KillDriver(key string) error
}

// Clearance is what a caller may do with driver functions (PROTOCOL §8).
type Clearance int

// Clearance levels, lowest first.
const (
	ClearanceUser Clearance = iota
	ClearanceSupport
	ClearanceAdmin
)

func (c Clearance) String() string {
	switch c {
	case ClearanceUser:
		return "user"
	case ClearanceSupport:
		return "support"
	case ClearanceAdmin:
		return "admin"
	}
	return "unknown"
}

// Caller is the authenticated identity behind a request.
type Caller struct {
	UserID    string
	Clearance Clearance
	// Node marks a request from another node of the cluster (valid cluster secret, or --auth
	// none); UserID and Clearance are then those of the caller it acts for.
	Node bool
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller of a request. A context without one yields a user-level caller
// with no id, so a forgotten authentication step fails closed.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}
