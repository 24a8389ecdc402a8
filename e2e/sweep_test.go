package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// A module and a system deleted while Redis was away, by a node that then restarted before Redis
// came back, leave keys no node remembers: the leader's sweep deletes them (at the second sweep
// that finds them, announced as a deletion would be), and leaves the keys of what the model
// still has, and keys that are not the engine's.
func TestSweepDeletesLeftovers(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	e := enginetest.StartEngine(t, config(rds.URL, "--redis-sweep", "500ms"), "sweep", fmt.Sprintf(`drivers:
  - {id: drv-test, module_name: Test, role: service, binary: %q}
modules:
  - {id: mod-left, driver_id: drv-test, running: true, settings: {statuses_on_start: {power: true}}}
  - {id: mod-kept, driver_id: drv-test, running: true, settings: {statuses_on_start: {power: true}}}
systems:
  - {id: sys-left, name: Gone, modules: [mod-left]}
  - {id: sys-kept, name: Lobby, modules: [mod-kept]}
`, drv))
	rc := rds.Client(t)
	testutil.Eventually(t, 20*time.Second, "the modules' statuses and lookups in Redis", func() bool {
		return hashEquals(t, rc, "status/mod-left", map[string]string{"power": "true"}) &&
			hashEquals(t, rc, "status/mod-kept", map[string]string{"power": "true"}) &&
			hashEquals(t, rc, "system/sys-left", map[string]string{"Test/1": "mod-left"})
	})
	if err := rc.Set(t.Context(), "not-the-engines", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// Redis goes away (with its data saved), the system and module are deleted, and the node
	// restarts before Redis is back: nothing remembers the deletions.
	if err := rc.Save(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	rds.Stop()
	for _, path := range []string{"/api/engine/v2/systems/sys-left", "/api/engine/v2/modules/mod-left"} {
		if r := e.Do("DELETE", path, ""); r.Status >= 300 {
			t.Fatalf("DELETE %s with Redis down: %d %s", path, r.Status, r.Body)
		}
	}
	e.WaitLog(20*time.Second, "deleting a deleted module's keys from redis failed")
	e.Stop()
	rds.Restart(t)
	pubs := watchRedis(t, rc, "status/mod-left/*", "engine/interface-change", "lookup-change")
	e.Start()
	e.WaitReady()

	testutil.Eventually(t, 30*time.Second, "the leftovers swept", func() bool {
		n, err := rc.Exists(t.Context(), "status/mod-left", "interface/mod-left", "system/sys-left").Result()
		return err == nil && n == 0
	})
	e.WaitLog(10*time.Second, "sweep: module not in the model: what redis held of it is deleted")
	e.WaitLog(10*time.Second, "sweep: system not in the model: its lookup is deleted from redis")
	testutil.Eventually(t, 10*time.Second, "the deletions announced", func() bool {
		return pubs.has("status/mod-left/power null") && pubs.has("engine/interface-change mod-left") &&
			pubs.has("lookup-change sys-left")
	})
	if !hashEquals(t, rc, "status/mod-kept", map[string]string{"power": "true"}) ||
		!hashEquals(t, rc, "system/sys-kept", map[string]string{"Test/1": "mod-kept"}) {
		t.Fatal("the sweep touched what the model has")
	}
	if n, err := rc.Exists(t.Context(), "interface/mod-kept", "not-the-engines").Result(); err != nil || n != 2 {
		t.Fatalf("the sweep deleted mod-kept's metadata or a key that is not the engine's: %d %v", n, err)
	}
}
