package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// A user calling a driver function that saves whatever it is given (testdriver's save, as a
// driver's "save preset <name>") cannot grow the module's settings past 256 keys or 1 MiB: the
// save past either is refused with the bound named, overwrites at the bound still work, the
// settings stay within it, the driver process keeps running and its other module answers, and
// the node logs the refusals once per module. An admin still writes larger settings through the
// management API, and the driver overwrites within them.
func TestSavedSettingsBoundedInTotal(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	td := testutil.BuildBinary(t, "./internal/testdriver")
	// mod-presets starts with 255 settings an admin wrote: one key short of the bound.
	var presets strings.Builder
	for i := range 255 {
		fmt.Fprintf(&presets, "k%03d: 1, ", i)
	}
	model := fmt.Sprintf(`
drivers:
  - {id: drv-save, module_name: Saver, role: logic, binary: %q}
modules:
  - {id: mod-presets, driver_id: drv-save, control_system_id: sys-1, running: true, settings: {%s}}
  - {id: mod-blobs, driver_id: drv-save, control_system_id: sys-1, running: true}
  - {id: mod-admin, driver_id: drv-save, control_system_id: sys-1, running: true}
systems: [{id: sys-1, name: Room, modules: [mod-presets, mod-blobs, mod-admin]}]
`, td, presets.String())
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-savedsettings", model, "--auth", "keys", "--api-keys", apiKeysFile(t))
	user, admin := enginetest.APIKey(userKey), enginetest.APIKey(adminKey)
	save := func(module, name, value string) enginetest.Response {
		t.Helper()
		return e.Do("POST", "/api/engine/v2/modules/"+module+"/exec/save", fmt.Sprintf(`[%q, %s]`, name, value), user)
	}
	settings := func(module string) string {
		t.Helper()
		r := e.Do("GET", "/api/engine/v2/modules/"+module, "", user)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", module, r.Status, r.Body)
		}
		return r.Body
	}
	e.Eventually(30*time.Second, "the modules running", func() bool {
		return e.Do("POST", "/api/engine/v2/modules/mod-admin/exec/echo", `[1]`, user).Status == 200
	})
	pidOf := func() string {
		t.Helper()
		return e.Do("POST", "/api/engine/v2/modules/mod-admin/exec/pid", `[]`, user).Body
	}
	pid := pidOf()

	// Keys: the 256th passes, the 257th is refused; an overwrite at the bound passes.
	if r := save("mod-presets", "p256", `1`); r.Status != 200 {
		t.Fatalf("the 256th key: %d %s", r.Status, r.Body)
	}
	if r := save("mod-presets", "p257", `1`); r.Status == 200 || !strings.Contains(r.Body, "256 keys") {
		t.Errorf("the 257th key: %d %s, want refused naming the 256-key bound", r.Status, r.Body)
	}
	// The same through a WebSocket, for every role: the bound is the driver's, not the caller's.
	for i, key := range []string{userKey, supportKey, adminKey} {
		if code := dialWS(t, e, key).exec(i+1, "Saver", 1, "save", `["ws_key", 1]`); code == 200 {
			t.Errorf("WebSocket save of a 257th key by key %d: %d, want refused", i, code)
		}
	}
	if r := save("mod-presets", "k000", `2`); r.Status != 200 {
		t.Errorf("overwrite at the key bound: %d %s", r.Status, r.Body)
	}
	if body := settings("mod-presets"); strings.Contains(body, "p257") || strings.Contains(body, "ws_key") || !strings.Contains(body, `"k000":2`) {
		t.Errorf("mod-presets after the refusal: %.300s…", body)
	}

	// Bytes: 60 kB values with distinct names, as the red team's flood; the 18th would pass 1 MiB.
	blob := fmt.Sprintf("%q", strings.Repeat("x", 60_000))
	n := 0
	var refused enginetest.Response
	for ; n < 30; n++ {
		if refused = save("mod-blobs", fmt.Sprintf("g%04d", n), blob); refused.Status != 200 {
			break
		}
	}
	if n != 17 || !strings.Contains(refused.Body, "1048576 bytes") {
		t.Errorf("after %d saves of 60 kB: %d %s, want the 18th refused naming the 1048576-byte bound", n, refused.Status, refused.Body)
	}
	if r := save("mod-blobs", "g9999", blob); r.Status == 200 { // refused again: not logged again
		t.Errorf("a save past the byte bound, once more: %d %s", r.Status, r.Body)
	}
	if r := save("mod-blobs", "g0003", fmt.Sprintf("%q", strings.Repeat("y", 60_000))); r.Status != 200 {
		t.Errorf("overwrite at the byte bound: %d %s", r.Status, r.Body)
	}
	if body := settings("mod-blobs"); len(body) > 1<<20+4096 {
		t.Errorf("GET mod-blobs is %d bytes, past the bound", len(body))
	}

	// An admin writes settings past the bound; the driver overwrites within them, adds nothing.
	var big strings.Builder
	for i := range 20 {
		fmt.Fprintf(&big, "%q: %s, ", fmt.Sprintf("a%02d", i), blob)
	}
	body := fmt.Sprintf(`{"id": "mod-admin", "driver_id": "drv-save", "control_system_id": "sys-1", "running": true, "settings": {%s"last": 0}}`, big.String())
	if r := e.Do("PUT", "/api/engine/v2/modules/mod-admin", body, admin); r.Status != 200 {
		t.Fatalf("admin writes 1.2 MB of settings: %d %.300s", r.Status, r.Body)
	}
	if r := save("mod-admin", "a05", `"smaller"`); r.Status != 200 {
		t.Errorf("overwrite within the admin's larger settings: %d %s", r.Status, r.Body)
	}
	if r := save("mod-admin", "new", `1`); r.Status == 200 || !strings.Contains(r.Body, "1048576 bytes") {
		t.Errorf("a new key past the admin's larger settings: %d %s, want refused", r.Status, r.Body)
	}

	// The driver process lived through it all and answers for every module.
	if got := pidOf(); got != pid {
		t.Errorf("driver process %s replaced by %s", pid, got)
	}
	for _, m := range []string{"mod-presets", "mod-blobs", "mod-admin"} {
		if r := e.Do("POST", "/api/engine/v2/modules/"+m+"/exec/echo", `[1]`, user); r.Status != 200 {
			t.Errorf("%s after the refusals: %d %s", m, r.Status, r.Body)
		}
	}
	if r := e.Do("GET", "/metrics", "", admin); !strings.Contains(r.Body, limited("drv-save", "settings_full")+" 7") {
		t.Errorf("settings_full not counted 7 times in /metrics")
	}
	if logs := e.Logs().String(); strings.Count(logs, "the module's settings are full") != 3 {
		t.Errorf("want one WARN per module refused (3), got %d", strings.Count(logs, "the module's settings are full"))
	}
}

// In a cluster, a module hosted by a follower: its saves are forwarded to the leader and land in
// the follower's model a moment later. Saves sent at once, through another node (the execute
// forwarded to the owner), still stop at the bound, on every node's model.
func TestSavedSettingsBoundedOnAFollower(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(rds.URL), "saves", 3, clusterModel(drv), clusterModules)
	place := c.WaitHealthy(3)
	leader := c.Leader()
	mod := ""
	for m, n := range place {
		if n != leader.ID {
			mod = m
			break
		}
	}
	// Through a node that does not host it: the leader when it is not the owner's.
	via := leader
	blob := fmt.Sprintf("%q", strings.Repeat("x", 60_000))
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[int]int{}
	for w := range 4 {
		wg.Go(func() {
			for i := range 6 {
				r := via.Do("POST", "/api/engine/v2/modules/"+mod+"/exec/save", fmt.Sprintf(`["w%d_%d", %s]`, w, i, blob))
				switch {
				case r.Status == 503:
					// A leader election on a loaded machine: not what is tested, and tolerated.
					t.Logf("save through %s: %d %.300s", via.ID, r.Status, r.Body)
				case r.Status != 200 && !strings.Contains(r.Body, "1048576 bytes"):
					t.Errorf("save through %s: %d %.300s", via.ID, r.Status, r.Body)
				}
				mu.Lock()
				answers[r.Status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if answers[200] > 17 || answers[503] == 0 && answers[200] != 17 {
		t.Errorf("answers to 24 saves of 60 kB: %v, want 17 saved", answers)
	}
	saved := func(n *enginetest.Node) (keys, size int) {
		body := n.Do("GET", "/api/engine/v2/modules/"+mod, "").Body
		return strings.Count(body, `"w`), len(body)
	}
	for _, n := range c.Live() {
		n.Eventually(10*time.Second, "the saves applied on "+n.ID, func() bool {
			keys, _ := saved(n)
			return keys >= answers[200]
		})
		if keys, size := saved(n); keys > 17 || size > 1<<20+4096 {
			t.Errorf("%s on %s holds %d saved keys in %d bytes, past the bound", mod, n.ID, keys, size)
		}
	}
}
