package core

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/placement"
	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
)

// view is the membership as of one reconcile pass: the ring over the up nodes, and the rings of
// the modules whose placement constraint selects fewer of them (placement.go).
type view struct {
	epoch uint64
	ring  *placement.Ring // nil when standalone
	plan  *placement.Plan // the rings of every constraint; nil when standalone
	nodes map[string]raftfsm.Node
	// placed maps a constrained module to the ring of the up nodes its constraint allows, when
	// that is not every up node.
	placed map[string]*placement.Ring
	// unplaced maps a constrained module that no up node may host to its constraint's error.
	unplaced map[string]*placement.UnplacedError
}

// refreshView recomputes the rings from committed membership and the model's constraints and
// publishes them for the hot path.
func (c *Core) refreshView() *view {
	v := c.buildView(c.placer)
	c.noteUnplaced(c.view.Swap(v), v)
	return v
}

// buildView computes the rings of the committed membership and the model's constraints now, with
// placer's rings, without publishing them.
func (c *Core) buildView(placer *placement.Placer) *view {
	v := &view{}
	if c.cfg.Cluster != nil {
		v.epoch = c.cfg.Cluster.Epoch()
		v.nodes = map[string]raftfsm.Node{}
		var up []placement.Node
		for _, n := range c.cfg.Cluster.Nodes() {
			v.nodes[n.ID] = n
			if n.Up {
				up = append(up, placement.Node{ID: n.ID, Labels: n.Labels})
			}
		}
		m, _ := c.cfg.Store.Model()
		v.plan = placer.Plan(up)
		v.place(v.plan, m)
	}
	return v
}

// owner names the node that hosts key (a module or system id) and the address of its cluster
// port (its Raft address), where node-to-node calls go. Standalone nodes own everything; an
// unplaced module has no owner ("").
func (v *view) owner(self, key string) (string, string) {
	if v == nil || v.ring == nil {
		return self, ""
	}
	r := v.ring
	if len(v.placed)+len(v.unplaced) > 0 {
		if v.unplaced[key] != nil {
			return "", ""
		}
		if p := v.placed[key]; p != nil {
			r = p
		}
	}
	id := r.Owner(key)
	return id, v.nodes[id].RaftAddr
}

func (c *Core) owns(v *view, key string) bool {
	id, _ := v.owner(c.cfg.NodeID, key)
	return id == c.cfg.NodeID
}

// ownsSystem reports whether this node writes a system's lookup: by the ring of every up node,
// never a module's constrained one (a module may share the system's id).
func (c *Core) ownsSystem(v *view, systemID string) bool {
	return v == nil || v.ring == nil || v.ring.Owner(systemID) == c.cfg.NodeID
}

// Owner returns the node that hosts the module and the address of its cluster port.
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

// recordEvery is how often the leader checks the cluster's record in Redis: a record lost
// (FLUSHALL, a Redis restarted empty, eviction) or overwritten is back within it.
const recordEvery = 2 * time.Second

// recordTimeout bounds one check of the record, so a frozen Redis does not hold the loop.
const recordTimeout = 5 * time.Second

// keepClusterRecord keeps the members in Redis (state.ClusterKey), where a node that lost its
// Raft state finds that a cluster exists before it bootstraps another (cmd/engine): on the leader,
// from the moment it leads and every recordEvery, whatever the modules do (a start that hangs
// must not keep the record away). Followers never write it: one cut off from the leader, or
// behind, would put an older membership over a newer one.
func (c *Core) keepClusterRecord(ctx context.Context) {
	defer c.bg.Done()
	tick := time.NewTicker(recordEvery)
	defer tick.Stop()
	var kept recordKeeper
	for {
		kept.check(ctx, c)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// recordKeeper is the record this node last kept as leader (the keepClusterRecord loop's own).
type recordKeeper struct {
	rec     *state.ClusterRecord // nil: not leading
	failing bool                 // the last write failed: a Redis outage is one WARN, not one per check
	// lastForeign is when a record written after this leader's was last found, lastWarn when
	// that was last logged as two clusters (foreignRepeat, foreignWarnEvery).
	lastForeign, lastWarn time.Time
}

// check writes the record when this node leads and Redis does not hold it as this leader wrote
// it, and stops the write-back of it when this node no longer leads.
func (k *recordKeeper) check(ctx context.Context, c *Core) {
	cl := c.cfg.Cluster
	if !cl.IsLeader() {
		if k.rec != nil {
			k.rec = nil
			_, _, _ = c.cfg.State.KeepCluster(ctx, nil) // nothing to write: it cannot fail
		}
		return
	}
	var members []string
	for _, n := range cl.Nodes() {
		members = append(members, n.ID)
	}
	if len(members) == 0 {
		return // the node table is not written yet: a record without members records nothing
	}
	if k.rec == nil || !slices.Equal(k.rec.Members, members) {
		// At stays while the members do, so the record's text only changes with them.
		k.rec = &state.ClusterRecord{Members: members, Leader: c.cfg.NodeID, At: time.Now().UTC()}
	}
	rctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	replaced, written, err := c.cfg.State.KeepCluster(rctx, k.rec)
	wasFailing := k.failing
	k.failing = err != nil
	switch {
	case err != nil:
		if ctx.Err() == nil && !wasFailing {
			c.log.Warn("recording the cluster's members in redis failed; retrying every "+recordEvery.String(), "error", err)
		}
	case written && replaced == nil:
		c.log.Info("recorded the cluster's members in redis", "key", state.ClusterKey, "members", strings.Join(members, ","))
	case written:
		k.logReplaced(c, replaced)
	}
}

// logReplaced says what the leader's record replaced. A record of an earlier leader or membership
// is routine; one written after this leader's by another node means a second writer: a leader
// that has not noticed it was deposed, or a second cluster using the same Redis (a node that
// lost its disk and bootstrapped alone), whose data never agrees with this one's.
func (k *recordKeeper) logReplaced(c *Core, replaced []byte) {
	var old state.ClusterRecord
	// Not by the leader's id: a copy of this node that bootstrapped alone has it too.
	if json.Unmarshal(replaced, &old) != nil || !old.At.After(k.rec.At) {
		c.log.Debug("updated the cluster's record in redis", "key", state.ClusterKey, "was", string(replaced))
		return
	}
	// Once is a leader that had not yet noticed it was deposed (a node paused past an election
	// writes once on resuming, before Raft tells it): INFO. Again within foreignRepeat is a
	// second cluster fighting over the record every check: WARN, at most every foreignWarnEvery.
	now := time.Now()
	repeated := !k.lastForeign.IsZero() && now.Sub(k.lastForeign) < foreignRepeat
	k.lastForeign = now
	if !repeated {
		c.log.Info("another node wrote the cluster's record in redis after this leader did; rewritten (a leader that had not noticed yet it was deposed does this once)",
			"key", state.ClusterKey, "theirs", string(replaced))
		return
	}
	if now.Sub(k.lastWarn) < foreignWarnEvery {
		return
	}
	k.lastWarn = now
	c.log.Warn("another node keeps writing the cluster's record in redis after this leader: two clusters use this redis. "+
		"Stop the one a node that lost its data bootstrapped alone, empty its data directories, and start its nodes with --join naming a member of the other",
		"key", state.ClusterKey, "theirs", string(replaced), "members", strings.Join(k.rec.Members, ","))
}

// foreignRepeat is how soon a second record written after this leader's makes it two clusters
// rather than a deposed leader's one write; foreignWarnEvery how often that is said again.
const (
	foreignRepeat    = time.Minute
	foreignWarnEvery = 10 * time.Minute
)

// Ready reports whether this node has reconciled its share for the current membership epoch.
func (c *Core) Ready() bool {
	if !c.ready.Load() || c.cutOff.Load() || c.NotMember() != nil {
		return false
	}
	if c.cfg.Cluster == nil {
		return true
	}
	return c.readyEpoch.Load() == c.cfg.Cluster.Epoch()
}

// ErrNoCluster: the node runs standalone.
var ErrNoCluster = errkind.New(errkind.EntityNotFound, "this node is not part of a cluster")

// ClusterInfo is GET /api/engine/v2/cluster (docs/protocol.md §6).
type ClusterInfo struct {
	Leader string        `json:"leader"`
	Epoch  uint64        `json:"epoch"`
	Ready  bool          `json:"ready"`
	Nodes  []ClusterNode `json:"nodes"`
	// Unplaced are the running modules no up node may host (placement.go).
	Unplaced []UnplacedModule `json:"unplaced"`
}

// ClusterNode is one node of ClusterInfo. Modules counts the running modules placed on it by the
// ring this node routes with.
type ClusterNode struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"http_addr"`
	RaftAddr string `json:"raft_addr"`
	State    string `json:"state"` // up | down | removing
	Ready    bool   `json:"ready"`
	Leader   bool   `json:"leader"`
	Modules  int    `json:"modules"`
	// Labels are the node's --labels; Voter is false for a --voter=false node.
	Labels placement.Labels `json:"labels"`
	Voter  bool             `json:"voter"`
}

// Cluster describes the cluster as this node sees it: committed membership and readiness, and
// where its ring places the running modules.
func (c *Core) Cluster(context.Context) (any, error) {
	cl := c.cfg.Cluster
	if cl == nil {
		return nil, ErrNoCluster
	}
	if err := c.NotMember(); err != nil {
		return nil, err
	}
	if !cl.CaughtUp() {
		// A node that has just started holds the table of its last snapshot until it has caught
		// up: every node up and ready, itself included, for an epoch long gone. An operator
		// waiting for "ready" between the nodes of a rolling upgrade read that as ready 1-2 s
		// before the node was (the upgrade drill), and would for minutes after a long absence.
		return nil, errkind.Wrap(ErrNodeStarting, nil, "node %q is catching up with the cluster: its table is not current yet; ask again in a moment, or ask another node", c.cfg.NodeID)
	}
	leader, _ := cl.Leader()
	epoch := cl.Epoch()
	v := c.view.Load()
	if v == nil || v.epoch != epoch {
		// The pass that routes by this membership has not run yet: a node that has just caught
		// up has no ring at all until then, and would count every running module as its own.
		// Count by the membership the table below shows, without routing by it before the pass
		// (nor touching the pass's cached rings).
		v = c.buildView(placement.NewPlacer())
	}
	counts := map[string]int{}
	m, _ := c.cfg.Store.Model()
	for id, mod := range m.Modules {
		if mod.Running {
			owner, _ := v.owner(c.cfg.NodeID, id)
			counts[owner]++
		}
	}
	nodes := cl.Nodes()
	// Without a leader nothing can change: no node is marked down, no module moves.
	info := ClusterInfo{Leader: leader, Epoch: epoch, Ready: len(nodes) > 0 && leader != "", Nodes: make([]ClusterNode, 0, len(nodes)),
		Unplaced: v.unplacedModules(m)}
	for _, n := range nodes {
		cn := ClusterNode{ID: n.ID, HTTPAddr: n.HTTPAddr, RaftAddr: n.RaftAddr, State: "down",
			Ready: n.ReadyFor(epoch), Leader: n.ID == leader, Modules: counts[n.ID], Labels: n.Labels, Voter: !n.NonVoter}
		if cn.Labels == nil {
			cn.Labels = placement.Labels{}
		}
		switch {
		case n.Up && n.Removing:
			cn.State = "removing" // removed: its modules move once it has stopped them
			// Those modules run nowhere between its stop and the release that moves them (the
			// epoch, and so every node's ready, changes only then).
			info.Ready = info.Ready && cn.Modules == 0
		case n.Up:
			cn.State = "up"
			info.Ready = info.Ready && cn.Ready
		}
		info.Nodes = append(info.Nodes, cn)
	}
	return info, nil
}
