package core

import (
	"context"
	"time"

	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
)

// Modules deleted from the model (docs/protocol.md §3). A module that stops keeps its status in
// Redis, as in PlaceOS; one deleted from the model has its status hash, metadata and start
// failure deleted (state.Store.ForgetModule), or every module ever deleted would leave keys
// behind and a client bound to its status would never hear it is gone.
//
// One node deletes them: the one that would host the module now if it were still in the model
// (placement's ring of the up nodes its old constraint allows, or of every up node when it had
// none or none of those is up). While its host is up that is its host, which deletes the keys in
// the same pass that stopped it, after the stop, so nothing its old instance set while stopping
// comes after the deletion; and a node that is down owns nothing, so a module whose host is down
// is still cleaned by a live node. What the old instance sets after the module left the model is
// dropped by writeStatus, on every node. A write that was checked just before the model changed
// holds its module's status gate (statusgate.go), which the pass takes (gates.forget) before the
// deletion, so it lands before it.
//
// Every node remembers the modules it saw leave (bounded), not only their owner: a node that
// stopped but is not yet marked down still owns them, and when it is marked down the node that
// takes over its share deletes them. The owner may also be a node that never saw the module
// leave: one that (re)started and was marked up between the deletion and this pass, or took a
// down host's share right after its own start. It knows nothing to delete, so a node that is not
// the owner deletes the keys itself once the deletion is forgetGrace old: by then the host's
// stop and its last status writes are long over. A deletion that fails (Redis away) is tried
// again on every pass until it succeeds. A deletion by a second node finds nothing and announces
// nothing.

const (
	// maxDeleted bounds the deleted modules a node remembers until their keys are deleted.
	maxDeleted = 10000
	// forgetGrace is how long a node that does not own a deleted module leaves its keys to the
	// owner before it deletes them itself: well past DownAfter and a pass, so the owner (the host,
	// which deletes after its stop) acts first whenever it knows of the deletion.
	forgetGrace = 30 * time.Second
	// forgetTimeout bounds one deletion: a Redis that does not answer must not hold up the pass.
	forgetTimeout = 2 * time.Second
)

// deletedModule is a module that left the model whose keys are not known to be deleted yet.
type deletedModule struct {
	since     time.Time
	placement placement.Labels // the constraint it had, which names its owner
}

// deletions is what the reconcile loop (its only user) remembers of deleted modules.
type deletions struct {
	last    *model.Model // the model of the last pass on a caught-up node; nil: none yet
	pending map[string]deletedModule
	failing bool // the last deletion failed (logged at WARN once, until one succeeds)
}

// forgetDeleted notes the modules that left the model since the last pass and deletes the keys
// of those this node owns. Call it after the pass stopped the modules that left.
// The pass runs only on a caught-up node (reconcile).
func (c *Core) forgetDeleted(ctx context.Context, m *model.Model, v *view) {
	d := &c.deleted
	c.noteDeleted(m)
	now := time.Now()
	for id, g := range d.pending {
		if m.Modules[id] != nil {
			delete(d.pending, id) // added back: its new instance starts with a clean status
			continue
		}
		if v.deletedOwner(c.cfg.NodeID, id, g.placement) != c.cfg.NodeID && now.Sub(g.since) < forgetGrace {
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, forgetTimeout)
		n, err := c.cfg.State.ForgetModule(fctx, id)
		cancel()
		if err != nil {
			if isCanceled(ctx, err) {
				return
			}
			if !d.failing {
				c.log.Warn("deleting a deleted module's keys from redis failed; retrying on every pass",
					"module", id, "waiting", len(d.pending), "error", err)
			} else {
				c.log.Debug("deleting a deleted module's keys from redis failed again", "module", id, "error", err)
			}
			d.failing = true
			return // Redis is failing: the next pass tries them all again
		}
		if d.failing {
			c.log.Info("deleting deleted modules' keys from redis works again", "module", id)
			d.failing = false
		}
		delete(d.pending, id)
		if n == 0 { // another node did it already (the owner, or ownership moved), or it never ran
			c.log.Debug("module deleted from the model: nothing of it left in redis", "module", id)
			continue
		}
		c.log.Info("module deleted from the model: its status and metadata are deleted from redis",
			"module", id, "removed", n)
	}
}

// noteDeleted adds the modules of the last pass's model that m no longer has to the pending
// deletions.
func (c *Core) noteDeleted(m *model.Model) {
	d := &c.deleted
	prev := d.last
	d.last = m
	if prev == nil || prev == m {
		return
	}
	var placements map[string]placement.Labels
	left := 0
	for id := range prev.Modules {
		if m.Modules[id] != nil {
			continue
		}
		if _, ok := d.pending[id]; ok {
			continue
		}
		if len(d.pending) >= maxDeleted {
			left++
			continue
		}
		if placements == nil {
			placements = prev.Placements()
		}
		if d.pending == nil {
			d.pending = map[string]deletedModule{}
		}
		d.pending[id] = deletedModule{since: time.Now(), placement: placements[id]}
	}
	if left > 0 {
		c.log.Warn("too many deleted modules wait for their keys to be deleted from redis: these keep theirs",
			"modules", left, "limit", maxDeleted)
	}
}

// deletedOwner names the node that deletes the keys of a module deleted from the model: the one
// that would host it now under its old constraint, else the owner under the ring of every up
// node. Standalone nodes own everything.
func (v *view) deletedOwner(self, id string, c placement.Labels) string {
	if v == nil || v.ring == nil {
		return self
	}
	if len(c) > 0 && v.plan != nil {
		if owner, err := v.plan.Owner(id, c); err == nil {
			return owner
		}
	}
	return v.ring.Owner(id)
}
