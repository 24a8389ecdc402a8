package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/placement"
	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
)

// Cluster is the membership a node reconciles against (raftfsm.Store). A Core without one is a
// standalone node that owns everything.
type Cluster interface {
	Nodes() []raftfsm.Node
	Epoch() uint64
	IsLeader() bool
	Leader() (id, httpAddr string)
	SetNodeReady(ctx context.Context, id string, epoch uint64) error
	// CaughtUp is false while a restarted node replays its log: its model is not current yet.
	CaughtUp() bool
}

// Peers carries an execute to the node that hosts the module (POST
// /api/core/v1/command/{module}/execute). A peer that does not host the module answers with an
// errkind.Conflict error.
type Peers interface {
	Exec(ctx context.Context, httpAddr, moduleID, fn string, args json.RawMessage, userID, requestID string) (json.RawMessage, int, error)
}

// view is the membership as of one reconcile pass: the ring over the up nodes.
type view struct {
	epoch uint64
	ring  *placement.Ring // nil when standalone
	nodes map[string]raftfsm.Node
}

// refreshView recomputes the ring from committed membership and publishes it for the hot path.
func (c *Core) refreshView() *view {
	v := &view{}
	if c.cfg.Cluster != nil {
		v.epoch = c.cfg.Cluster.Epoch()
		v.nodes = map[string]raftfsm.Node{}
		var up []string
		for _, n := range c.cfg.Cluster.Nodes() {
			v.nodes[n.ID] = n
			if n.Up {
				up = append(up, n.ID)
			}
		}
		v.ring = placement.New(up)
	}
	c.view.Store(v)
	return v
}

// owner names the node that hosts key (a module or system id) and its HTTP address. Standalone
// nodes own everything.
func (v *view) owner(self, key string) (string, string) {
	if v == nil || v.ring == nil {
		return self, ""
	}
	id := v.ring.Owner(key)
	return id, v.nodes[id].HTTPAddr
}

func (c *Core) owns(v *view, key string) bool {
	id, _ := v.owner(c.cfg.NodeID, key)
	return id == c.cfg.NodeID
}

// Owner returns the node id and HTTP address that hosts the module.
func (c *Core) Owner(moduleID string) (string, string) {
	return c.view.Load().owner(c.cfg.NodeID, moduleID)
}

// markReady reports this node ready for the epoch it just reconciled, and, on the leader,
// announces `ready` on engine/system once every up node is ready for the current epoch.
func (c *Core) markReady(ctx context.Context, v *view) {
	cl := c.cfg.Cluster
	if cl != nil {
		if n, ok := v.nodes[c.cfg.NodeID]; !ok || !n.Up {
			return // not (yet) a live member: it owns nothing and cannot be ready
		}
	}
	c.readyEpoch.Store(v.epoch)
	if !c.ready.Swap(true) {
		c.log.Info("node ready", "epoch", v.epoch)
	}
	if cl == nil {
		if c.published.CompareAndSwap(false, true) {
			c.publishReady(ctx, v.epoch)
		}
		return
	}
	if v.nodes[c.cfg.NodeID].ReadyEpoch != v.epoch {
		if err := cl.SetNodeReady(ctx, c.cfg.NodeID, v.epoch); err != nil && !isCanceled(ctx, err) {
			c.log.Warn("reporting ready failed; retrying on the next pass", "epoch", v.epoch, "error", err)
		}
	}
	if !cl.IsLeader() {
		c.publishedEpoch.Store(0)
		return
	}
	epoch := cl.Epoch()
	for _, n := range cl.Nodes() {
		if n.Up && !n.ReadyFor(epoch) {
			return
		}
	}
	// Epochs start at 1 once a node is in the table; 0 marks "not published by this leader".
	if c.publishedEpoch.Swap(epoch) != epoch {
		c.publishReady(ctx, epoch)
	}
}

func (c *Core) publishReady(ctx context.Context, epoch uint64) {
	if err := c.cfg.State.Publish(ctx, state.ReadyChannel, []byte(state.ReadyMessage)); err != nil {
		c.log.Error("publishing ready failed", "epoch", epoch, "error", err)
		c.publishedEpoch.Store(0)
		return
	}
	c.log.Info("cluster ready", "epoch", epoch)
}

// Ready reports whether this node has reconciled its share for the current membership epoch.
func (c *Core) Ready() bool {
	if !c.ready.Load() {
		return false
	}
	if c.cfg.Cluster == nil {
		return true
	}
	return c.readyEpoch.Load() == c.cfg.Cluster.Epoch()
}

// ErrNotHosted is returned (409) by a node asked to run a module it does not host.
var ErrNotHosted = errkind.New(errkind.Conflict, "module is not hosted on this node")

// NotHostedError names the node that does host the module, so the caller can retry there.
type NotHostedError struct {
	Module, Owner, OwnerHTTP string
}

func (e *NotHostedError) Error() string {
	return fmt.Sprintf("module %q is hosted by node %q", e.Module, e.Owner)
}

func (e *NotHostedError) Unwrap() error { return ErrNotHosted }

// Exec runs fn on a module wherever it is hosted: here, or on its owner through Peers. A peer
// that says it no longer hosts the module (the ring moved) gets one retry with a fresh ring.
func (c *Core) Exec(ctx context.Context, moduleID, fn string, args json.RawMessage, userID, requestID string) (json.RawMessage, int, error) {
	for attempt := 0; ; attempt++ {
		owner, addr := c.Owner(moduleID)
		if owner == c.cfg.NodeID || c.cfg.Peers == nil {
			return c.ExecLocal(ctx, moduleID, fn, args, userID, requestID)
		}
		if addr == "" {
			return nil, 0, errkind.Wrap(errkind.Unavailable, nil, "owner %q of module %q has no HTTP address", owner, moduleID)
		}
		res, code, err := c.cfg.Peers.Exec(ctx, addr, moduleID, fn, args, userID, requestID)
		if errors.Is(err, errkind.Conflict) {
			if attempt == 0 {
				c.refreshView()
				continue
			}
			// The nodes do not agree yet on where the module lives (the ring is moving): that is
			// a short, retryable unavailability for the caller, not a conflict.
			// The cause is kept as text only: it is a Conflict, which must not reach the client.
			return nil, 0, errkind.Wrap(errkind.Unavailable, nil, "module %q is moving between nodes; retry (%v)", moduleID, err)
		}
		return res, code, err
	}
}
