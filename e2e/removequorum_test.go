package e2e

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
)

// TestRemovalKeepsQuorum: with one node of three down, an operator removes another that is up.
// The configuration left ({leader, the down node}) had no live majority: the change never
// committed, the leader stepped down, and the cluster stayed without a leader (every module
// stopped) until the down node came back. The removal is refused now, and the way out works:
// remove the down node first, then the live one.
func TestRemovalKeepsQuorum(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(rds.URL), "rmquorum", 3, clusterModel(drv), clusterModules)
	c.WaitHealthy(3)
	leader := c.Leader()
	var down, live *enginetest.Node
	for _, n := range c.Nodes {
		switch {
		case n == leader:
		case down == nil:
			down = n
		default:
			live = n
		}
	}
	down.Kill()
	c.Eventually(30*time.Second, down.ID+" marked down", func() bool {
		ci, err := leader.Info()
		return err == nil && ci.State(down.ID) == "down"
	})
	m, err := clustertls.Load(clustertls.CAFile(c.TLSDir()), clustertls.CertFile(c.TLSDir(), leader.ID), clustertls.KeyFile(c.TLSDir(), leader.ID))
	if err != nil {
		t.Fatal(err)
	}
	operator := peer.NewClient(peer.Proof{TLS: m})
	defer operator.Close()

	err = operator.Remove(t.Context(), leader.Raft, live.ID)
	if !errors.Is(err, errkind.Conflict) || !strings.Contains(err.Error(), "majority") {
		t.Fatalf("removing %s while %s is down: got %v, want 409 conflict saying the majority would be lost", live.ID, down.ID, err)
	}
	ci, err := leader.Info()
	if err != nil || ci.Leader != leader.ID || ci.State(live.ID) != "up" {
		t.Fatalf("after the refused removal: %+v, %v; want %s leading and %s up", ci, err, leader.ID, live.ID)
	}

	// The way out: the down node first, then the live one; the leader is left alone with every module.
	if err := operator.Remove(t.Context(), leader.Raft, down.ID); err != nil {
		t.Fatalf("removing the down node %s: %v", down.ID, err)
	}
	if err := operator.Remove(t.Context(), leader.Raft, live.ID); err != nil {
		t.Fatalf("removing %s once %s is out: %v", live.ID, down.ID, err)
	}
	c.Eventually(30*time.Second, leader.ID+" alone, leading, ready, with every module", func() bool {
		ci, err := leader.Info()
		return err == nil && ci.Leader == leader.ID && ci.Ready && len(ci.Nodes) == 1 && ci.Nodes[0].Modules == clusterModules
	})
}
