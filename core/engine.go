package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/state"
)

// Resolve maps a system, module name and 1-based index to a module id: from the lookup in
// Redis (cached), else from the model, which the lookup is published from — it covers the moment
// after a Redis restart before the system's owner has written the lookup again.
func (c *Core) Resolve(ctx context.Context, systemID, name string, index int) (string, error) {
	id, err := c.cfg.State.ResolveModule(ctx, systemID, name, index)
	if err == nil || !errors.Is(err, errkind.NotFound) {
		return id, err
	}
	m, _ := c.cfg.Store.Model()
	if sys := m.Systems[systemID]; sys != nil {
		if id := m.Lookup(sys)[state.LookupField(name, index)]; id != "" {
			return id, nil
		}
	}
	return "", err
}

// ExecLocal runs fn on a module hosted by this node. A failure raised by the driver is returned
// as *errkind.DriverError; a call the driver refused (unknown function, bad arguments) as a
// BadRequest error; a module hosted elsewhere as *NotHostedError.
func (c *Core) ExecLocal(ctx context.Context, moduleID, fn string, args json.RawMessage, userID, requestID string) (json.RawMessage, int, error) {
	start := time.Now()
	res, code, err := c.execLocal(ctx, moduleID, fn, args, userID, requestID)
	c.observeExec(moduleID, fn, err, time.Since(start))
	return res, code, err
}

func (c *Core) execLocal(ctx context.Context, moduleID, fn string, args json.RawMessage, userID, requestID string) (json.RawMessage, int, error) {
	if err := c.hosted(moduleID); err != nil {
		return nil, 0, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.ExecTimeout)
		defer cancel()
	}
	var timeoutMS int64
	if dl, ok := ctx.Deadline(); ok {
		timeoutMS = time.Until(dl).Milliseconds()
	}
	resp, err := c.sup.Exec(ctx, &proto.ExecRequest{
		ModuleId: moduleID, Function: fn, ArgsJson: args, UserId: userID, RequestId: requestID, TimeoutMs: timeoutMS,
	})
	if err != nil {
		return nil, 0, err
	}
	if e := resp.GetError(); e != nil {
		if resp.Code == 400 {
			return nil, 0, errkind.Wrap(errkind.BadRequest, nil, "%s", e.Message)
		}
		return nil, 0, &errkind.DriverError{Class: e.Class, Message: e.Message, Backtrace: e.Backtrace, Code: int(resp.Code)}
	}
	code := int(resp.Code)
	if code == 0 {
		code = 200
	}
	result := json.RawMessage(resp.ResultJson)
	if len(result) == 0 {
		result = json.RawMessage("null")
	}
	return result, code, nil
}

// hosted returns nil if this node runs the module, else why not.
func (c *Core) hosted(moduleID string) error {
	c.mu.Lock()
	st := c.modules[moduleID]
	c.mu.Unlock()
	if st != nil && st.running {
		return nil
	}
	m, _ := c.cfg.Store.Model()
	mod := m.Modules[moduleID]
	if owner, addr := c.Owner(moduleID); mod != nil && owner != c.cfg.NodeID {
		return &NotHostedError{Module: moduleID, Owner: owner, OwnerHTTP: addr}
	}
	switch {
	case mod == nil && !c.Ready():
		// A node that just started (or came back) may not have replayed the model yet.
		return fmt.Errorf("%w: node %q is catching up with the cluster", ErrNodeStarting, c.cfg.NodeID)
	case mod == nil:
		return fmt.Errorf("%w: %q", ErrModuleNotFound, moduleID)
	case st != nil && st.err != nil:
		return fmt.Errorf("%w: %q: %w", ErrModuleStopped, moduleID, st.err)
	case !mod.Running:
		return fmt.Errorf("%w: %q is stopped", ErrModuleStopped, moduleID)
	default:
		return fmt.Errorf("%w: %q is starting", ErrModuleStopped, moduleID)
	}
}

// State returns a module's status hash (values are JSON text).
func (c *Core) State(ctx context.Context, moduleID string) (map[string]string, error) {
	return c.cfg.State.Status(ctx, moduleID)
}

// StateValue returns one status value as JSON text.
func (c *Core) StateValue(ctx context.Context, moduleID, name string) (json.RawMessage, bool, error) {
	v, ok, err := c.cfg.State.StatusValue(ctx, moduleID, name)
	return v, ok, err
}

// Metadata returns the module's metadata (PROTOCOL §4) from Redis, or, for a module this node
// runs whose metadata is not (yet again) in Redis, from its driver.
func (c *Core) Metadata(ctx context.Context, moduleID string) (json.RawMessage, error) {
	meta, err := c.cfg.State.Metadata(ctx, moduleID)
	if err == nil || !errors.Is(err, errkind.NotFound) {
		return meta, err
	}
	c.mu.Lock()
	st := c.modules[moduleID]
	var binary, notes string
	if st != nil && st.running && st.config != nil {
		binary, notes = st.binary, st.config.Notes
	}
	c.mu.Unlock()
	if binary != "" {
		if raw, derr := c.sup.Metadata(ctx, binary); derr == nil {
			return withNotes(raw, notes)
		}
	}
	// A module that should run but has no metadata yet is starting (or its owner is writing
	// Redis again after a restart): retryable, not missing.
	if m, _ := c.cfg.Store.Model(); m.Modules[moduleID] != nil && m.Modules[moduleID].Running {
		return nil, fmt.Errorf("%w: %q: its metadata is not published yet", ErrModuleStopped, moduleID)
	}
	return nil, err
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
		return err
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
		var now bool
		var err error
		if st != nil {
			now, err = st.running, st.err
		}
		c.mu.Unlock()
		if now == running {
			return nil
		}
		if running && err != nil {
			return err
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

// NodeStatus describes this node's drivers and modules (GET /api/core/v1/status).
func (c *Core) NodeStatus(context.Context) (any, error) {
	c.mu.Lock()
	mods := make([]ModuleStatus, 0, len(c.modules))
	var failed []ModuleStatus
	for id, st := range c.modules {
		ms := ModuleStatus{ID: id, Driver: st.binary, Running: st.running, Since: st.since}
		if st.err != nil {
			ms.Error = st.err.Error()
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
		"drivers":  c.sup.Drivers(),
		"modules":  mods,
		"failures": failed,
	}
	if c.cfg.Builder != nil {
		b := c.cfg.Builder.Status()
		out["repositories"], out["builds"] = b.Repositories, b.Builds
	}
	return out, nil
}

// Loaded maps each driver key to the module ids its process hosts.
func (c *Core) Loaded() map[string][]string { return c.sup.Loaded() }

// DriverStatus is the state of one driver process; for a repository driver whose build failed
// (so no process exists) it is the build's status with the compiler output. key is the binary
// path, or the driver's path in its repository.
func (c *Core) DriverStatus(key string) (any, bool) {
	if st, ok := c.sup.DriverStatus(key); ok {
		return st, true
	}
	if c.cfg.Builder != nil {
		for _, b := range c.cfg.Builder.Status().Builds {
			if b.Path == key || b.Binary == key {
				return b, true
			}
		}
	}
	return nil, false
}

// KillDriver SIGKILLs a driver process; the supervisor restarts it.
func (c *Core) KillDriver(key string) error { return c.sup.Kill(key) }
