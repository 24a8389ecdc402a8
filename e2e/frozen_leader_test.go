package e2e

import (
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestWriteThroughFollowerWithFrozenLeader: a write sent to a follower while the leader is frozen
// (SIGSTOP) fails fast or succeeds through the leader the others elect: the follower gives the
// silent leader a bounded wait and then tries the next one once, so the client never hangs for
// as long as the leader stays frozen.
func TestWriteThroughFollowerWithFrozenLeader(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(redis.URL), "frozen", 3, clusterModel(drv), clusterModules)
	leader := c.Leader()
	var follower *enginetest.Node
	for _, n := range c.Nodes {
		if n != leader {
			follower = n
			break
		}
	}
	leader.Pause()
	defer leader.Resume()

	start := time.Now()
	r, err := follower.Try("PUT", "/api/engine/v2/zones/zone-frozen", `{"id": "zone-frozen", "name": "Written while the leader was frozen"}`)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the write got no answer after %s: %v", took, err)
	}
	t.Logf("write through %s with leader %s frozen: %d after %s", follower.ID, leader.ID, r.Status, took.Round(time.Millisecond))
	switch {
	case r.Status == 200 || r.Status == 201:
		// Through the new leader: every live node sees it.
		follower.Eventually(10*time.Second, "the zone on the follower", func() bool {
			return follower.Do("GET", "/api/engine/v2/zones/zone-frozen", "").Status == 200
		})
	case r.Status == 503 && r.Header.Get("Retry-After") != "":
	default:
		t.Fatalf("write with a frozen leader: %d (Retry-After %q) %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	// Bounded by the forward's wait (2 s), one election and the retry on the next leader — not
	// by how long the leader stays frozen.
	if took > 8*time.Second {
		t.Fatalf("the write took %s: a frozen leader held it", took)
	}
}
