package core

import (
	"context"
	"time"
)

// The sweep (docs/protocol.md §3): what Redis holds of modules and systems the model no longer
// has. Deletions normally clean up after themselves (forget.go, reconcileLookups), but only while
// a node that saw the deletion stays up until Redis takes it: a cluster restarted in between, or
// a system deleted while its owner restarted, leaves keys nobody remembers. Every Config.SweepEvery
// the leader (a standalone node: itself) lists the ids Redis holds keys of and deletes those the
// model has not had at two sweeps in a row, as a deletion would (ForgetModule, DeleteLookup). Two,
// because a module created just after the pass read the model may have written its first status
// before the scan; by the next sweep it is in every caught-up model.

const (
	// sweepTimeout bounds one sweep's scan and deletions: a Redis that does not answer must not
	// hold up the reconcile loop.
	sweepTimeout = 30 * time.Second
	// maxSweepDeletes bounds the deletions of one sweep; the rest wait for the next.
	maxSweepDeletes = 1000
)

// sweep is what the reconcile loop (its only user) remembers between sweeps.
type sweep struct {
	// suspects are the ids the model did not have at the last sweep ("m/" or "s/" + id).
	suspects map[string]bool
}

// sweepRedis deletes the keys of modules and systems that were missing from the model at this
// sweep and at the last one. Only the leader of a caught-up node sweeps; a node that is not
// forgets its suspects, which may be old when it becomes leader again.
func (c *Core) sweepRedis(ctx context.Context) {
	sw := &c.swept
	if cl := c.cfg.Cluster; cl != nil && (!cl.IsLeader() || !cl.CaughtUp()) {
		sw.suspects = nil
		return
	}
	ctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	defer cancel()
	mods, syss, err := c.cfg.State.KeyedIDs(ctx)
	if err != nil {
		if !isCanceled(ctx, err) {
			c.log.Warn("sweeping redis for keys of deleted modules and systems failed; trying at the next sweep",
				"error", err, "next", c.cfg.SweepEvery)
		}
		return
	}
	m, _ := c.cfg.Store.Model() // after the scan: anything the scan found that is new is in it
	prev := sw.suspects
	sw.suspects = map[string]bool{}
	// suspect notes an id the model lacks and says whether it lacked it at the last sweep too.
	suspect := func(key string) bool {
		sw.suspects[key] = true
		return prev[key]
	}
	var gone, goneSys []string
	for _, id := range mods {
		if m.Modules[id] == nil && suspect("m/"+id) {
			gone = append(gone, id)
		}
	}
	for _, id := range syss {
		if m.Systems[id] == nil && suspect("s/"+id) {
			goneSys = append(goneSys, id)
		}
	}
	removed := 0
	for _, id := range gone {
		if removed == maxSweepDeletes {
			break
		}
		if _, err := c.cfg.State.ForgetModule(ctx, id); err != nil {
			c.log.Warn("sweep: deleting a deleted module's keys failed; trying at the next sweep", "module", id, "error", err)
			return
		}
		removed++
		c.log.Info("sweep: module not in the model: what redis held of it is deleted", "module", id)
	}
	for _, id := range goneSys {
		if removed == maxSweepDeletes {
			break
		}
		if err := c.cfg.State.DeleteLookup(ctx, id); err != nil {
			c.log.Warn("sweep: deleting a deleted system's lookup failed; trying at the next sweep", "system", id, "error", err)
			return
		}
		removed++
		c.log.Info("sweep: system not in the model: its lookup is deleted from redis", "system", id)
	}
}
