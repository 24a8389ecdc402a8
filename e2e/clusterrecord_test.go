package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestClusterRecordWhileAStartHangs: the cluster's record in Redis follows its membership even
// while a module's start hangs: the leader writes it apart from readiness and the passes, so a
// node that joined is recorded at once, not when the hang ends.
func TestClusterRecordWhileAStartHangs(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(rds.URL), "hung", 1, fmt.Sprintf(`
drivers: [{id: drv-test, module_name: Test, role: service, binary: %q}]
modules: [{id: mod-a, driver_id: drv-test, running: true}]
`, drv), 1)
	first := c.Nodes[0]
	putModule(t, first, `{"id": "mod-hang", "driver_id": "drv-test", "running": true, "settings": {"hang_start_ms": 600000}}`)
	c.Join()

	rc := rds.Client(t)
	testutil.Eventually(t, 20*time.Second, "both nodes recorded in Redis", func() bool {
		var rec struct{ Members []string }
		b, err := rc.Get(t.Context(), "engine/cluster").Bytes()
		return err == nil && json.Unmarshal(b, &rec) == nil && slices.Equal(rec.Members, []string{"hung-1", "hung-2"})
	})
	info, err := first.Info()
	t.Logf("recorded while the cluster reads ready=%v (%v)", info.Ready, err)
}
