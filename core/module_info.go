package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/metadata"
	"github.com/placeos-go/engine/state"
)

// controlSystem is the system as a logic module receives it: the model's system (its protected
// settings left out: they reach the module merged and opened) and its modules.
type controlSystem struct {
	model.System
	ModuleInfo []metadata.SystemModule `json:"module_info"` // docs/protocol.md §2.6
}

// MarshalJSON is needed because model.System has its own, which the embedding would promote and
// so drop module_info: the system's object with module_info added as its last field.
func (cs controlSystem) MarshalJSON() ([]byte, error) {
	sys, err := json.Marshal(cs.System)
	if err != nil {
		return nil, err
	}
	info, err := json.Marshal(cs.ModuleInfo)
	if err != nil {
		return nil, err
	}
	if len(sys) < 2 || sys[len(sys)-1] != '}' {
		return nil, fmt.Errorf("system %q: not a JSON object: %s", cs.ID, sys)
	}
	out := append(make([]byte, 0, len(sys)+len(info)+16), sys[:len(sys)-1]...)
	if len(sys) > 2 {
		out = append(out, ',')
	}
	out = append(append(append(out, `"module_info":`...), info...), '}')
	return out, nil
}

// moduleInfos builds the module_info of the systems of the logic modules one reconcile pass
// starts or updates, once per system, and remembers which modules they list: a change of one's
// metadata (a first start anywhere in the cluster, a new driver commit) reaches the logic
// modules with the next pass (watchMetadata).
type moduleInfos struct {
	ctx     context.Context
	m       *model.Model
	state   State
	cache   *functionCache
	log     hclog.Logger
	systems map[string]moduleInfo
	watched map[string]bool
	// prev is what earlier passes listed of each module's metadata, known what this one lists;
	// memo makes the next pass's prev of them (Core.infoKnown).
	prev, known infoMemo
}

// infoMemo is what a module_info listed of each module's metadata, by module id.
type infoMemo map[string]knownInfo

// knownInfo is what a module_info last listed of one module's metadata.
type knownInfo struct {
	fs *functions
	// missing: Redis held none of it in the last pass, which kept fs.
	missing bool
}

type moduleInfo struct {
	entries []metadata.SystemModule
	// stale: a module's metadata could not be read (Redis away) and no earlier pass listed it;
	// what the module got last is better than an update that loses that module's interfaces
	// until Redis is back.
	stale bool
}

func newModuleInfos(ctx context.Context, m *model.Model, st State, cache *functionCache, prev infoMemo, log hclog.Logger) *moduleInfos {
	return &moduleInfos{ctx: ctx, m: m, state: st, cache: cache, log: log, prev: prev,
		systems: map[string]moduleInfo{}, watched: map[string]bool{}, known: infoMemo{}}
}

// of is the module_info of system sys. A module whose metadata is not there yet (it has not
// started anywhere) is listed with its name and index only, until its metadata arrives.
func (is *moduleInfos) of(sys *model.System) moduleInfo {
	if info, ok := is.systems[sys.ID]; ok {
		return info
	}
	var info moduleInfo
	for _, e := range is.m.SystemModules(sys) {
		is.watched[e.ID] = true
		sm := metadata.SystemModule{ID: e.ID, Name: e.Name, Index: e.Index}
		fs, stale := is.functionsOf(sys.ID, e.ID)
		if fs != nil {
			sm.Implements, sm.Functions = fs.implements, fs.order
		}
		info.stale = info.stale || stale
		info.entries = append(info.entries, sm)
	}
	is.systems[sys.ID] = info
	return info
}

// functionsOf is what module id's metadata reports (nil: nothing known of it yet). Metadata that
// Redis lost or cannot give is taken as unknown, not as gone: the module listed keeps what an
// earlier pass listed of it. A Redis restarted without data, or a failover, empties
// interface/<id> until the node hosting the module writes it back; taking that as "no functions"
// would update every logic module of the system twice (once for the loss, once for the
// write-back), and drivers that reconnect on an update would reconnect on every Redis failover.
// A real change (a new driver build) is written to Redis, so it still reaches them, once. stale:
// it could not be read and nothing is known of it.
func (is *moduleInfos) functionsOf(systemID, id string) (fs *functions, stale bool) {
	raw, err := is.state.Metadata(is.ctx, id)
	if err == nil {
		if fs, err = is.cache.get(id, raw); err == nil {
			is.known[id] = knownInfo{fs: fs}
			return fs, false
		}
	}
	if prev, ok := is.prev[id]; ok {
		if !prev.missing {
			is.log.Debug("module_info: a module's metadata is missing or unreadable; its system's logic modules keep what they were given",
				"system", systemID, "module", id, "error", err)
		}
		is.known[id] = knownInfo{fs: prev.fs, missing: true}
		return prev.fs, false
	}
	if errors.Is(err, errkind.NotFound) {
		return nil, false
	}
	is.log.Debug("module_info: metadata not read", "system", systemID, "module", id, "error", err)
	return nil, true
}

// memo is what the next pass starts from: what this pass listed, and what earlier ones listed
// of the modules still in the model that this one did not (those of a logic module this pass
// did not configure, as its driver is building, keep what was known of them).
func (is *moduleInfos) memo() infoMemo {
	for id, k := range is.prev {
		if _, listed := is.known[id]; !listed && is.m.Modules[id] != nil {
			is.known[id] = k
		}
	}
	return is.known
}

// stale tells whether the module_info built for systemID missed a module's metadata.
func (is *moduleInfos) stale(systemID string) bool { return is.systems[systemID].stale }

// controlSystemJSON is the control system a logic module of sys starts with.
func (is *moduleInfos) controlSystemJSON(sys *model.System) ([]byte, error) {
	cs := controlSystem{System: *sys, ModuleInfo: is.of(sys).entries}
	// The system's protected settings reach the module merged and opened, never as the sealed
	// values the model holds.
	cs.ProtectedSettings = nil
	if cs.ModuleInfo == nil {
		cs.ModuleInfo = []metadata.SystemModule{}
	}
	return json.Marshal(&cs)
}

// watchMetadata kicks a reconcile pass when the metadata of a module listed in a hosted logic
// module's module_info changes (any node's SetMetadata announces it on InterfaceChangeChannel).
// A message lost to a dropped listener costs at most the resync interval.
func (c *Core) watchMetadata() *state.Subscription {
	return c.cfg.State.Subscribe(state.InterfaceChangeChannel, func(moduleID []byte) {
		if w := c.infoWatched.Load(); w != nil && (*w)[string(moduleID)] {
			c.Kick()
		}
	})
}
