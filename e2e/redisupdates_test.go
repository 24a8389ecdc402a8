package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// logicUpdates is what the testdriver's updates() tells of a logic module: its Update calls and
// the control system it runs with.
type logicUpdates struct {
	Updates       int `json:"updates"`
	ControlSystem struct {
		Settings   map[string]any `json:"settings"`
		ModuleInfo []struct {
			ID        string   `json:"id"`
			Functions []string `json:"functions"`
		} `json:"module_info"`
	} `json:"control_system"`
}

// functionsOf is what the module_info lists of module id's functions.
func (u logicUpdates) functionsOf(id string) []string {
	for _, mi := range u.ControlSystem.ModuleInfo {
		if mi.ID == id {
			return mi.Functions
		}
	}
	return nil
}

// TestRedisLossUpdatesNoLogicModule (faults 12): Redis restarted without data while the node
// hosting a system's device module cannot reach it yet, so a pass of the node hosting the
// system's logic module finds no metadata of the device module in Redis. The logic module gets
// no Update for the loss, nor for the write-back once the device's node is back: its module_info
// lists the device's functions throughout. The device's driver really changing (another driver
// with other functions) still updates it, once.
func TestRedisLossUpdatesNoLogicModule(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	proxy := newCutProxy(t, rds.Addr) // the device's node reaches Redis through it
	sim := startDisplaySim(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	display := testutil.BuildBinary(t, "./examples/drivers/display")
	c := enginetest.NewCluster(t, config(rds.URL), "redisupd", 2)
	logicNode, devNode := c.Nodes[0], c.Nodes[1]
	logicNode.Flags = []string{"--labels", "site=a"}
	devNode.Flags = []string{"--labels", "site=b", "--redis", "redis://" + proxy.ln.Addr().String() + "/0"}
	c.Start(fmt.Sprintf(`
drivers:
  - {id: drv-dev, module_name: Dev, role: device, binary: %q}
  - {id: drv-display, module_name: Display, role: device, binary: %q}
  - {id: drv-logic, module_name: Logic, role: logic, binary: %q}
modules:
  - {id: mod-dev, driver_id: drv-dev, running: true, placement: {site: b}}
  - {id: mod-logic, driver_id: drv-logic, control_system_id: sys-1, running: true, placement: {site: a}}
systems: [{id: sys-1, name: Room, modules: [mod-dev, mod-logic]}]
`, drv, display, drv), 2)

	logic := func() logicUpdates {
		t.Helper()
		r := logicNode.Do("POST", "/api/engine/v2/modules/mod-logic/exec/updates", "[]")
		var u logicUpdates
		if r.Status != 200 {
			t.Fatalf("updates(): %d %s", r.Status, r.Body)
		}
		if err := json.Unmarshal([]byte(r.Body), &u); err != nil {
			t.Fatalf("updates(): %v: %s", err, r.Body)
		}
		return u
	}
	// round changes the system's settings, which updates the logic module once, and waits until
	// it has: every pass of its node before that one is over.
	round := func(n int) logicUpdates {
		t.Helper()
		body := fmt.Sprintf(`{"id": "sys-1", "name": "Room", "modules": ["mod-dev", "mod-logic"], "settings": {"round": %d}}`, n)
		if r := logicNode.Do("PUT", "/api/engine/v2/systems/sys-1", body); r.Status != 200 {
			t.Fatalf("PUT the system: %d %s", r.Status, r.Body)
		}
		var u logicUpdates
		logicNode.Eventually(20*time.Second, fmt.Sprintf("the logic module updated to round %d", n), func() bool {
			u = logic()
			return u.ControlSystem.Settings["round"] == float64(n)
		})
		return u
	}

	var start logicUpdates
	logicNode.Eventually(30*time.Second, "the logic module's module_info with the device's functions", func() bool {
		start = logic()
		return slices.Contains(start.functionsOf("mod-dev"), "echo") && slices.Contains(start.functionsOf("mod-logic"), "echo")
	})

	// The device's node loses Redis, which comes back empty: the logic module's node writes its
	// share back, and a pass after that finds no metadata of mod-dev in Redis.
	proxy.setCut(true)
	wroteBack := strings.Count(logicNode.Logs().String(), "wrote this node's share of redis back")
	rds.Restart(t)
	logicNode.Eventually(30*time.Second, "the logic node's share written back", func() bool {
		return strings.Count(logicNode.Logs().String(), "wrote this node's share of redis back") > wroteBack
	})
	if n, err := rds.Client(t).Exists(t.Context(), "interface/mod-dev").Result(); err != nil || n != 0 {
		t.Fatalf("interface/mod-dev in Redis (%d, %v) while its node cannot reach it", n, err)
	}
	u := round(1)
	if got := u.functionsOf("mod-dev"); !slices.Contains(got, "echo") || u.Updates != start.Updates+1 {
		t.Fatalf("after the loss: %d updates (want %d, the round's), mod-dev's functions %v", u.Updates, start.Updates+1, got)
	}

	// The device's node reaches Redis again and writes mod-dev's metadata back.
	proxy.setCut(false)
	logicNode.Eventually(30*time.Second, "mod-dev's metadata written back", func() bool {
		n, err := rds.Client(t).Exists(t.Context(), "interface/mod-dev").Result()
		return err == nil && n == 1
	})
	u = round(2)
	if got := u.functionsOf("mod-dev"); !slices.Contains(got, "echo") || u.Updates != start.Updates+2 {
		t.Fatalf("after the write-back: %d updates (want %d, the rounds'), mod-dev's functions %v", u.Updates, start.Updates+2, got)
	}

	// mod-dev moves to the display driver, under the same name: the logic module hears of the
	// new functions once.
	mod := fmt.Sprintf(`{"id": "mod-dev", "driver_id": "drv-display", "custom_name": "Dev", "ip": "127.0.0.1", "port": %d,
		"running": true, "placement": {"site": "b"}}`, sim.Port())
	if r := logicNode.Do("PUT", "/api/engine/v2/modules/mod-dev", mod); r.Status != 200 {
		t.Fatalf("PUT mod-dev: %d %s", r.Status, r.Body)
	}
	logicNode.Eventually(30*time.Second, "the logic module told of the display's functions", func() bool {
		return slices.Contains(logic().functionsOf("mod-dev"), "power")
	})
	u = round(3)
	if u.Updates != start.Updates+4 {
		t.Fatalf("after the driver change: %d updates, want %d (the rounds' and the change's)", u.Updates, start.Updates+4)
	}
}
