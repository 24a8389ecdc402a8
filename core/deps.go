package core

import (
	"context"
	"encoding/json"

	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
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
	Delete(ctx context.Context, kind model.Kind, id string) error
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
	Exec(ctx context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error)
	Metadata(ctx context.Context, binary string) ([]byte, error)
	Loaded() map[string][]string
	DriverStatus(binary string) (supervisor.DriverStatus, bool)
	Drivers() []supervisor.DriverStatus
	Kill(binary string) error
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
	Subscribe(channel string, fn func(msg []byte), opts ...state.SubOption) *state.Subscription
	// OnReconnect calls fn after every Redis reconnect (once subscriptions are back).
	OnReconnect(fn func()) (cancel func())
}
