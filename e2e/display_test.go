package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// startDisplaySim starts a simulated display on a free loopback port, closed when the test ends.
func startDisplaySim(t *testing.T) *displaysim.Sim {
	t.Helper()
	sim, err := displaysim.New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// demo runs the display and room example drivers against a simulated display.
func demo(t *testing.T) (*enginetest.Node, *testutil.Redis, *displaysim.Sim) {
	t.Helper()
	redis := testutil.StartRedis(t)
	sim := startDisplaySim(t)
	display := testutil.BuildBinary(t, "./examples/drivers/display")
	room := testutil.BuildBinary(t, "./examples/drivers/room")
	e := startEngine(t, redis.URL, fmt.Sprintf(`
drivers:
  - {id: drv-display, module_name: Display, role: device, binary: %q}
  - {id: drv-room, module_name: Room, role: logic, binary: %q}
modules:
  - {id: mod-display, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true, notes: lobby screen}
  - {id: mod-room, driver_id: drv-room, control_system_id: sys-1, running: true}
systems:
  - {id: sys-1, name: Lobby, modules: [mod-display, mod-room]}
`, display, room, sim.Port()))
	e.Eventually(10*time.Second, "display connected", func() bool {
		return e.Do("GET", "/api/engine/v2/systems/sys-1/Display_1/connected", "").Body == "true"
	})
	return e, redis, sim
}

// Execute through REST reaches the device; the status lands in Redis and is published; the room
// driver's call into Display_1 works and its subscription follows Display_1's power.
func TestExecuteStatusAndRoomLogic(t *testing.T) {
	t.Parallel()
	e, rds, sim := demo(t)
	ctx := context.Background()
	rc := rds.Client(t)
	ps := rc.Subscribe(ctx, "status/mod-display/power")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // subscription confirmed
		t.Fatal(err)
	}

	r := e.Do("POST", "/api/engine/v2/systems/sys-1/Display_1/power", "[true]")
	if r.Status != 200 || r.Body != "true" {
		t.Fatalf("power(true): %d %s", r.Status, r.Body)
	}
	if r.Header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID on the response")
	}
	if !sim.State().Power {
		t.Error("the simulated display is not on")
	}
	if v, err := rc.HGet(ctx, "status/mod-display", "power").Result(); err != nil || v != "true" {
		t.Fatalf("HGET status/mod-display power = %q, %v", v, err)
	}
	published := ps.Channel()
	var msg *redis.Message
	e.Eventually(10*time.Second, "the power change published", func() bool {
		select {
		case msg = <-published:
			return true
		default:
			return false
		}
	})
	if msg.Payload != "true" {
		t.Fatalf("published power change = %v", msg)
	}

	// Named arguments, a default, and the state routes.
	if r := e.Do("POST", "/api/engine/v2/modules/mod-display/exec/volume", "{}"); r.Status != 200 {
		t.Fatalf("volume(): %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/engine/v2/systems/sys-1/Display_1/volume", ""); r.Body != "50" {
		t.Fatalf("volume after the default = %s", r.Body)
	}
	if r := e.Do("GET", "/api/engine/v2/systems/sys-1/Display_1", ""); !strings.Contains(r.Body, `"power":"true"`) {
		t.Fatalf("state = %s", r.Body)
	}
	if r := e.Do("GET", "/api/engine/v2/systems/sys-1/types", ""); !enginetest.JSONEqual(r.Body, `{"Display":1,"Room":1}`) {
		t.Fatalf("types = %s", r.Body)
	}
	if meta, err := rc.Get(ctx, "interface/mod-display").Result(); err != nil || !strings.Contains(meta, `"notes":"lobby screen"`) {
		t.Fatalf("interface/mod-display = %s, %v", meta, err)
	}

	// The room calls Display_1 through the host, and follows its power by subscription.
	e.Eventually(10*time.Second, "room sees display on", func() bool {
		return e.Do("GET", "/api/engine/v2/systems/sys-1/Room_1/display_power", "").Body == "true"
	})
	if r := e.Do("POST", "/api/engine/v2/systems/sys-1/Room_1/power", `{"state": false}`); r.Status != 200 {
		t.Fatalf("room power(false): %d %s", r.Status, r.Body)
	}
	if sim.State().Power {
		t.Error("the room's call did not turn the display off")
	}
	e.Eventually(10*time.Second, "room sees display off", func() bool {
		return e.Do("GET", "/api/engine/v2/systems/sys-1/Room_1/display_power", "").Body == "false"
	})
	// A change made at the device itself travels the same way.
	sim.SetPower(true)
	if r := e.Do("POST", "/api/engine/v2/systems/sys-1/Display_1/power", "[true]"); r.Status != 200 {
		t.Fatalf("power(true): %d %s", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "room sees display on again", func() bool {
		return e.Do("GET", "/api/engine/v2/systems/sys-1/Room_1/display_power", "").Body == "true"
	})
}

// Bad input gets the documented status and body, and the driver process stays up.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e, _, _ := demo(t)
	display := testutil.BuildBinary(t, "./examples/drivers/display")
	pid := e.DriverPID(display)
	big := `["` + strings.Repeat("x", 9<<20) + `"]`
	tests := []struct {
		name, method, path, body string
		status                   int
		kind                     string
	}{
		{"unknown system", "POST", "/api/engine/v2/systems/sys-nope/Display_1/power", "[true]", 404, "system_not_found"},
		{"unknown module", "POST", "/api/engine/v2/systems/sys-1/Camera_1/power", "[true]", 404, "module_not_found"},
		{"unknown module id", "POST", "/api/engine/v2/modules/mod-nope/exec/power", "[true]", 404, "module_not_found"},
		{"unknown function", "POST", "/api/engine/v2/systems/sys-1/Display_1/explode", "[]", 400, "bad_request"},
		{"too many arguments", "POST", "/api/engine/v2/systems/sys-1/Display_1/power", "[true, 1]", 400, "bad_request"},
		{"missing argument", "POST", "/api/engine/v2/systems/sys-1/Display_1/power", "[]", 400, "bad_request"},
		{"wrong type", "POST", "/api/engine/v2/systems/sys-1/Display_1/power", `["yes"]`, 400, "bad_request"},
		{"wrong named type", "POST", "/api/engine/v2/systems/sys-1/Display_1/volume", `{"level": "loud"}`, 400, "bad_request"},
		{"out of range", "POST", "/api/engine/v2/systems/sys-1/Display_1/volume", `[101]`, 400, "bad_request"},
		{"malformed JSON", "POST", "/api/engine/v2/systems/sys-1/Display_1/power", `[tru`, 400, "parse_error"},
		{"body not array or object", "POST", "/api/engine/v2/systems/sys-1/Display_1/power", `true`, 400, "bad_request"},
		{"oversized body", "POST", "/api/engine/v2/systems/sys-1/Display_1/switch_to", big, 413, "bad_request"},
	}
	for _, tt := range tests {
		r := e.Do(tt.method, tt.path, tt.body)
		if r.Status != tt.status || !strings.Contains(r.Body, `"error":"`+tt.kind+`"`) || !strings.Contains(r.Body, `"message":"`) {
			t.Errorf("%s: %d %s; want %d with error %q and a message", tt.name, r.Status, r.Body, tt.status, tt.kind)
		}
	}
	// Names in the error body say what was asked for.
	if r := e.Do("POST", "/api/engine/v2/systems/sys-1/Camera_2/power", "[]"); !strings.Contains(r.Body, `"sys_id":"sys-1"`) ||
		!strings.Contains(r.Body, `"module_name":"Camera"`) || !strings.Contains(r.Body, `"index":2`) {
		t.Errorf("error body does not name the module: %s", r.Body)
	}
	if got := e.DriverPID(display); got != pid {
		t.Fatalf("driver pid changed from %d to %d: bad input must not crash it", pid, got)
	}
	if r := e.Do("POST", "/api/engine/v2/systems/sys-1/Display_1/power", "[true]"); r.Status != 200 {
		t.Fatalf("driver no longer answers after bad input: %d %s", r.Status, r.Body)
	}
}

// A Redis that restarts empty is made whole again: lookups and metadata are rewritten, so
// executes by system and name work again, and new status changes land and publish.
func TestRedisRestartRecovers(t *testing.T) {
	t.Parallel()
	e, redis, _ := demo(t)
	if r := e.Do("POST", "/api/engine/v2/systems/sys-1/Display_1/power", "[true]"); r.Status != 200 {
		t.Fatalf("power before the restart: %d %s", r.Status, r.Body)
	}
	redis.Restart(t) // no persistence: everything is gone
	e.Eventually(20*time.Second, "execute by system name after the Redis restart", func() bool {
		r, err := e.Try("POST", "/api/engine/v2/systems/sys-1/Display_1/power", "[false]")
		return err == nil && r.Status == 200
	})
	// The execute may answer before the node's connection is back (from its cache and share):
	// the status it set is kept, and written with the share once the connection returns.
	e.Eventually(20*time.Second, "power status after the restart", func() bool {
		r, err := e.Try("GET", "/api/engine/v2/systems/sys-1/Display_1/power", "")
		return err == nil && r.Body == "false"
	})
	if r := e.Do("GET", "/api/engine/v2/systems/sys-1/functions/Display_1", ""); r.Status != 200 || !strings.Contains(r.Body, "switch_to") {
		t.Fatalf("function listing after the restart: %d %s", r.Status, r.Body)
	}
}
