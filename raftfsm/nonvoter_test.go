package raftfsm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/placement"
)

// TestNonVoter: a node joined as a non-voter replicates the model and is recorded with its labels;
// losing it changes neither the leader nor the term; it cannot bootstrap; restarted as a voter it
// is promoted, and as a non-voter again demoted, by its own entry keeping current.
func TestNonVoter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	siteB := placement.Labels{"site": "b"}
	voter := map[string]bool{"node4": false}
	c := newCluster(t, 4, func(cfg *Config) {
		if v, ok := voter[cfg.NodeID]; ok {
			cfg.NonVoter, cfg.Labels = !v, siteB
		}
	})
	for _, n := range c.nodes {
		c.start(n)
	}
	n1, n4 := c.nodes[0], c.nodes[3]
	if err := n4.s().Bootstrap(ctx); err == nil || !errors.Is(err, ErrConfig) {
		t.Fatalf("a non-voter bootstrapped: %v", err)
	}
	if err := n1.s().Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitLeader(n1)
	for _, n := range c.nodes[1:3] {
		c.join(ctx, n1.s(), Member{ID: n.id, RaftAddr: n.raftAddr, HTTPAddr: n.httpAddr})
	}
	c.join(ctx, n1.s(), Member{ID: n4.id, RaftAddr: n4.raftAddr, HTTPAddr: n4.httpAddr, Labels: siteB, NonVoter: true})
	// Labels a node could not have been started with are refused, before Raft hears of them.
	bad := Member{ID: "node9", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2", Labels: placement.Labels{"si te": "b"}}
	if err := c.nodes[1].s().Join(ctx, bad); !errors.Is(err, errkind.BadRequest) || !strings.Contains(err.Error(), `label key "si te"`) {
		t.Fatalf("join with a bad label: %v", err)
	}
	suffrage := func(id string) (voter, found bool) {
		for _, srv := range configuration(t, n1.s()) {
			if srv.ID == id {
				return srv.Voter, true
			}
		}
		return false, false
	}
	if v, ok := suffrage("node4"); !ok || v {
		t.Fatalf("node4 in the configuration %v, voter %v", ok, v)
	}
	// A busy machine may hold up a heartbeat long enough for an election while the voters join:
	// the write is retried, as a client would.
	testutil.Eventually(t, 10*time.Second, "the model written", func() bool { return n1.s().Apply(ctx, parse(t, testModel)) == nil })
	waitModule(t, c.nodes, "mod-a", true)
	for _, n := range c.nodes {
		if e, ok := nodeState(n.s(), "node4"); !ok || !e.NonVoter || e.Labels.String() != "site=b" {
			t.Fatalf("%s's node table: node4 = %+v", n.id, e)
		}
	}

	// Losing the non-voter: marked down, the same leader in the same term.
	leader := c.waitLeader()
	term := leader.s().Term()
	c.stop(n4)
	testutil.Eventually(t, 10*time.Second, "node4 marked down", func() bool { e, _ := nodeState(leader.s(), "node4"); return !e.Up })
	if l := c.waitLeader(); l != leader || leader.s().Term() != term {
		t.Fatalf("leader %s term %d after losing the non-voter, was %s term %d", l.id, l.s().Term(), leader.id, term)
	}

	// Back as a voter, it promotes itself; back as a non-voter, it is demoted again.
	for _, v := range []bool{true, false} {
		voter["node4"] = v
		c.start(n4)
		testutil.Eventually(t, 10*time.Second, "node4's vote follows its flag", func() bool {
			got, ok := suffrage("node4")
			e, _ := nodeState(n1.s(), "node4")
			return ok && got == v && e.NonVoter == !v && e.Up
		})
		c.stop(n4)
	}
}
