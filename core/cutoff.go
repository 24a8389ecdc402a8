package core

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
)

// A node cut off from the leader — a network partition, a pause of its process — keeps running
// its modules while the others, hearing nothing from it, mark it down (raftfsm's DownAfter) and
// start its modules on other nodes: each would then run twice, two connections to one device,
// two writers of one status. It cannot tell whether they did (they might have lost their majority
// too), so once it has gone as long without a leader as they take to do it
// (Cluster.CutOffAfter), it assumes they did and stops every module it runs; it reconciles again
// once a leader has contacted it and brought it up to date, which hands it back its share of
// the ring. Contact alone is not enough: the entries in which the others moved its modules may
// still be on their way, and a pass on the old ring would start them here while they run there;
// so it asks for a barrier through the leader, and is cut off until that has been applied here.
// Checked every cutOffCheck by the reconcile loop. Config.StopWhenCutOff false keeps them
// running instead: a room that must not go dark when the majority is lost, at the price of
// modules running twice during a partition.

// cutOffCheck is how often the reconcile loop looks at the leader's contact.
const cutOffCheck = 200 * time.Millisecond

// cutOffBarrier bounds the wait of a check for the barrier that ends a cut-off; one that did not
// come back in time is asked for again at the next check.
const cutOffBarrier = 2 * time.Second

// checkCutOff stops this node's modules when it is cut off and reports whether that changed
// (the loop then runs a pass).
func (c *Core) checkCutOff(ctx context.Context) bool {
	cl := c.cfg.Cluster
	away := time.Since(cl.LeaderContact())
	cut := away > cl.CutOffAfter()
	if cut == c.cutOff.Load() {
		return false
	}
	if !cut {
		bctx, cancel := context.WithTimeout(ctx, cutOffBarrier)
		err := cl.Barrier(bctx)
		cancel()
		if err != nil {
			c.log.Debug("a leader is in contact again, but this node is not up to date yet: still cut off", "error", err)
			return false
		}
		c.cutOff.Store(false)
		c.log.Info("a leader is in contact again and this node is up to date: reconciling its share")
		return true
	}
	c.cutOff.Store(true)
	stopped := c.stopAll(ctx)
	level := hclog.Warn
	if stopped == 0 && c.NotMember() != nil {
		level = hclog.Debug // it runs nothing and has said at ERROR that it is no member: no leader will come
	}
	c.log.Log(level, "cut off from the leader for longer than the other nodes wait before moving a node's modules: stopped every module this node ran, so that none runs twice",
		"without_leader", away.Round(time.Millisecond), "stopped", stopped)
	return true
}

// cutOffErr is the answer of a cut-off node to a call of moduleID, whether the module is one it
// stopped or one its last ring gives to another node: it runs nothing and cannot tell which node
// runs the module now, until a leader reaches it. 503 (ErrCutOff) with the time without a leader.
func (c *Core) cutOffErr(moduleID string) error {
	return errkind.Wrap(ErrCutOff, nil, "module %q cannot be called on node %q: the node has had no contact with a leader for %s, so it stopped its modules (so that none runs on two nodes) and cannot tell which node runs this one; it can once a leader reaches it",
		moduleID, c.cfg.NodeID, time.Since(c.cfg.Cluster.LeaderContact()).Round(time.Second))
}
