package core

import (
	"slices"
	"testing"

	"github.com/placeos-go/engine/raftfsm"
)

// TestReadinessMarking: a node reports itself ready for the membership epoch it has just
// reconciled, and only once it is a live member that has replayed its log; the leader announces
// `ready` once every up node is ready for the current epoch, once per epoch.
func TestReadinessMarking(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{epoch: 1, caughtUp: false, leader: true,
		nodes: []raftfsm.Node{{ID: "n1", HTTPAddr: "n1:80", Up: true}, {ID: "n2", HTTPAddr: "n2:80", Up: true}}}
	tc := newTestCore(t, roomModel, func(c *Config) { c.Cluster = cl })
	ctx := t.Context()
	pass := func() {
		t.Helper()
		tc.reconcile(ctx)
	}

	// Still replaying the Raft log: the model may be stale (modules deleted long ago in it), so
	// nothing is started, stopped or written, and the node is not ready.
	pass()
	if tc.Ready() || len(cl.readied) != 0 {
		t.Fatalf("ready while catching up: %v %v", tc.Ready(), cl.readied)
	}

	cl.mu.Lock()
	cl.caughtUp = true
	cl.mu.Unlock()
	pass()
	if !tc.Ready() || !slices.Equal(cl.readied, []string{"n1@1"}) {
		t.Fatalf("after a pass: ready %v, reported %v", tc.Ready(), cl.readied)
	}

	// n2 is not ready for epoch 1 yet: the leader says nothing.
	if pubs := tc.state.published(); len(pubs) != 0 {
		t.Fatalf("published %v before every node was ready", pubs)
	}
	cl.mu.Lock()
	cl.nodes[1].ReadyEpoch = 1
	cl.mu.Unlock()
	pass()
	pass() // the same epoch again: no second announcement, no second report
	if pubs := tc.state.published(); !slices.Equal(pubs, []string{"engine/system ready"}) {
		t.Fatalf("published %v", pubs)
	}
	if !slices.Equal(cl.readied, []string{"n1@1"}) {
		t.Fatalf("reported %v", cl.readied)
	}

	// Membership changes (epoch 2): not ready until this node has reconciled the new ring.
	cl.mu.Lock()
	cl.epoch = 2
	cl.nodes = append(cl.nodes, raftfsm.Node{ID: "n3", HTTPAddr: "n3:80", Up: true})
	cl.mu.Unlock()
	if tc.Ready() {
		t.Fatal("ready for an epoch it has not reconciled")
	}
	pass()
	if !tc.Ready() || cl.readied[len(cl.readied)-1] != "n1@2" {
		t.Fatalf("epoch 2: ready %v, reported %v", tc.Ready(), cl.readied)
	}
	cl.mu.Lock()
	cl.nodes[1].ReadyEpoch, cl.nodes[2].ReadyEpoch = 2, 2
	cl.mu.Unlock()
	pass()
	if pubs := tc.state.published(); len(pubs) != 2 {
		t.Fatalf("epoch 2 announced %d times in all: %v", len(pubs), pubs)
	}

	// A down node does not hold readiness back; a follower never announces.
	cl.mu.Lock()
	cl.epoch = 3
	cl.nodes[2].Up = false
	cl.leader = false
	cl.mu.Unlock()
	pass()
	if !tc.Ready() || len(tc.state.published()) != 2 {
		t.Fatalf("follower: ready %v, published %v", tc.Ready(), tc.state.published())
	}

	// A node the cluster does not count as a live member owns nothing and is never ready.
	cl.mu.Lock()
	cl.epoch = 4
	cl.nodes[0].Up = false
	cl.mu.Unlock()
	pass()
	if tc.Ready() {
		t.Fatal("ready while not a live member")
	}
}

// TestNothingRunsUntilCaughtUp: a node whose model is not current yet (replaying its log, or not
// brought up to date by a leader) starts nothing and writes no lookup — its model may hold
// modules deleted long ago — and starts what it owns on the first pass once it is current.
func TestNothingRunsUntilCaughtUp(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{epoch: 1, caughtUp: false, leader: true, nodes: []raftfsm.Node{{ID: "n1", HTTPAddr: "n1:80", Up: true}}}
	tc := newTestCore(t, roomModel, func(c *Config) { c.Cluster = cl })
	ctx := t.Context()
	tc.reconcile(ctx)
	if calls := tc.sup.take(); len(calls) != 0 {
		t.Fatalf("the supervisor was called while catching up: %q", calls)
	}
	if n := len(tc.state.lookups); n != 0 {
		t.Fatalf("%d system lookups written while catching up", n)
	}
	cl.mu.Lock()
	cl.caughtUp = true
	cl.mu.Unlock()
	tc.reconcile(ctx)
	if calls := tc.sup.take(); len(calls) != 2 {
		t.Fatalf("caught up, the pass made %q; want mod-1 and mod-2 started", calls)
	}
	if n := len(tc.state.lookups); n == 0 {
		t.Fatal("caught up, no system lookup was written")
	}
}
