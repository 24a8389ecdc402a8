package core

import (
	"context"

	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/state"
)

// recordLastGood keeps in Redis, for each module this node runs on the last good build of its
// driver because the driver's latest build failed, that it does (has_runtime_error, and a
// runtime_error naming the commit that failed and the one running), so that a read of it on any
// node says so rather than looking healthy; and forgets it once the module runs a build that did
// not fail. A refused settings update, recorded in the same place, goes first: it says that the
// module runs on too, and it is cleared once an update is taken, when this pass records again. So
// does a record that the module's driver process is down or restarted (processdown.go), which
// writeDowns keeps and clears.
func (c *Core) recordLastGood(ctx context.Context, m *model.Model, want map[string]desired) {
	for id, w := range want {
		mod := m.Modules[id]
		if w.err != nil || mod == nil {
			continue
		}
		var note *state.ModuleError
		c.mu.Lock()
		st := c.modules[id]
		// A module whose operation is still in flight is looked at again by the pass its end asks for.
		skip := st == nil || st.op != nil || !st.running || st.binary != w.binary || !st.refusedAt.IsZero() ||
			st.downFor().state != ""
		// Anything Redis may still hold of a module that runs here, not refused, is stale: such a
		// note, or one whose clearing failed (clean stays false until a clear succeeds).
		stale := st != nil && !st.clean
		if b := c.builds[mod.DriverID]; !skip && b != nil && !b.running && b.failure != nil && b.fallback == w.binary {
			note = &state.ModuleError{At: b.failure.At, Error: b.failure.lastGoodNote(), LastGood: true}
		}
		c.mu.Unlock()
		switch {
		case skip:
		case note != nil:
			c.recordModuleError(ctx, id, *note) // written again only when it changed or after rerecordAfter
		case stale:
			c.forgetStartFailure(ctx, id)
		}
	}
}
