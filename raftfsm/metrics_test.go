package raftfsm

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/metrics"
)

// series is the value of one series line (name with labels) in m's exposition, -1 if absent.
func series(m *metrics.Metrics, line string) float64 {
	if v, ok := m.Value(line); ok {
		return v
	}
	return -1
}

// Each node's gauge shows its own Raft state, a leader's death counts as a leader change on the
// survivors, and the leader times the commands it applies.
func TestMetricsStateLeaderChangesApply(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	met := map[string]*metrics.Metrics{}
	c := newCluster(t, 3, func(cfg *Config) {
		mu.Lock()
		defer mu.Unlock()
		if met[cfg.NodeID] == nil {
			met[cfg.NodeID] = metrics.New()
		}
		cfg.Metrics = met[cfg.NodeID]
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.bootstrap(ctx)
	first := c.waitLeader()

	const leader, follower = `engine_raft_state{state="leader"}`, `engine_raft_state{state="follower"}`
	if v := series(met[first.id], leader); v != 1 {
		t.Fatalf("%s leads, its leader gauge is %v", first.id, v)
	}
	if v := series(met[first.id], "engine_raft_apply_duration_seconds_count"); v < 1 {
		t.Fatalf("leader timed %v applies after the joins", v)
	}
	for _, n := range c.nodes {
		if n == first {
			continue
		}
		testutil.Eventually(t, 10*time.Second, n.id+" follower gauge and one leader seen", func() bool {
			return series(met[n.id], follower) == 1 && series(met[n.id], leader) == 0 &&
				series(met[n.id], "engine_raft_leader_changes_total") >= 1
		})
	}

	c.stop(first)
	second := c.waitLeader()
	if v := series(met[second.id], leader); v != 1 {
		t.Fatalf("new leader %s: leader gauge %v", second.id, v)
	}
	for _, n := range c.running() {
		testutil.Eventually(t, 10*time.Second, n.id+" counts the second leader", func() bool {
			return series(met[n.id], "engine_raft_leader_changes_total") >= 2
		})
	}
}
