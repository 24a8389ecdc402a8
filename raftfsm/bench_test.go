package raftfsm

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// BenchmarkLeaderFailover kills the leader of a 3-node loopback cluster (Close, no leave) and
// measures the time until a survivor leads with its Barrier done; the killed node is restarted
// from its data dir before the next round. Run: go test -run x -bench LeaderFailover -benchtime 9x
// ./raftfsm. It reports the median and the worst round.
func BenchmarkLeaderFailover(b *testing.B) {
	ctx := context.Background()
	c := newCluster(b, 3, nil)
	c.bootstrap(ctx)
	var rounds []time.Duration
	for b.Loop() {
		b.StopTimer()
		old := c.waitLeader()
		// Let the restarted node catch up, so that every round starts from a healthy cluster.
		testutil.Eventually(b, 10*time.Second, "all nodes up", func() bool {
			nodes := old.s().Nodes()
			return len(nodes) == 3 && nodes[0].Up && nodes[1].Up && nodes[2].Up
		})
		b.StartTimer()
		start := time.Now()
		c.stop(old)
		c.waitLeader()
		rounds = append(rounds, time.Since(start))
		b.StopTimer()
		c.start(old)
		b.StartTimer()
	}
	slices.Sort(rounds)
	b.ReportMetric(float64(rounds[len(rounds)/2].Milliseconds()), "ms-median")
	b.ReportMetric(float64(rounds[len(rounds)-1].Milliseconds()), "ms-max")
}
