package core

import (
	"context"
	"encoding/json"
	"time"

	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/supervisor"
)

// ModelStore holds the desired model (model.Memory on one node, the Raft FSM in a cluster).
type ModelStore interface {
	Model() (*model.Model, uint64)
	// Watch signals (coalesced) after every change until ctx is done.
	Watch(ctx context.Context) <-chan struct{}
	// The writes: each is validated against the whole model and refused with a clear error.
	Apply(ctx context.Context, f *model.File) error
	SetRunning(ctx context.Context, moduleID string, running bool) error
	SaveSetting(ctx context.Context, moduleID, name string, value json.RawMessage) error
}

// Supervisor runs driver processes on this node.
type Supervisor interface {
	Start(ctx context.Context, binary string, m *proto.Module) error
	// Move moves a running module to another binary, the new instance serving before the old
	// one stops.
	Move(ctx context.Context, binary string, m *proto.Module) error
	Update(ctx context.Context, m *proto.Module) error
	Stop(ctx context.Context, moduleID string) error
	// Exec runs a call within ctx's deadline; a failure the driver raised is in the response.
	Exec(ctx context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error)
	Metadata(ctx context.Context, binary string) ([]byte, error)
	// Debug hands moduleID's log lines to fn while it is registered; fn must not block.
	Debug(moduleID string, fn func(level, msg string)) (cancel func())
	Loaded() map[string][]string
	DriverStatus(binary string) (supervisor.DriverStatus, bool)
	Drivers() []supervisor.DriverStatus
	Kill(binary string) error
	// Reload loads the file now at binary's path into a new process when it differs from what
	// the running one runs, moving the modules without a gap (a recompile).
	Reload(ctx context.Context, binary string) (supervisor.Reload, error)
	// RunningSHA256 is the SHA-256 of what binary's process runs; false with no process.
	RunningSHA256(binary string) (string, bool)
}

// State is live module state in Redis.
type State interface {
	SetStatus(ctx context.Context, moduleID, name string, value []byte) (bool, error)
	ClearStatus(ctx context.Context, moduleID string) error
	Status(ctx context.Context, moduleID string) (map[string]string, error)
	StatusValue(ctx context.Context, moduleID, name string) ([]byte, bool, error)
	SetLookup(ctx context.Context, systemID string, entries map[string]string) error
	DeleteLookup(ctx context.Context, systemID string) error
	Lookup(ctx context.Context, systemID string) (map[string]string, error)
	ResolveModule(ctx context.Context, systemID, name string, index int) (string, error)
	SetMetadata(ctx context.Context, moduleID string, json []byte) error
	Metadata(ctx context.Context, moduleID string) ([]byte, error)
	Publish(ctx context.Context, channel string, msg []byte) error
	// SetModuleError, ClearModuleError and ModuleRuntime keep and read modules' start failures
	// where every node reads them (runtime.go).
	SetModuleError(ctx context.Context, moduleID string, e state.ModuleError) error
	ClearModuleError(ctx context.Context, moduleID string) error
	ModuleRuntime(ctx context.Context, moduleIDs []string) ([]state.ModuleRuntime, error)
	// ForgetModule deletes what Redis holds of a module deleted from the model (its status, null
	// published per field; its metadata, announced; its start failure) in one step, and stops
	// writing it back; it answers how much it deleted (0 when nothing was left).
	ForgetModule(ctx context.Context, moduleID string) (int, error)
	// KeyedIDs lists the modules and systems Redis holds keys of (sweep.go).
	KeyedIDs(ctx context.Context) (modules, systems []string, err error)
	// KeepCluster makes Redis hold the cluster's record, where a node that lost its disk finds
	// it, and writes it back after a loss; nil stops that. It answers what it replaced and
	// whether it wrote.
	KeepCluster(ctx context.Context, rec *state.ClusterRecord) (replaced []byte, written bool, err error)
	Subscribe(channel string, fn func(msg []byte), opts ...state.SubOption) *state.Subscription
	Share
}

// Share tells the state store what this node hosts. The store keeps the last status values and
// metadata written for each hosted module and the last lookup written for each owned system, and
// writes them all back whenever Redis returns from a loss (a restart without persistence, a
// Sentinel failover), publishing what changed; nothing else is written back.
type Share interface {
	// Host: this node is about to run the module (before every start, so before its driver sets
	// a status).
	Host(moduleID string)
	// Unhost: the module stopped here or left for another node; nothing of it is written back.
	Unhost(moduleID string)
	// OwnSystems names every system whose lookup this node writes; the others are forgotten.
	OwnSystems(systemIDs []string)
}

// Watcher watches module statuses for drivers (package subscriptions, which serves WebSocket
// binds the same way): the current value first, then every change, re-read after a Redis
// reconnect. fn must not block.
type Watcher interface {
	WatchModule(ctx context.Context, moduleID, status string, fn func(value []byte)) (cancel func(), err error)
	WatchSystem(ctx context.Context, systemID, module string, index int, status string, fn func(value []byte)) (cancel func(), err error)
}

// Cluster is the membership a node reconciles against (raftfsm.Store). A Core without one is a
// standalone node that owns everything.
type Cluster interface {
	Nodes() []raftfsm.Node
	Epoch() uint64
	IsLeader() bool
	Leader() (id, httpAddr string)
	SetNodeReady(ctx context.Context, id string, epoch uint64) error
	// CaughtUp is false while a restarted node replays its log: its model is not current yet.
	CaughtUp() bool
	// Term is the Raft term this node is in.
	Term() uint64
	// LeaderContact is when this node last knew a leader (now while it leads); CutOffAfter is
	// how long it may go without one before it must assume the others marked it down (cutoff.go).
	LeaderContact() time.Time
	CutOffAfter() time.Duration
	// Barrier returns once an entry the leader logged now has been applied on this node: its
	// model is the cluster's as of the call.
	Barrier(ctx context.Context) error
}

// Peers reaches the other nodes of the cluster (package peer).
type Peers interface {
	// Exec runs a checked call on the node whose cluster port is at addr, which hosts
	// req.Target.ModuleID; a node that does not host it answers with an errkind.Conflict error.
	Exec(ctx context.Context, addr string, req call.Request) (call.Result, error)
	// Debug streams a module's log lines from the node whose cluster port is at addr until cancel.
	Debug(ctx context.Context, addr, moduleID string, fn func(level, msg string)) (cancel func(), err error)
	// NodeStatus is the status document (NodeStatus) of the node whose cluster port is at addr.
	NodeStatus(ctx context.Context, addr string) (json.RawMessage, error)
}

// Builder keeps driver repositories cloned and compiles the drivers this node runs
// (builder.Builder).
type Builder interface {
	SetRepositories(repos []model.Repository)
	EnsureDriver(ctx context.Context, r model.Repository, d model.Driver) (builder.Binary, error)
	Sync(ctx context.Context, r model.Repository) (builder.RepoStatus, error)
	Resolve(ctx context.Context, r model.Repository, ref string) (string, error)
	Rebuild(ctx context.Context, r model.Repository, driverPath, commit string) (builder.Binary, error)
	// LastGood is the verified binary of driverPath that driver driverID used most recently on
	// this node, for its modules to keep running when a newer commit does not build; never
	// another driver's.
	LastGood(r model.Repository, driverPath, driverID string) (builder.Binary, bool)
	Status() builder.Status
	Cleanup(olderThan time.Duration, inUse func(binaryPath string) bool) ([]string, error)
}
