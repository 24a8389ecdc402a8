package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/supervisor"
)

// State returns the status hash (values are JSON text) of the module t names, once the caller
// may reach it (a protected module needs support; see reach). A place in a system with no module
// is errkind.NotFound, a missing system errkind.SystemNotFound.
func (c *Core) State(ctx context.Context, t call.Target, caller auth.Caller) (map[string]string, error) {
	id, err := c.reachStatus(ctx, t, caller)
	if err != nil {
		return nil, err
	}
	return c.cfg.State.Status(ctx, id)
}

// StateValue returns one status value of the module t names as JSON text, as State.
func (c *Core) StateValue(ctx context.Context, t call.Target, caller auth.Caller, name string) (json.RawMessage, bool, error) {
	id, err := c.reachStatus(ctx, t, caller)
	if err != nil {
		return nil, false, err
	}
	v, ok, err := c.cfg.State.StatusValue(ctx, id, name)
	return v, ok, err
}

// reachStatus is reach for a status read. A module id the model does not have is not found, as
// in PlaceOS, rather than a module without status: a deleted module leaves none behind, and
// any status Redis still holds under an unknown id is no module's (docs/protocol.md §6.5).
func (c *Core) reachStatus(ctx context.Context, t call.Target, caller auth.Caller) (string, error) {
	if t.ModuleID != "" {
		if m, _ := c.cfg.Store.Model(); m.Modules[t.ModuleID] == nil {
			return t.ModuleID, errkind.Wrap(ErrModuleNotFound, nil, "could not find module %s", t.ModuleID)
		}
	}
	return c.reach(ctx, t, caller)
}

// metadata returns the module's metadata (docs/protocol.md §4) from Redis, or, for a module this node
// runs whose metadata is not (yet again) in Redis or that Redis does not answer for (the state
// store bounds that read: state.MetadataReadTimeout), from its driver.
func (c *Core) metadata(ctx context.Context, moduleID string) (json.RawMessage, error) {
	meta, err := c.cfg.State.Metadata(ctx, moduleID)
	if err == nil {
		return meta, nil
	}
	if !errors.Is(err, errkind.NotFound) {
		if errors.Is(err, state.ErrUnavailable) || errors.Is(err, state.ErrTimeout) {
			if raw, ok := c.driverMetadata(ctx, moduleID); ok {
				return raw, nil
			}
		}
		return nil, err
	}
	if raw, ok := c.driverMetadata(ctx, moduleID); ok {
		return raw, nil
	}
	// A module that should run but has no metadata yet is starting, or its driver has not built
	// (or its owner is writing Redis again after a restart): retryable, not missing. Its host
	// knows which; another node points at where the build failures are listed.
	if m, _ := c.cfg.Store.Model(); m.Modules[moduleID] != nil && m.Modules[moduleID].Running {
		if why := c.unplacedErr(moduleID); why != nil {
			return nil, why
		}
		if owner, _ := c.Owner(moduleID); owner == c.cfg.NodeID {
			if why := c.hosted(moduleID); why != nil {
				return nil, why
			}
		}
		return nil, errkind.Wrap(ErrModuleStopped, nil, "module %q is not running yet: it is starting, or its driver has not built (GET /api/core/v1/status lists build failures)", moduleID)
	}
	return nil, err
}

// driverMetadata is the metadata of a module this node runs, from its driver process, with the
// module's notes; false for another module, or when the driver does not answer.
func (c *Core) driverMetadata(ctx context.Context, moduleID string) (json.RawMessage, bool) {
	c.mu.Lock()
	st := c.modules[moduleID]
	var binary, notes string
	if st != nil && st.running && st.config != nil {
		binary, notes = st.binary, st.config.Notes
	}
	c.mu.Unlock()
	if binary == "" {
		return nil, false
	}
	raw, err := c.sup.Metadata(ctx, binary)
	if err != nil {
		return nil, false
	}
	if raw, err = withNotes(raw, notes); err != nil {
		return nil, false
	}
	return raw, true
}

// Types counts the modules of each name in a system.
func (c *Core) Types(ctx context.Context, systemID string) (map[string]int, error) {
	lookup, err := c.cfg.State.Lookup(ctx, systemID)
	if errors.Is(err, errkind.NotFound) {
		m, _ := c.cfg.Store.Model()
		if sys := m.Systems[systemID]; sys != nil {
			lookup, err = m.Lookup(sys), nil
		}
	}
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for key := range lookup {
		if i := strings.LastIndexByte(key, '/'); i > 0 {
			out[key[:i]]++
		}
	}
	return out, nil
}

// StartModule marks a module running in the model; the reconciler starts it.
func (c *Core) StartModule(ctx context.Context, moduleID string) error {
	return c.setRunning(ctx, moduleID, true)
}

// StopModule marks a module stopped in the model; the reconciler stops it.
func (c *Core) StopModule(ctx context.Context, moduleID string) error {
	return c.setRunning(ctx, moduleID, false)
}

func (c *Core) setRunning(ctx context.Context, moduleID string, running bool) error {
	if err := c.cfg.Store.SetRunning(ctx, moduleID, running); err != nil {
		if errors.Is(err, errkind.EntityNotFound) {
			// The model calls any missing entity not_found; on this client route it is a module
			// that is missing, named as on every other module route.
			return errkind.Wrap(ErrModuleNotFound, nil, "could not find module %s", moduleID)
		}
		return err
	}
	if running {
		if err := c.unplacedErr(moduleID); err != nil {
			// Running in the model now, but no node may host it: say so rather than 200 (it
			// starts when a node with its labels comes up).
			return err
		}
	}
	if owner, _ := c.Owner(moduleID); owner != c.cfg.NodeID {
		return nil // the owner's reconciler acts on the committed change
	}
	// The change notification reaches Run as well; kicking makes the wait below short.
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return c.waitRunning(ctx, moduleID, running)
}

// waitRunning waits until the reconciler has brought the module to the wanted state, so that a
// client's start is followed by a module that answers.
func (c *Core) waitRunning(ctx context.Context, moduleID string, running bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c.mu.Lock()
		st := c.modules[moduleID]
		var now, failed bool
		var err error
		if st != nil {
			now, err, failed = st.running, st.err, st.startFailed || st.notBuilt
		}
		c.mu.Unlock()
		if now == running {
			return nil
		}
		if running && err != nil {
			// Why it does not run (its driver's OnLoad, a setting out of range, no build): a 503
			// with the reason, as a call to the module answers, not an engine fault.
			return c.retryNextPass(failed, errkind.Wrap(ErrModuleStopped, nil, "module %q did not start: %v", moduleID, err))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for module %q", errkind.Timeout, moduleID)
		case <-tick.C:
		}
	}
}

// ModuleStatus is one module in the node status route.
type ModuleStatus struct {
	ID      string    `json:"id"`
	Driver  string    `json:"driver"`
	Running bool      `json:"running"`
	Since   time.Time `json:"since,omitzero"`
	Error   string    `json:"error,omitempty"`
}

// NodeStatus describes this node's drivers and modules (GET /api/core/v1/status), as the caller
// ctx carries may read them: a protected module's failure (the driver's words of a failed start,
// its process down) is its state, which a caller below support may not read on any route
// (docs/protocol.md §8.3), so for such a caller the module is listed without its error, is not
// among the failures, and runs as the model says. A ctx without a caller reads as a user (auth.CallerFrom); another node
// asking for a user's cluster status says whose (peer.Client.NodeStatus).
func (c *Core) NodeStatus(ctx context.Context) (any, error) {
	m, _ := c.cfg.Store.Model()
	clearance := auth.CallerFrom(ctx).Clearance
	c.mu.Lock()
	mods := make([]ModuleStatus, 0, len(c.modules))
	var failed []ModuleStatus
	for id, st := range c.modules {
		ms := ModuleStatus{ID: id, Driver: st.binary, Running: st.running, Since: st.since}
		if st.err != nil {
			ms.Error = st.err.Error()
		} else if d := st.downFor(); d.state != "" { // its driver process is down (processdown.go)
			ms.Error = d.text
		}
		// The name the model gives it, as reach judges a module by id; one the model no
		// longer has (still stopping here) has no name to protect. Whether it runs here, and
		// since when, is its state as much as its error (a failed start reads running: false):
		// such a caller gets the model's running, which every module read shows.
		if mod := m.Modules[id]; mod != nil && !auth.ModuleAllowed(m.ResolvedName(mod), clearance) {
			ms.Error, ms.Running, ms.Since = "", mod.Running, time.Time{}
		}
		if ms.Error != "" {
			failed = append(failed, ms)
		}
		mods = append(mods, ms)
	}
	c.mu.Unlock()
	sort.Slice(mods, func(i, j int) bool { return mods[i].ID < mods[j].ID })
	sort.Slice(failed, func(i, j int) bool { return failed[i].ID < failed[j].ID })
	out := map[string]any{
		"node":     c.cfg.NodeID,
		"ready":    c.Ready(),
		"drivers":  c.driverProcesses(c.sup.Drivers()...),
		"modules":  mods,
		"failures": failed,
		// The same list on every node: placement is computed from replicated state.
		"unplaced": c.view.Load().unplacedModules(m),
	}
	if c.cfg.Builder != nil {
		b := c.cfg.Builder.Status()
		out["repositories"], out["builds"] = b.Repositories, b.Builds
	}
	if c.cfg.Cluster != nil {
		out["raft_term"] = c.cfg.Cluster.Term()
	}
	return out, nil
}

// DriverProcess is a driver process's status and, when the latest build of a driver whose
// modules it serves failed, that failure: the process runs the last good build meanwhile.
type DriverProcess struct {
	supervisor.DriverStatus
	FailedBuild *BuildFailure `json:"failed_build,omitempty"`
}

func (c *Core) driverProcesses(sts ...supervisor.DriverStatus) []DriverProcess {
	failures := c.buildFailures()
	out := make([]DriverProcess, len(sts))
	for i, st := range sts {
		out[i].DriverStatus = st
		for _, f := range failures {
			if f.Running == st.Driver {
				out[i].FailedBuild = f
			}
		}
	}
	return out
}

// Loaded maps each driver key to the module ids its process holds, as PlaceOS's status/loaded
// lists the modules mapped to a driver process: one whose start failed (held for the retry) or
// has not answered yet included. Whether a module runs is its read's connected and
// has_runtime_error (ModuleRuntime), not this list.
func (c *Core) Loaded() map[string][]string { return c.sup.Loaded() }

// DriverStatus is the state of one driver process; for a repository driver whose build failed
// (so no process exists) it is the build's status with the compiler output. key is the binary
// path, its file name as status lists it under builds, or the driver's path in its repository.
func (c *Core) DriverStatus(key string) (any, bool) {
	if st, ok := c.sup.DriverStatus(key); ok {
		return c.driverProcesses(st)[0], true
	}
	if c.cfg.Builder == nil {
		return nil, false
	}
	// A driver's path names all its builds: the one a process runs (which carries a newer build's
	// failure as failed_build), else the newest, which failed or is building.
	var newest *builder.BuildStatus
	for _, b := range c.cfg.Builder.Status().Builds {
		if b.Path != key && b.Binary != key && b.Name != key {
			continue
		}
		if st, ok := c.sup.DriverStatus(b.Binary); ok && b.Binary != "" {
			return c.driverProcesses(st)[0], true
		}
		if newest == nil || b.Started.After(newest.Started) {
			newest = &b
		}
	}
	if newest == nil {
		return nil, false
	}
	return *newest, true
}

// KillDriver SIGKILLs a driver process; the supervisor restarts it.
func (c *Core) KillDriver(key string) error { return c.sup.Kill(key) }

// Debug streams a module's log lines to fn from wherever it runs: this node's driver process, or
// its owner's over the node-to-node channel. fn must not block.
func (c *Core) Debug(ctx context.Context, moduleID string, fn func(level, msg string)) (cancel func(), err error) {
	if err := c.knownModule(moduleID); err != nil {
		return nil, err
	}
	if err := c.unplacedErr(moduleID); err != nil {
		return nil, err
	}
	owner, addr := c.Owner(moduleID)
	if owner == c.cfg.NodeID || c.cfg.Peers == nil {
		return c.sup.Debug(moduleID, fn), nil
	}
	if addr == "" {
		return nil, errkind.Wrap(ErrNotReachable, nil, "owner %q of module %q has no cluster address", owner, moduleID)
	}
	return c.cfg.Peers.Debug(ctx, addr, moduleID, fn)
}

// knownModule refuses a module id the model does not have: a debug stream of it would answer
// success and never carry a line. (A module that exists but does not run is fine: lines start
// when it starts.)
func (c *Core) knownModule(moduleID string) error {
	if m, _ := c.cfg.Store.Model(); m.Modules[moduleID] == nil {
		return errkind.Wrap(ErrModuleNotFound, nil, "could not find module %q", moduleID)
	}
	return nil
}

// DebugHere is Debug for another node's request: only this node's driver processes are asked. A
// module owned elsewhere is a *NotHostedError. Lines start once the module runs here.
func (c *Core) DebugHere(_ context.Context, moduleID string, fn func(level, msg string)) (cancel func(), err error) {
	if err := c.knownModule(moduleID); err != nil {
		return nil, err
	}
	if owner, addr := c.Owner(moduleID); owner != c.cfg.NodeID {
		return nil, &NotHostedError{Module: moduleID, Owner: owner, OwnerAddr: addr}
	}
	return c.sup.Debug(moduleID, fn), nil
}
