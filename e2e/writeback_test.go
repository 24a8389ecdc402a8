package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// notifyLog is one WebSocket session's notifies, by binding id, in arrival order.
type notifyLog struct {
	mu  sync.Mutex
	by  map[float64][]string
	err error
}

func (l *notifyLog) values(id float64) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.by[id]...)
}

// session opens a WebSocket session on e, binds each request (every one answered success) and
// then records every notify until the test ends.
func session(t *testing.T, e *enginetest.Node, binds ...string) *notifyLog {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.Base, "http")+"/api/engine/v2/systems/control", nil)
	if err != nil {
		t.Fatal(err)
	}
	log := &notifyLog{by: map[float64][]string{}}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ws.Close(); <-done })
	bound := make(chan error, len(binds))
	go func() {
		defer close(done)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				log.mu.Lock()
				log.err = err
				log.mu.Unlock()
				return
			}
			var m struct {
				ID    float64         `json:"id"`
				Type  string          `json:"type"`
				Value json.RawMessage `json:"value"`
			}
			if json.Unmarshal(data, &m) != nil {
				continue
			}
			switch m.Type {
			case "success":
				bound <- nil
			case "error":
				bound <- fmt.Errorf("bind %v: %s", m.ID, data)
			case "notify":
				log.mu.Lock()
				log.by[m.ID] = append(log.by[m.ID], string(m.Value))
				log.mu.Unlock()
			}
		}
	}()
	for _, b := range binds {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(b)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-bound:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no answer to %s", b)
		}
	}
	return log
}

// redisShare is what Redis holds of the modules and systems named.
func redisShare(ctx context.Context, rc *redis.Client, modules, systems []string) (map[string]string, error) {
	out := map[string]string{}
	for _, m := range modules {
		h, err := rc.HGetAll(ctx, "status/"+m).Result()
		if err != nil {
			return nil, err
		}
		for f, v := range h {
			out["status/"+m+" "+f] = v
		}
		meta, err := rc.Get(ctx, "interface/"+m).Result()
		if err != nil && err != redis.Nil {
			return nil, err
		}
		out["interface/"+m] = meta
	}
	for _, s := range systems {
		h, err := rc.HGetAll(ctx, "system/"+s).Result()
		if err != nil {
			return nil, err
		}
		for f, v := range h {
			out["system/"+s+" "+f] = v
		}
	}
	return out, nil
}

// Nothing is lost to a Redis restart: the node hosting the modules writes every status of every
// module back to the empty Redis, with their metadata and the system's lookup, with no execute and
// no driver change — and a value a driver set while Redis was down arrives too; executes answer
// while Redis is down. A WebSocket session bound before the restart receives that value, and sees
// no status vanish meanwhile.
func TestRedisRestartLosesNoStatus(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	sim := startDisplaySim(t)
	display := testutil.BuildBinary(t, "./examples/drivers/display")
	room := testutil.BuildBinary(t, "./examples/drivers/room")
	testDrv := testutil.BuildBinary(t, "./internal/testdriver")
	const tests, statuses = 4, 5
	var model strings.Builder
	fmt.Fprintf(&model, `drivers:
  - {id: drv-display, module_name: Display, role: device, binary: %q}
  - {id: drv-room, module_name: Room, role: logic, binary: %q}
  - {id: drv-test, module_name: Test, role: service, binary: %q}
modules:
  - {id: mod-display, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true}
  - {id: mod-room, driver_id: drv-room, control_system_id: sys-1, running: true}
`, display, room, testDrv, sim.Port())
	modules := []string{"mod-display", "mod-room"}
	for i := 1; i <= tests; i++ {
		fmt.Fprintf(&model, "  - {id: mod-t%d, driver_id: drv-test, running: true}\n", i)
		modules = append(modules, fmt.Sprintf("mod-t%d", i))
	}
	fmt.Fprintf(&model, "systems:\n  - {id: sys-1, name: Lobby, modules: [%s]}\n", strings.Join(modules, ", "))
	cfg := config(rds.URL)
	cfg.LogLevel = "debug" // the write kept for the write-back is a debug line
	e := enginetest.StartEngine(t, cfg, "e2e", model.String())
	e.Eventually(10*time.Second, "display connected", func() bool {
		return e.Do("GET", "/api/engine/v2/systems/sys-1/Display_1/connected", "").Body == "true"
	})
	if r := e.Do("POST", "/api/engine/v2/systems/sys-1/Display_1/power", "[true]"); r.Status != 200 {
		t.Fatalf("power(true): %d %s", r.Status, r.Body)
	}
	for i := 1; i <= tests; i++ {
		for j := 1; j <= statuses; j++ {
			body := fmt.Sprintf(`["s%d", {"module": %d, "n": %d}]`, j, i, j)
			if r := e.Do("POST", fmt.Sprintf("/api/engine/v2/systems/sys-1/Test_%d/set", i), body); r.Status != 200 {
				t.Fatalf("set: %d %s", r.Status, r.Body)
			}
		}
	}
	e.Eventually(10*time.Second, "room sees display on", func() bool {
		return e.Do("GET", "/api/engine/v2/systems/sys-1/Room_1/display_power", "").Body == "true"
	})
	ctx := context.Background()
	rc := rds.Client(t)
	before, err := redisShare(ctx, rc, modules, []string{"sys-1"})
	if err != nil {
		t.Fatal(err)
	}
	nstatus := 0
	for k := range before {
		if strings.HasPrefix(k, "status/") {
			nstatus++
		}
	}
	if nstatus < tests*statuses+3 || before["interface/mod-t1"] == "" || before["system/sys-1 Test/1"] != "mod-t1" {
		t.Fatalf("too little in Redis before the restart: %v", before)
	}

	const bindVolume, bindPower, bindTest = 1, 2, 3
	ws := session(t, e,
		`{"id": 1, "cmd": "bind", "sys": "sys-1", "mod": "Display", "index": 1, "name": "volume"}`,
		`{"id": 2, "cmd": "bind", "sys": "sys-1", "mod": "Display", "index": 1, "name": "power"}`,
		`{"id": 3, "cmd": "bind", "sys": "sys-1", "mod": "Test", "index": 2, "name": "s3"}`)
	e.Eventually(10*time.Second, "the bound values", func() bool {
		return len(ws.values(bindVolume)) == 1 && len(ws.values(bindPower)) == 1 && len(ws.values(bindTest)) == 1
	})

	// Redis goes away; meanwhile the display's volume changes at its front panel. The driver sets
	// it, and the node keeps it for the write-back — the driver is told it succeeded.
	rds.Stop()
	sim.SetVolume(77)
	e.Eventually(30*time.Second, "the volume kept for the write-back", func() bool {
		for _, line := range strings.Split(e.Logs().String(), "\n") {
			if strings.Contains(line, "status kept for the write-back") && strings.Contains(line, "module=mod-display") && strings.Contains(line, "status=volume") {
				return true
			}
		}
		return false
	})
	if strings.Contains(e.Logs().String(), "status not delivered to host") {
		t.Fatal("the driver logged a status it set while Redis was down as not delivered")
	}
	// Executes still reach the drivers: the node resolves them from what it cached and wrote.
	for _, path := range []string{"/api/engine/v2/systems/sys-1/Test_3/echo", "/api/engine/v2/modules/mod-t2/exec/echo"} {
		if r := e.Do("POST", path, `["while redis is down"]`); r.Status != 200 || r.Body != `["while redis is down"]` {
			t.Fatalf("execute with Redis down (%s): %d %s", path, r.Status, r.Body)
		}
	}
	want := maps.Clone(before)
	want["status/mod-display volume"] = "77"

	restarted := time.Now()
	rds.Restart(t) // empty: no persistence
	e.Eventually(20*time.Second, "every status, metadata and lookup back in Redis", func() bool {
		got, err := redisShare(ctx, rc, modules, []string{"sys-1"})
		return err == nil && maps.Equal(got, want)
	})
	t.Logf("%d statuses of %d modules, their metadata and the lookup back %s after Redis answered again",
		nstatus, len(modules), time.Since(restarted).Round(time.Millisecond))
	e.WaitLog(5*time.Second, "wrote this node's share of redis back")

	e.Eventually(10*time.Second, "the session bound before the restart receives the volume", func() bool {
		v := ws.values(bindVolume)
		return v[len(v)-1] == "77"
	})
	// The values it held stayed: nothing was announced gone and back.
	for _, id := range []float64{bindVolume, bindPower, bindTest} {
		for _, v := range ws.values(id) {
			if v == "null" {
				t.Fatalf("binding %v received null around the restart: %v", id, ws.values(id))
			}
		}
	}
	if got := ws.values(bindPower); len(got) != 1 || got[0] != "true" {
		t.Fatalf("power binding received %v; want only its first value", got)
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.err != nil {
		t.Fatalf("the session ended: %v", ws.err)
	}
}

// A driver that sets a status inside a function while Redis is frozen (it takes connections but
// answers nothing) is not held for Redis's whole retry budget: the write gives up after a second,
// the call answers, and the value reaches Redis once it answers again.
func TestFrozenRedisDoesNotHoldStatusWrites(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	e := startEngine(t, rds.URL, fmt.Sprintf(`drivers:
  - {id: drv-test, module_name: Test, role: service, binary: %q}
modules:
  - {id: mod-f, driver_id: drv-test, running: true}
`, drv))
	rds.Pause()
	t.Cleanup(rds.Resume)
	start := time.Now()
	r, err := e.Request(t.Context(), "POST", "/api/engine/v2/modules/mod-f/exec/set?timeout=8000", `["power", true]`, 10*time.Second)
	took := time.Since(start)
	if err != nil || r.Status != 200 {
		t.Fatalf("a status set while Redis is frozen: %v %d %s (after %s)", err, r.Status, r.Body, took)
	}
	t.Logf("answered in %s", took.Round(time.Millisecond))
	// A module written while Redis is frozen is written, starts and answers: the write's answer
	// waits at most a second for the module's runtime fields, and the start's status clear is
	// bounded and kept for the write-back like any status write (a dead node's modules moved
	// nowhere, and model writes took 25 s, while Redis hung).
	start = time.Now()
	if r, err := e.Request(t.Context(), "PUT", "/api/engine/v2/modules/mod-g", `{"id": "mod-g", "driver_id": "drv-test", "running": true}`, 5*time.Second); err != nil || r.Status != 200 {
		t.Fatalf("a module written while Redis is frozen: %v %+v (after %s)", err, r, time.Since(start))
	}
	e.Eventually(10*time.Second, "the module written while Redis is frozen answering", func() bool {
		r, err := e.Request(t.Context(), "POST", "/api/engine/v2/modules/mod-g/exec/echo?timeout=2000", `[1]`, 3*time.Second)
		return err == nil && r.Status == 200
	})
	t.Logf("written and answering %s after the write", time.Since(start).Round(time.Millisecond))
	rds.Resume()
	rc := rds.Client(t)
	testutil.Eventually(t, 20*time.Second, "the value written back once Redis answers", func() bool {
		return hashEquals(t, rc, "status/mod-f", map[string]string{"power": "true"})
	})
}
