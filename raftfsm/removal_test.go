package raftfsm

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// TestRemovalHoldInTheFSM: a hold revokes the node's certificates and marks its entry Removing,
// keeping it up (its modules stay placed on it, the epoch does not move); the release drops it,
// but not once the node has joined again; an older node's plain removal still drops at once.
func TestRemovalHoldInTheFSM(t *testing.T) {
	t.Parallel()
	f := NewFSM(nil)
	for _, id := range []string{"n1", "n2"} {
		if err := applyCmd(f, nodeUpsertCommand(Member{ID: id, RaftAddr: "a-" + id, HTTPAddr: "h", Cert: "c-" + id})); err != nil {
			t.Fatal(err)
		}
	}
	epoch := f.Epoch()
	if err := applyCmd(f, nodeHoldCommand("n2")); err != nil {
		t.Fatal(err)
	}
	n2, ok := f.Node("n2")
	if !ok || !n2.Removing || !n2.Up || f.Epoch() != epoch {
		t.Fatalf("held: %+v %t, epoch %d (was %d)", n2, ok, f.Epoch(), epoch)
	}
	if _, revoked := f.Revoked("c-n2"); !revoked {
		t.Fatal("the hold did not revoke the certificate")
	}

	// It joins again (a new certificate) before the release: the release leaves it.
	if err := applyCmd(f, nodeUpsertCommand(Member{ID: "n2", RaftAddr: "a-n2", HTTPAddr: "h", Cert: "c-n2-new"})); err != nil {
		t.Fatal(err)
	}
	if err := applyCmd(f, nodeReleaseCommand("n2")); err != nil {
		t.Fatal(err)
	}
	if n2, ok := f.Node("n2"); !ok || n2.Removing {
		t.Fatalf("a node that joined again, after the release: %+v %t", n2, ok)
	}

	// Held and released: gone, and the set of up nodes changed.
	for _, cmd := range [][]byte{nodeHoldCommand("n2"), nodeReleaseCommand("n2")} {
		if err := applyCmd(f, cmd); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := f.Node("n2"); ok || f.Epoch() == epoch {
		t.Fatalf("released: still there %t, epoch %d", ok, f.Epoch())
	}

	// An older node reads the hold as the removal it knows (unknown fields are ignored).
	if err := applyCmd(f, []byte(`{"v":1,"op":"node_remove","data":{"id":"n1","revoke":true}}`)); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Node("n1"); ok {
		t.Fatal("a plain removal kept the node")
	}
}

// TestRemovalOfALiveNodeWaitsForItsCutOff: an operator's removal of a node that is up takes it out
// of the Raft configuration and revokes it at once, but its entry stays, up and marked Removing,
// until it has been out of the leader's reach for longer than a node cut off waits before it stops
// its modules; then it goes.
func TestRemovalOfALiveNodeWaitsForItsCutOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, withCerts)
	c.bootstrap(ctx)
	leader := c.waitLeader()
	gone := c.followers()[0]
	testutil.Eventually(t, 10*time.Second, gone.id+" up with its certificate recorded", func() bool {
		e, ok := nodeState(leader.s(), gone.id)
		return ok && e.Up && slices.Equal(e.Certs, []string{certOf(gone.id)})
	})
	if err := leader.s().RemoveNode(ctx, gone.id); err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	servers, err := leader.s().Servers()
	if err != nil || slices.ContainsFunc(servers, func(s Server) bool { return s.ID == gone.id }) {
		t.Fatalf("still in the Raft configuration: %v %v", servers, err)
	}
	if !leader.s().Revoked(certOf(gone.id)) {
		t.Fatal("not revoked at once")
	}
	if n, ok := nodeState(leader.s(), gone.id); !ok || !n.Removing || !n.Up {
		t.Fatalf("its entry right after the removal: %+v %t", n, ok)
	}
	testutil.Eventually(t, 15*time.Second, "the entry released", func() bool {
		_, ok := nodeState(leader.s(), gone.id)
		return !ok
	})
	// A lower bound only: load can make the release later, never sooner.
	if held := time.Since(removed); held < leader.s().CutOffAfter() {
		t.Fatalf("released %s after the removal, before a node cut off stops its modules (%s)", held, leader.s().CutOffAfter())
	}
}
