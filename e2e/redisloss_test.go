package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// Redis emptied by FLUSHALL while every connection stays up (faults9 F6): within the marker check
// period (5 s) each node writes its share back, so a status read through the other node finds the
// value again, and an execute forwarded through it — which, having never resolved the module, must
// read its metadata and the lookup from Redis — reaches the driver instead of answering 503 "not
// running yet".
func TestRedisFlushedWhileConnected(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(rds.URL), "flush", 2, clusterModel(drv), clusterModules)
	placed, err := c.Placement()
	if err != nil {
		t.Fatal(err)
	}
	// A module one node hosts, and the other node, which has not yet resolved it.
	var owner, other *enginetest.Node
	var index int
	for i := 1; i <= clusterModules && owner == nil; i++ {
		if host := placed[fmt.Sprintf("mod-%02d", i)]; host != "" {
			owner, index = c.Node(host), i
		}
	}
	if owner == nil {
		t.Fatalf("no module placed: %v", placed)
	}
	for _, n := range c.Nodes {
		if n != owner {
			other = n
		}
	}
	base := fmt.Sprintf("/api/engine/v2/systems/sys-1/Test_%d", index)
	if r := owner.Do(http.MethodPost, base+"/set", `["mark", "before"]`); r.Status != http.StatusOK {
		t.Fatalf("set: %d %s", r.Status, r.Body)
	}
	other.Eventually(10*time.Second, "the status readable through the other node", func() bool {
		return other.Do(http.MethodGet, base+"/mark", "").Body == `"before"`
	})

	rc := rds.Client(t)
	if err := rc.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	other.Eventually(20*time.Second, "the status back and a forwarded execute answered", func() bool {
		if other.Do(http.MethodGet, base+"/mark", "").Body != `"before"` {
			return false
		}
		r := other.Do(http.MethodPost, base+"/echo", `["after the flush"]`)
		return r.Status == http.StatusOK && r.Body == `["after the flush"]`
	})
	t.Logf("status and forwarded execute back %s after FLUSHALL", time.Since(flushed).Round(time.Millisecond))
	for _, n := range c.Nodes {
		n.WaitLog(10*time.Second, "redis lost data while connected")
		if strings.Contains(n.Logs().String(), "redis pub/sub connection lost") {
			t.Fatalf("%s's pub/sub connection dropped: this test is about a loss without a reconnect", n.ID)
		}
	}
}
