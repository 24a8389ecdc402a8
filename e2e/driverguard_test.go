package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// A hostile driver (its own binary, so its own process) whose function an ordinary user calls,
// on a real node: naming a display module of another driver as the caller of its host calls, it
// can neither save a setting into it (a Raft write) nor forge its status; its own saves are
// bounded in size and rate, and a status with invalid UTF-8 is refused.
func TestHostileDriverStaysInItsModules(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	td := testutil.BuildBinary(t, "./internal/testdriver")
	data, err := os.ReadFile(td)
	if err != nil {
		t.Fatal(err)
	}
	hostile := filepath.Join(t.TempDir(), "hostile_internal_testdriver")
	if err := os.WriteFile(hostile, data, 0o755); err != nil {
		t.Fatal(err)
	}
	model := fmt.Sprintf(`
drivers:
  - {id: drv-display, module_name: Display, role: device, binary: %q}
  - {id: drv-evil, module_name: Evil, role: logic, binary: %q}
modules:
  - {id: mod-display, driver_id: drv-display, running: true, settings: {statuses_on_start: {power: "on"}}}
  - {id: mod-evil, driver_id: drv-evil, control_system_id: sys-1, running: true}
systems: [{id: sys-1, name: Room, modules: [mod-display, mod-evil]}]
`, td, hostile)
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-driverguard", model, "--auth", "keys", "--api-keys", apiKeysFile(t))
	user := enginetest.APIKey(userKey)
	exec := func(fn, args string) enginetest.Response {
		t.Helper()
		return e.Do("POST", "/api/engine/v2/modules/mod-evil/exec/"+fn, args, user)
	}
	e.Eventually(20*time.Second, "the display's power status", func() bool {
		return e.Do("GET", "/api/engine/v2/modules/mod-display/state/power", "", user).Body == `"on"`
	})

	for _, c := range []struct{ fn, args string }{
		{"save", `["injected", {"x": 1}]`},
		{"set", `["power", "forged"]`},
	} {
		r := exec("as", fmt.Sprintf(`["mod-display", %q, %s]`, c.fn, c.args))
		if r.Status == 200 || !strings.Contains(r.Body, "PermissionDenied") || !strings.Contains(r.Body, "does not host") {
			t.Errorf("%s as the display: %d %s, want refused", c.fn, r.Status, r.Body)
		}
	}
	// Whoever calls the hostile function, and whichever way: the host refuses the same.
	for i, key := range []string{userKey, supportKey, adminKey} {
		args := `["mod-display", "save", ["injected", {"by": "ws"}]]`
		if code := dialWS(t, e, key).exec(i+1, "Evil", 1, "as", args); code == 200 {
			t.Errorf("WebSocket exec by key %d saved into the display", i)
		}
		if r := e.Do("POST", "/api/engine/v2/systems/sys-1/Evil_1/as", args, enginetest.APIKey(key)); r.Status == 200 {
			t.Errorf("REST exec by key %d saved into the display: %s", i, r.Body)
		}
	}
	if r := e.Do("GET", "/api/engine/v2/modules/mod-display", "", enginetest.APIKey(adminKey)); strings.Contains(r.Body, "injected") {
		t.Errorf("the display's settings were written by another driver: %s", r.Body)
	}
	if r := e.Do("GET", "/api/engine/v2/modules/mod-display/state/power", "", user); r.Body != `"on"` {
		t.Errorf("the display's power after a forged write: %d %s", r.Status, r.Body)
	}

	// Its own settings: bounded in size.
	if r := exec("save", `["volume", 70]`); r.Status != 200 {
		t.Fatalf("own save: %d %s", r.Status, r.Body)
	}
	if r := exec("save", fmt.Sprintf(`["big", %q]`, strings.Repeat("x", 100_000))); r.Status == 200 || !strings.Contains(r.Body, "65536") {
		t.Errorf("a 100 kB setting: %d %s, want refused naming the 65536-byte bound", r.Status, r.Body)
	}
	// And in rate: 10/s with bursts of 50.
	var refused enginetest.Response
	for i := range 100 {
		if refused = exec("save", fmt.Sprintf(`["volume", %d]`, i)); refused.Status != 200 {
			if i < 40 {
				t.Fatalf("saves refused after %d: %d %s", i, refused.Status, refused.Body)
			}
			break
		}
	}
	if refused.Status == 200 || !strings.Contains(refused.Body, "saves settings faster than its limit of 10/s") {
		t.Errorf("100 saves in a row: the last answered %d %s, want refused by the rate", refused.Status, refused.Body)
	}
	if r := e.Do("GET", "/metrics", "", enginetest.APIKey(adminKey)); !strings.Contains(r.Body, limited("drv-evil", "saves_refused")+" ") {
		t.Errorf("no saves_refused in /metrics")
	}

	// A status with invalid UTF-8 never reaches Redis.
	r := e.Do("POST", "/api/engine/v2/modules/mod-evil/exec/set", "[\"st\", \"x\xffy\"]", user)
	if r.Status == 200 {
		t.Errorf("status with invalid UTF-8: %d %s, want refused", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/engine/v2/modules/mod-evil/state/st", "", user); r.Body != "null" {
		t.Errorf("invalid UTF-8 status stored: %s", r.Body)
	}
}
