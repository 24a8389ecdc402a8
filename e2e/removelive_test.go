package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/peer"
)

// TestRemovingALiveNodeRunsNoModuleTwice: an operator removes a node that is up and runs displays
// (deploy/README "Removing a node for good"). The others used to start its modules the moment it
// was removed, while it ran them on for the two seconds it took to notice: two connections to
// each of its displays. Its entry is now held (GET /cluster says "removing") until it has stopped
// them, and each display has one connection throughout.
func TestRemovingALiveNodeRunsNoModuleTwice(t *testing.T) {
	t.Parallel()
	handsOverOnce(t, "rmlive", func(c *enginetest.Cluster, leader, gone *enginetest.Node) {
		m, err := clustertls.Load(clustertls.CAFile(c.TLSDir()), clustertls.CertFile(c.TLSDir(), leader.ID), clustertls.KeyFile(c.TLSDir(), leader.ID))
		if err != nil {
			t.Fatal(err)
		}
		operator := peer.NewClient(peer.Proof{TLS: m})
		defer operator.Close()
		if err := operator.Remove(t.Context(), leader.Raft, gone.ID); err != nil {
			t.Fatalf("removing %s: %v", gone.ID, err)
		}
		// While it stops its displays, the cluster lists it as removing, not up.
		var ci enginetest.ClusterInfo
		if err := leader.GetJSON("/api/engine/v2/cluster", &ci); err != nil {
			t.Fatal(err)
		}
		for _, n := range ci.Nodes {
			if n.ID == gone.ID && n.State != "removing" {
				t.Errorf("GET /cluster right after the removal lists %s as %q", gone.ID, n.State)
			}
		}
		leader.WaitLog(30*time.Second, "removed node released")
	})
}

// TestLeavingNodeRunsNoModuleTwice: a node stopped with SIGTERM leaves the cluster (every rolling
// upgrade does it). It committed its leave before its shutdown stopped its modules, and the others
// started them meanwhile: two connections to a display for a few milliseconds (the newcomer's
// drill, 3 times in 4). It stops them first now.
func TestLeavingNodeRunsNoModuleTwice(t *testing.T) {
	t.Parallel()
	handsOverOnce(t, "leave", func(_ *enginetest.Cluster, _, gone *enginetest.Node) {
		gone.Stop()
	})
}

// handsOverOnce runs six displays on a 3-node cluster, lets goes take a follower that runs some of
// them out of the cluster, and checks that its displays are then driven from the other nodes, one
// connection each, never two at once on any display.
func handsOverOnce(t *testing.T, prefix string, goes func(c *enginetest.Cluster, leader, gone *enginetest.Node)) {
	c, sims, place := displaysCluster(t, prefix)
	leader := c.Leader()
	// The node that goes: a follower that runs displays (the leader cannot be removed by another).
	gone, its := runningDisplays(t, c, place, false)
	old := firstConns(sims, its)
	mostAtOnce := watchConnections(t, sims)

	goes(c, leader, gone)
	c.Eventually(30*time.Second, "its displays connected from the other nodes, once each", func() bool {
		for _, mod := range its {
			if established(t, old[mod]) || controlling(t, sims[mod].Conns()) != 1 {
				return false
			}
		}
		return true
	})
	for _, mod := range its {
		if !strings.Contains(gone.Logs().String(), "module="+mod) {
			t.Fatalf("%s never ran %s", gone.ID, mod)
		}
	}
	for mod, n := range mostAtOnce() {
		if n > 1 {
			t.Errorf("%s had %d connections at once (the node that went ran %v)", mod, n, its)
		}
	}
}
