package core

import (
	"context"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/state"
)

// recordStartFailure keeps a module's start failure in Redis, so that a read of the module on
// any node shows it; build says it was not started at all, its driver not built. Every pass
// retries a failing module, but the same failure is written again only after rerecordAfter: a
// Redis that lost it has it back within that, and ten thousand modules of a driver that does not
// build do not cost ten thousand round trips a pass.
func (c *Core) recordStartFailure(ctx context.Context, moduleID string, since time.Time, err error, build bool) {
	c.recordModuleError(ctx, moduleID, state.ModuleError{At: since, Error: err.Error(), Build: build})
}

// recordUpdateRefusal keeps in Redis, like a failed start, that a running module's driver refused
// its latest settings update: a module read shows it (has_runtime_error, runtime_error) until an
// update is accepted or the module stops here. Its words begin with updateRefused, which says the
// module still runs.
func (c *Core) recordUpdateRefusal(ctx context.Context, moduleID string, since time.Time, err error) {
	c.recordModuleError(ctx, moduleID, state.ModuleError{At: since, Error: updateRefused + err.Error(), Update: true})
}

// updateRefused begins the runtime_error of a module whose settings update was refused; the
// console tells such a module (running) from one whose start fails by it.
const updateRefused = "settings update refused; the module runs on with its previous settings: "

// recordModuleError writes e, this node's, unless the same record was written less than
// rerecordAfter ago.
func (c *Core) recordModuleError(ctx context.Context, moduleID string, e state.ModuleError) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.Node = c.cfg.NodeID
	now := time.Now()
	fresh := false
	c.setModule(moduleID, func(st *moduleState) {
		fresh = st.recorded == e && now.Sub(st.recordedAt) < rerecordAfter
		st.clean = false
	})
	if fresh {
		return
	}
	// Bounded as a status write: a frozen Redis must not hold the start that failed; the record
	// is written again on a later pass (not fresh, as it was not recorded).
	wctx, cancel := context.WithTimeout(ctx, statusWriteTimeout)
	defer cancel()
	if werr := c.cfg.State.SetModuleError(wctx, moduleID, e); werr != nil {
		if !isCanceled(ctx, werr) {
			c.log.Warn("recording a module's failure failed", "module", moduleID, "error", werr)
		}
		return
	}
	c.setModule(moduleID, func(st *moduleState) { st.recorded, st.recordedAt = e, now })
}

// rerecordAfter is how often an unchanged start failure is written to Redis again.
const rerecordAfter = time.Minute

// forgetStartFailure removes the record once the module started, or left this node.
func (c *Core) forgetStartFailure(ctx context.Context, moduleID string) {
	c.setModule(moduleID, func(st *moduleState) { st.recorded = state.ModuleError{} })
	// Bounded as a status write: a frozen Redis must not hold the start that succeeded (the
	// module is not clean, so a later pass clears it again).
	ctx, cancel := context.WithTimeout(ctx, statusWriteTimeout)
	defer cancel()
	if err := c.cfg.State.ClearModuleError(ctx, moduleID); err != nil {
		if !isCanceled(ctx, err) {
			c.log.Warn("clearing a module's start failure failed", "module", moduleID, "error", err)
		}
		return
	}
	c.setModule(moduleID, func(st *moduleState) { st.clean = true })
}

// redisReadTimeout bounds how long a module read (or the answer to a module write) waits for
// Redis's runtime fields: a frozen Redis must not hold the model's reads and writes, whose
// entities are the model's whatever Redis does (the read goes on without those fields).
const redisReadTimeout = time.Second

// ModuleRuntime is what a read of each module shows beside its entity (docs/protocol.md §9.5),
// in one Redis round trip, waited for at most redisReadTimeout. A recorded failure counts only
// when it is its current owner's: one left by a node the module has since moved from (that node
// died before clearing it) is stale.
func (c *Core) ModuleRuntime(ctx context.Context, mods []*model.Module) ([]call.ModuleRuntime, error) {
	ids := make([]string, len(mods))
	for i, m := range mods {
		ids[i] = m.ID
	}
	rctx, cancel := context.WithTimeout(ctx, redisReadTimeout)
	defer cancel()
	rts, err := c.cfg.State.ModuleRuntime(rctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]call.ModuleRuntime, len(mods))
	for i, m := range mods {
		owner, _ := c.Owner(m.ID)
		// A module that should run but that no node runs (unplaced, its start failing or not
		// answered, its driver not built) is not connected, whatever its last instance left in
		// its status. Its owner knows a start in flight at once, the others once it is recorded.
		out[i] = call.ModuleRuntime{CoreNode: owner, Connected: !m.Running ||
			(owner != "" && string(rts[i].Connected) != "false" && (owner != c.cfg.NodeID || !c.starting(m.ID)))}
		if d := c.downHere(m.ID); d.state != "" && owner == c.cfg.NodeID && m.Running {
			// Known here before Redis has the record writeDowns is writing.
			at := d.at.Unix()
			out[i].Connected = out[i].Connected && d.noted()
			out[i].HasRuntimeError, out[i].ErrorTimestamp, out[i].RuntimeError = true, &at, d.text
			continue
		}
		// A restart note lapses without a write: StableAt says when (processdown.go).
		if e := rts[i].Error; e != nil && e.Node == owner && m.Running && (e.StableAt.IsZero() || time.Now().Before(e.StableAt)) {
			out[i].RuntimeError = e.Error
			if !e.Hung.IsZero() {
				out[i].RuntimeError = hungText(time.Since(e.Hung))
			}
			// One whose update was refused, that runs its driver's last good build, or whose
			// driver process runs again after restarts, runs on: its connected status stands.
			out[i].Connected = out[i].Connected && (e.Update || e.LastGood || !e.StableAt.IsZero())
			if e.Build {
				out[i].DriverNotBuilt = true
				continue
			}
			at := e.At.Unix()
			out[i].HasRuntimeError, out[i].ErrorTimestamp = true, &at
		}
	}
	return out, nil
}
