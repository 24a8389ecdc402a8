package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/supervisor"
)

// DefaultExecTimeout bounds an execute unless the operator chooses otherwise (--exec-timeout).
const DefaultExecTimeout = 60 * time.Second

// Execute runs a driver function wherever its module is hosted. It is the one path of every
// execute — a REST request, a WebSocket exec, a driver calling another module — so each gets the
// same input, deadline, resolution, clearance and argument checks:
//
//  0. the input: identifiers of at most 255 bytes of UTF-8, arguments of UTF-8 (input.go);
//  1. one deadline: the engine's execute timeout, or less if the caller asked for less; a node
//     that is not a member of the cluster answers that at once (membership.go);
//  2. resolve the target to a module id (system + name + index, or the id itself), and apply the
//     protected-module rule to the module's resolved name (reach);
//  3. check the function against the module's metadata: it exists, the caller's clearance
//     reaches its security level, the arguments bind;
//  4. run it here if this node hosts the module, else forward it to the owner (one retry with a
//     fresh ring if the owner says the module moved).
func (c *Core) Execute(ctx context.Context, req call.Request) (call.Result, error) {
	return c.execute(ctx, req, true)
}

// ExecuteHere is Execute for a call another node forwarded: the same checks, but it runs only on
// this node. A module hosted elsewhere is a *NotHostedError (a Conflict) naming the owner, so the
// forwarding node can retry there.
func (c *Core) ExecuteHere(ctx context.Context, req call.Request) (call.Result, error) {
	return c.execute(ctx, req, false)
}

func (c *Core) execute(ctx context.Context, req call.Request, forward bool) (call.Result, error) {
	if err := checkInput(req); err != nil {
		return call.Result{}, err
	}
	timeout := c.cfg.ExecTimeout
	if req.Timeout > 0 && req.Timeout < timeout {
		timeout = req.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := c.route(ctx, req, forward)
	if err != nil {
		res.Value, res.Code = nil, 0
		var de *errkind.DriverError
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.As(err, &de) &&
			!(errkind.IsRemote(err) && errors.Is(err, errkind.Timeout)) {
			// Whatever layer noticed first, the caller's story is that the call ran out of time.
			// The owner's own timeout answer tells it already, in the same words.
			err = errkind.Wrap(ErrTimeout, err, "%s did not answer within %s", req.Function, timeout)
		}
	}
	return res, err
}

// route resolves and checks the call, then runs it here or on the owner. The result names the
// module the target resolved to, also on failure.
func (c *Core) route(ctx context.Context, req call.Request, forward bool) (call.Result, error) {
	if err := c.NotMember(); err != nil {
		return call.Result{}, err // it runs nothing, and no owner takes its calls (membership.go)
	}
	id, err := c.reach(ctx, req.Target, req.Caller)
	if err != nil {
		return call.Result{ModuleID: id}, err
	}
	res, err := c.checkAndRun(ctx, id, req, forward)
	res.ModuleID = id
	return res, err
}

func (c *Core) checkAndRun(ctx context.Context, id string, req call.Request, forward bool) (call.Result, error) {
	fs, err := c.functions(ctx, id)
	if err != nil {
		return call.Result{}, err
	}
	if err := fs.check(req.Function, req.Caller.Clearance, req.Args); err != nil {
		return call.Result{}, err
	}
	req.Target = call.Target{ModuleID: id}
	for attempt := 0; ; attempt++ {
		owner, addr := c.Owner(id)
		if owner == "" {
			if err := c.unplacedErr(id); err != nil {
				return call.Result{}, err
			}
		}
		if owner == c.cfg.NodeID || c.cfg.Peers == nil || !forward {
			return c.runHere(ctx, id, req)
		}
		if c.cutOff.Load() {
			// The owner is the one of a ring no leader has confirmed for seconds: it may have
			// moved, or be as unreachable as the leader is; dialing it would only answer 504
			// after the link's dial timeout. The cause is known now.
			return call.Result{}, c.cutOffErr(id)
		}
		if addr == "" {
			return call.Result{}, errkind.Wrap(ErrNotReachable, nil, "owner %q of module %q has no cluster address", owner, id)
		}
		res, err := c.cfg.Peers.Exec(ctx, addr, req)
		if !errors.Is(err, errkind.Conflict) {
			return res, err
		}
		if attempt == 0 {
			c.refreshView()
			continue
		}
		// The nodes do not agree yet on where the module lives (the ring is moving): a short,
		// retryable unavailability for the caller. The cause is kept as text only: it is a
		// Conflict, which must not reach the client.
		return call.Result{}, errkind.Wrap(ErrMoving, nil, "module %q is moving between nodes; retry (%v)", id, err)
	}
}

// runHere runs a checked call on a module this node hosts.
func (c *Core) runHere(ctx context.Context, moduleID string, req call.Request) (call.Result, error) {
	start := time.Now()
	var res call.Result
	driver, err := c.running(moduleID)
	if err == nil {
		res, err = c.runLocal(ctx, moduleID, req)
	}
	c.observeExec(moduleID, driver, req.Function, err, time.Since(start))
	return res, err
}

func (c *Core) runLocal(ctx context.Context, moduleID string, req call.Request) (call.Result, error) {
	c.calls.enter(moduleID, req.RequestID, req.Caller)
	defer c.calls.leave(moduleID, req.RequestID, req.Caller)
	resp, err := c.sup.Exec(ctx, &proto.ExecRequest{
		ModuleId: moduleID, Function: req.Function, ArgsJson: req.Args,
		UserId: req.Caller.UserID, RequestId: req.RequestID,
	})
	if errors.Is(err, supervisor.ErrModuleNotRunning) || errors.Is(err, supervisor.ErrDriverNotRunning) {
		// Stopped between the check above and the call: unavailable for now, not missing.
		return call.Result{}, errkind.Wrap(ErrModuleStopped, nil, "module %q stopped while it was called", moduleID)
	}
	if err != nil {
		return call.Result{}, c.callError(moduleID, req.Caller, err)
	}
	if e := resp.GetError(); e != nil {
		// Whatever its code, the failure stays the driver's: its class is what lets a caller
		// tell one 400 from another. Its words may quote a protected setting (scrub.go).
		de := &errkind.DriverError{Class: e.Class, Message: e.Message, Backtrace: e.Backtrace, Code: int(resp.Code),
			RetryAfter: errkind.RetryAfterMs(e.RetryAfterMs)}
		return call.Result{}, c.callError(moduleID, req.Caller, de)
	}
	res := call.Result{ModuleID: moduleID, Value: resp.ResultJson, Code: int(resp.Code)}
	if res.Code < 200 || res.Code > 599 {
		res.Code = 200
	}
	if len(res.Value) == 0 {
		res.Value = json.RawMessage("null")
	}
	return res, nil
}

// hosted returns nil if this node runs the module, else why not.
func (c *Core) hosted(moduleID string) error {
	_, err := c.running(moduleID)
	return err
}

// running is hosted, also returning the module's driver id when it runs here (one look at the
// module's state for the execute and its metrics).
func (c *Core) running(moduleID string) (driver string, err error) {
	c.mu.Lock()
	st := c.modules[moduleID]
	if st != nil && st.running {
		if st.config != nil {
			driver = st.config.DriverId
		}
		c.mu.Unlock()
		return driver, nil
	}
	var why error
	failed := false
	if st != nil {
		why, failed = st.err, st.startFailed || st.notBuilt
	}
	c.mu.Unlock()
	return "", c.notRunning(moduleID, why, failed)
}

// notRunning says why a module this node does not run cannot be called here: why is the error
// of its state here, if any; failed says its start failed or its driver has not built.
func (c *Core) notRunning(moduleID string, why error, failed bool) error {
	m, _ := c.cfg.Store.Model()
	mod := m.Modules[moduleID]
	if err := c.unplacedErr(moduleID); mod != nil && err != nil {
		return err
	}
	if owner, addr := c.Owner(moduleID); mod != nil && owner != c.cfg.NodeID {
		return &NotHostedError{Module: moduleID, Owner: owner, OwnerAddr: addr}
	}
	switch {
	case mod == nil && !c.Ready():
		// A node that just started (or came back) may not have replayed the model yet.
		return errkind.Wrap(ErrNodeStarting, nil, "node %q is catching up with the cluster", c.cfg.NodeID)
	case mod == nil:
		return errkind.Wrap(ErrModuleNotFound, nil, "could not find module %s", moduleID)
	case why != nil:
		// The cause is told, not wrapped: its own kind (a build's bad request, say) must not
		// decide the answer. The module is unavailable, and may be back once its driver builds.
		return c.retryNextPass(failed, errkind.Wrap(ErrModuleStopped, nil, "module %q is not running: %v", moduleID, why))
	case !mod.Running:
		return errkind.Wrap(ErrModuleStopped, nil, "module %q is stopped", moduleID)
	case c.cutOff.Load():
		// Not "starting": nothing starts here until a leader reaches this node again, and the
		// operator should look at the network between the nodes, not at the driver.
		return c.cutOffErr(moduleID)
	default:
		return errkind.Wrap(ErrModuleStopped, nil, "module %q is starting", moduleID)
	}
}

// retryNextPass tells the caller of a module whose start failed, or whose driver has not built,
// to try again when this node next tries (every Config.Resync): a bad setting or a device that
// refuses fails no sooner than that, so a client retrying every second only adds load.
func (c *Core) retryNextPass(failed bool, err error) error {
	if !failed {
		return err
	}
	return errkind.WithRetryAfter(err, c.cfg.Resync)
}

// NotHostedError names the node that does host a module, so the caller can retry there.
type NotHostedError struct {
	Module, Owner, OwnerAddr string // OwnerAddr: the owner's cluster port
}

func (e *NotHostedError) Error() string {
	return fmt.Sprintf("module %q is hosted by node %q", e.Module, e.Owner)
}

func (e *NotHostedError) Unwrap() error { return ErrNotHosted }

// Resolve maps a target to a module id. A place in a system is looked up in Redis (cached), else
// in the model the lookups are written from, which covers the moment after a Redis restart before
// the system's owner has written them again. It tells a missing system from a missing module.
func (c *Core) Resolve(ctx context.Context, t call.Target) (string, error) {
	if t.ModuleID != "" {
		return t.ModuleID, nil
	}
	if t.SystemID == "" || t.Name == "" {
		return "", ErrBadTarget
	}
	index := max(t.Index, 1)
	id, err := c.cfg.State.ResolveModule(ctx, t.SystemID, t.Name, index)
	if err == nil || !errors.Is(err, errkind.NotFound) {
		return id, err
	}
	m, _ := c.cfg.Store.Model()
	sys := m.Systems[t.SystemID]
	if sys != nil {
		if id := m.Lookup(sys)[state.LookupField(t.Name, index)]; id != "" {
			return id, nil
		}
		return "", errkind.Wrap(ErrModuleNotFound, err, "could not find module %s_%d in system %s", t.Name, index, t.SystemID)
	}
	if _, lerr := c.cfg.State.Lookup(ctx, t.SystemID); lerr == nil {
		// The owner published the system, but this node's model does not have it yet.
		return "", errkind.Wrap(ErrModuleNotFound, err, "could not find module %s_%d in system %s", t.Name, index, t.SystemID)
	}
	if !c.Ready() {
		return "", errkind.Wrap(ErrNodeStarting, nil, "node %q is catching up with the cluster", c.cfg.NodeID)
	}
	return "", errkind.Wrap(ErrSystemNotFound, err, "could not find system %s", t.SystemID)
}

// reach resolves t for caller, applying PlaceOS's protected-module rule (auth.ModuleAllowed,
// docs/protocol.md §8.3) to the module's resolved name: the name t gives when it names a place in
// a system — checked before anything is looked up, so a refusal does not tell whether such a
// module exists, as for a WebSocket bind — else the name the model gives the module id
// (custom_name, else the driver's module_name). Every execute (REST, WebSocket, driver-to-driver,
// forwarded), status read and function listing reaches its module through here, so the rule is
// the same on every route. The id is returned when known, also with a refusal.
func (c *Core) reach(ctx context.Context, t call.Target, caller auth.Caller) (string, error) {
	if t.ModuleID == "" && !auth.ModuleAllowed(t.Name, caller.Clearance) {
		return "", protected(t.Name)
	}
	id, err := c.Resolve(ctx, t)
	if err != nil {
		return "", err
	}
	if t.ModuleID != "" {
		// A module this node's model does not know (yet) has no name to protect; if it runs
		// elsewhere, its owner checks again with its own model before anything runs.
		if name := c.resolvedName(id); !auth.ModuleAllowed(name, caller.Clearance) {
			return id, protected(name)
		}
	}
	return id, nil
}

// resolvedName is the name the model gives a module in a system ("" for an unknown module).
func (c *Core) resolvedName(moduleID string) string {
	m, _ := c.cfg.Store.Model()
	if mod := m.Modules[moduleID]; mod != nil {
		return m.ResolvedName(mod)
	}
	return ""
}

func protected(name string) error {
	return errkind.Wrap(ErrAccessDenied, nil, "attempted to access protected module %s", name)
}

// functions is a module's parsed metadata; no metadata means the module never started.
func (c *Core) functions(ctx context.Context, moduleID string) (*functions, error) {
	raw, err := c.metadata(ctx, moduleID)
	if errors.Is(err, errkind.NotFound) {
		return nil, errkind.Wrap(ErrModuleNotFound, err, "could not find module %s: it has no metadata (never started?)", moduleID)
	}
	if err != nil {
		return nil, err
	}
	fs, err := c.fnCache.get(moduleID, raw)
	if err != nil {
		return nil, errkind.Wrap(ErrBadMetadata, err, "metadata of module %s", moduleID)
	}
	return fs, nil
}

// Functions lists the functions of the module t names that the caller may call, in declaration
// order (a protected module's none, to a caller who may not reach it: that is a refusal).
func (c *Core) Functions(ctx context.Context, t call.Target, caller auth.Caller) ([]call.Function, error) {
	id, err := c.reach(ctx, t, caller)
	if err != nil {
		return nil, err
	}
	fs, err := c.functions(ctx, id)
	if err != nil {
		return nil, err
	}
	return fs.visible(caller.Clearance), nil
}
