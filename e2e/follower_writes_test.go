package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// Writes through a follower start from the cluster's state, not the follower's copy, which may
// lag: a PATCH right after another acknowledged write keeps that write, and a PATCH right after a
// create finds the entity. (Before, the follower merged into its own copy and sent the whole
// entity: it undid the write it had not seen yet, every time.)
func TestFollowerPatchesKeepAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(rds.URL), "fw", 3, clusterModel(drv), clusterModules)
	c.WaitHealthy(3)
	leader := c.Leader()
	var follower *enginetest.Node
	for _, n := range c.Live() {
		if n != leader {
			follower = n
		}
	}
	for i := range 20 {
		id := fmt.Sprintf("zone-fw-%02d", i)
		if r := leader.Do("POST", "/api/engine/v2/zones", fmt.Sprintf(`{"id": %q, "name": "Z"}`, id)); r.Status != 201 && r.Status != 200 {
			t.Fatalf("create %s on the leader: %d %s", id, r.Status, r.Body)
		}
		// At once, through a follower: the create is there.
		if r := follower.Do("PATCH", "/api/engine/v2/zones/"+id, `{"description": "first"}`); r.Status != 200 {
			t.Fatalf("PATCH %s through a follower right after its create: %d %s", id, r.Status, r.Body)
		}
		if r := leader.Do("PATCH", "/api/engine/v2/zones/"+id, fmt.Sprintf(`{"settings": {"v": %d}}`, i)); r.Status != 200 {
			t.Fatalf("PATCH settings on the leader: %d %s", r.Status, r.Body)
		}
		if r := follower.Do("PATCH", "/api/engine/v2/zones/"+id, `{"name": "Renamed"}`); r.Status != 200 {
			t.Fatalf("PATCH name through a follower: %d %s", r.Status, r.Body)
		}
		var z struct {
			Name, Description string
			Settings          map[string]int
		}
		r := leader.Do("GET", "/api/engine/v2/zones/"+id, "")
		if err := json.Unmarshal([]byte(r.Body), &z); err != nil || z.Name != "Renamed" || z.Description != "first" || z.Settings["v"] != i {
			t.Fatalf("zone %s after the PATCHes: %s (want every acknowledged write kept)", id, r.Body)
		}
	}
}
