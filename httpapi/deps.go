package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/model"
)

// Engine is the engine as clients see it (package core). Errors wrap an errkind kind, which the
// one error mapping (errkind.Classify) presents.
type Engine interface {
	// Execute is the one execute path: it resolves the target, checks the caller's clearance and
	// the arguments, and runs the call on the node that hosts the module.
	Execute(ctx context.Context, req call.Request) (call.Result, error)
	// Resolve maps a target to a module id, telling a missing system (errkind.SystemNotFound)
	// from a missing module (errkind.NotFound). It applies no clearance: the WebSocket bind uses
	// it only to tell whether the system exists.
	Resolve(ctx context.Context, t call.Target) (string, error)
	// Functions lists the functions of a module the caller may call, in declaration order.
	Functions(ctx context.Context, t call.Target, caller auth.Caller) ([]call.Function, error)
	// State is the status hash (name -> JSON text) of the module t names (by system and name, or
	// by id), if the caller may reach it. Errors tell a missing system (errkind.SystemNotFound)
	// from a missing module (errkind.NotFound) and a protected one (errkind.Forbidden).
	State(ctx context.Context, t call.Target, caller auth.Caller) (map[string]string, error)
	// StateValue is one status as JSON text, as State; found is false when it is not set.
	StateValue(ctx context.Context, t call.Target, caller auth.Caller, name string) (value json.RawMessage, found bool, err error)
	// Types counts the modules of a system by resolved name; errkind.NotFound for no system.
	Types(ctx context.Context, systemID string) (map[string]int, error)
	// StartModule and StopModule set a module's running in the model (the HTTP server requires
	// support clearance first).
	StartModule(ctx context.Context, moduleID string) error
	StopModule(ctx context.Context, moduleID string) error
	// ModuleRuntime is what a read of each module shows beside its entity: the node hosting it,
	// whether it is connected and its start failure (docs/protocol.md §9.5).
	ModuleRuntime(ctx context.Context, mods []*model.Module) ([]call.ModuleRuntime, error)
	// Debug streams a module's log lines from wherever it runs; fn must not block.
	Debug(ctx context.Context, moduleID string, fn func(level, msg string)) (cancel func(), err error)
}

// Node is this node's runtime (package core).
type Node interface {
	// Ready reports whether this node has reconciled its share for the current epoch.
	Ready() bool
	// NotMember is why this node is not a member of the cluster (in an errkind.WithState state),
	// nil while it is one.
	NotMember() error
	// NodeStatus is JSON-encodable: drivers, modules, build failures on this node.
	NodeStatus(ctx context.Context) (any, error)
	// ClusterStatus is every node's NodeStatus, asked over the cluster port (JSON-encodable).
	ClusterStatus(ctx context.Context) (any, error)
	// Loaded maps driver key -> module ids running on this node.
	Loaded() map[string][]string
	// DriverStatus is JSON-encodable in the docs/protocol.md §6 shape; false when unknown.
	DriverStatus(key string) (any, bool)
	// KillDriver SIGKILLs the driver process; errkind.NotFound when the driver is unknown.
	KillDriver(key string) error
	// Cluster is the GET /api/engine/v2/cluster document; errkind.NotFound when standalone.
	Cluster(ctx context.Context) (any, error)
	// Pull fetches a repository now on this node (and rebuilds drivers following its branch).
	Pull(ctx context.Context, repoID string) (any, error)
	// Recompile builds a driver's current commit again on this node.
	Recompile(ctx context.Context, driverID string) (any, error)
}

// Models is the replicated model as the management API sees it (package raftfsm). Reads are
// local: a follower may lag the leader by a few milliseconds; a caller who needs every write the
// leader acknowledged asks with ?consistent=true and is redirected to the leader.
type Models interface {
	Model() (*model.Model, uint64)
	// ModelFor is the model as a caller of clearance c may read it (model.Model.Redacted):
	// every read answers from it, so no route shows a secret above the caller's clearance.
	ModelFor(c auth.Clearance) (*model.Model, error)
	Apply(ctx context.Context, f *model.File) error
	Delete(ctx context.Context, kind model.Kind, id string) error
	IsLeader() bool
	// Leader is the leader's id and HTTP address, empty when there is none.
	Leader() (id, httpAddr string)
	// Barrier returns once this node's model holds every write the cluster committed before
	// the call (a follower's copy may lag): a PATCH merges into the current entity, and a write
	// through a follower is answered as stored.
	Barrier(ctx context.Context) error
}

// Watcher serves WebSocket binds (package subscriptions).
type Watcher interface {
	// WatchSystem calls fn with the current value of a status (if set) and then with every
	// change ("null" on delete), with no gap between the two, for the module a system names. A
	// module not (yet) in the system is not an error: values start when it is mapped. fn calls
	// are serial and must not block; none starts after cancel returns.
	WatchSystem(ctx context.Context, systemID, module string, index int, status string, fn func(value []byte)) (cancel func(), err error)
}

// Authenticator identifies the caller of a request (package auth).
type Authenticator interface {
	Authenticate(r *http.Request) (auth.Caller, error)
	// Disabled is --auth none: every caller is an admin, so only loopback is served.
	Disabled() bool
}
