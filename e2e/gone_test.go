package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// goneLog is the line a node logs when it deleted a deleted module's keys.
const goneLog = "module deleted from the model: its status and metadata are deleted from redis"

// keysGone reports whether Redis holds neither the status nor the metadata of module.
func keysGone(t *testing.T, rc *redis.Client, module string) bool {
	t.Helper()
	n, err := rc.Exists(t.Context(), "status/"+module, "interface/"+module).Result()
	return err == nil && n == 0
}

// hashEquals reports whether Redis holds exactly want at key.
func hashEquals(t *testing.T, rc *redis.Client, key string, want map[string]string) bool {
	t.Helper()
	got, err := rc.HGetAll(t.Context(), key).Result()
	return err == nil && maps.Equal(got, want)
}

// publishedLog records what a raw Redis client (any other PlaceOS service) receives on patterns.
type publishedLog struct {
	mu   sync.Mutex
	msgs []string // "channel payload"
}

func (p *publishedLog) has(line string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.msgs, line)
}

func (p *publishedLog) count(line string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.msgs {
		if m == line {
			n++
		}
	}
	return n
}

func watchRedis(t *testing.T, rc *redis.Client, patterns ...string) *publishedLog {
	t.Helper()
	ps := rc.PSubscribe(t.Context(), patterns...)
	for range patterns {
		if _, err := ps.Receive(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	log := &publishedLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel(redis.WithChannelSize(10000)) {
			log.mu.Lock()
			log.msgs = append(log.msgs, m.Channel+" "+m.Payload)
			log.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = ps.Close(); <-done })
	return log
}

// A module deleted from the model leaves nothing in Redis: its host stops it, then deletes its
// status (null on each field's channel: a driver subscribed to it by module id hears it) and its
// metadata (announced). A WebSocket session bound to it through its system heard null when it
// left the system, and hears nothing after. Added back, it starts clean. With Redis down, the
// deletion is tried again on a later pass until Redis is back.
func TestDeletedModuleLeavesNothing(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	e := startEngine(t, rds.URL, fmt.Sprintf(`drivers:
  - {id: drv-test, module_name: Test, role: service, binary: %q}
modules:
  - {id: mod-gone, driver_id: drv-test, running: true, settings: {statuses_on_start: {power: true, input: "hdmi"}}}
  - {id: mod-kept, driver_id: drv-test, running: true, settings: {statuses_on_start: {power: true}}}
  - {id: mod-watch, driver_id: drv-test, running: true}
systems:
  - {id: sys-1, name: Lobby, modules: [mod-gone]}
`, drv))
	rc := rds.Client(t)
	testutil.Eventually(t, 20*time.Second, "the modules' statuses in Redis", func() bool {
		return hashEquals(t, rc, "status/mod-gone", map[string]string{"power": "true", "input": `"hdmi"`}) &&
			hashEquals(t, rc, "status/mod-kept", map[string]string{"power": "true"})
	})
	ws := session(t, e, `{"id": 1, "cmd": "bind", "sys": "sys-1", "mod": "Test", "index": 1, "name": "power"}`)
	e.Eventually(10*time.Second, "the bound value", func() bool { return slices.Equal(ws.values(1), []string{"true"}) })
	// mod-watch subscribes to mod-gone's power by module id, as a driver watching a module does.
	watched := make(chan string, 1)
	go func() {
		r, err := e.Request(context.Background(), "POST", "/api/engine/v2/modules/mod-watch/exec/subscribe",
			`["mod-gone", "power", 2]`, 30*time.Second)
		watched <- fmt.Sprint(r.Status, " ", r.Body, err)
	}()
	e.Eventually(10*time.Second, "mod-watch's subscription open", func() bool {
		return metricValue(t, e, `engine_driver_subscriptions{driver="drv-test"}`) == 1
	})
	pubs := watchRedis(t, rc, "status/mod-gone/*", "engine/interface-change")

	// Out of its system first (a module a system names cannot be deleted), then out of the model.
	if r := e.Do("PUT", "/api/engine/v2/systems/sys-1", `{"id": "sys-1", "name": "Lobby", "modules": []}`); r.Status != 200 {
		t.Fatalf("PUT system: %d %s", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "null on the WebSocket when the module left its system", func() bool {
		return slices.Equal(ws.values(1), []string{"true", "null"})
	})
	if r := e.Do("DELETE", "/api/engine/v2/modules/mod-gone", ""); r.Status >= 300 {
		t.Fatalf("DELETE module: %d %s", r.Status, r.Body)
	}
	testutil.Eventually(t, 20*time.Second, "mod-gone's keys deleted", func() bool { return keysGone(t, rc, "mod-gone") })
	testutil.Eventually(t, 10*time.Second, "null on each status channel and interface-change", func() bool {
		return pubs.has("status/mod-gone/power null") && pubs.has("status/mod-gone/input null") &&
			pubs.has("engine/interface-change mod-gone")
	})
	select {
	case got := <-watched:
		if got != "200 [true,null]<nil>" {
			t.Fatalf("mod-watch's subscription answered %s, want 200 [true,null]", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("mod-watch's subscription never heard the module's status deleted")
	}
	e.WaitLog(10*time.Second, goneLog)
	if !hashEquals(t, rc, "status/mod-kept", map[string]string{"power": "true"}) {
		t.Fatal("another module's status changed")
	}
	if got := ws.values(1); !slices.Equal(got, []string{"true", "null"}) {
		t.Fatalf("the WebSocket binding got %q after the deletion", got)
	}
	if r := e.Do("GET", "/api/engine/v2/modules/mod-gone/state", ""); r.Status != 404 || !strings.Contains(r.Body, "module_not_found") {
		t.Fatalf("the deleted module's state: %d %s", r.Status, r.Body)
	}

	// Added back with other statuses: none of the old ones come back with it.
	if r := e.Do("PUT", "/api/engine/v2/modules/mod-gone",
		`{"id": "mod-gone", "driver_id": "drv-test", "running": true, "settings": {"statuses_on_start": {"power": false}}}`); r.Status != 200 {
		t.Fatalf("PUT module: %d %s", r.Status, r.Body)
	}
	testutil.Eventually(t, 20*time.Second, "the module back, with only its new status", func() bool {
		return hashEquals(t, rc, "status/mod-gone", map[string]string{"power": "false"})
	})

	// Redis is down while mod-kept is deleted: the deletion fails, and a later pass makes it once
	// Redis is back. Redis comes back with its data (saved to disk before it stopped), so the
	// keys are there to delete again: only the retry deletes them.
	if err := rc.Save(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	rds.Stop()
	if r := e.Do("DELETE", "/api/engine/v2/modules/mod-kept", ""); r.Status >= 300 {
		t.Fatalf("DELETE module with Redis down: %d %s", r.Status, r.Body)
	}
	e.WaitLog(20*time.Second, "deleting a deleted module's keys from redis failed")
	rds.Restart(t)
	testutil.Eventually(t, 30*time.Second, "mod-kept's keys deleted once Redis is back", func() bool {
		return keysGone(t, rc, "mod-kept")
	})
	e.WaitLog(10*time.Second, "deleting deleted modules' keys from redis works again")
	if n := deletedIn(e.Logs().String(), "mod-kept"); n != 1 {
		t.Fatalf("mod-kept's keys deleted %d times after Redis came back, want 1", n)
	}
}

// In a cluster the keys of a deleted module are deleted once, by one live node: the module's host
// when it is up; a live node when its host died first (killed, not yet marked down when the
// module is deleted).
func TestDeletedModuleLeavesNothingInACluster(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	const modules = 12
	var model strings.Builder
	fmt.Fprintf(&model, "drivers: [{id: drv-test, module_name: Test, role: service, binary: %q}]\nmodules:\n", drv)
	for i := 1; i <= modules; i++ {
		fmt.Fprintf(&model, "  - {id: mod-%d, driver_id: drv-test, running: true, settings: {statuses_on_start: {power: true}}}\n", i)
	}
	c := enginetest.StartCluster(t, config(rds.URL), "gone", 3, model.String(), modules)
	place := c.WaitHealthy(3)
	rc := rds.Client(t)
	testutil.Eventually(t, 20*time.Second, "every module's status in Redis", func() bool {
		for i := 1; i <= modules; i++ {
			if !hashEquals(t, rc, fmt.Sprintf("status/mod-%d", i), map[string]string{"power": "true"}) {
				return false
			}
		}
		return true
	})
	leader := c.Leader()
	// Two modules hosted on followers (stopping a follower keeps the cluster's leader): one is
	// deleted while its host is up, the other after its host stopped.
	var onFollowers []string
	for _, id := range slices.Sorted(maps.Keys(place)) {
		if place[id] != leader.ID {
			onFollowers = append(onFollowers, id)
		}
	}
	if len(onFollowers) < 2 {
		t.Fatalf("the ring gave the followers fewer than two of %d modules: %v", modules, place)
	}
	up, stopped := onFollowers[0], onFollowers[1]
	host, stoppedHost := place[up], place[stopped]
	pubs := watchRedis(t, rc, "status/"+up+"/*", "engine/interface-change")

	if r := leader.Do("DELETE", "/api/engine/v2/modules/"+up, ""); r.Status >= 300 {
		t.Fatalf("DELETE %s: %d %s", up, r.Status, r.Body)
	}
	testutil.Eventually(t, 20*time.Second, up+"'s keys deleted", func() bool { return keysGone(t, rc, up) })
	c.Node(host).WaitLog(10*time.Second, goneLog)

	// Killed, as when its machine dies: the others still count it up (and as the owner of what
	// it hosted) until the leader marks it down.
	drivers := c.Node(stoppedHost).Kill()
	if r := leader.Do("DELETE", "/api/engine/v2/modules/"+stopped, ""); r.Status >= 300 {
		t.Fatalf("DELETE %s: %d %s", stopped, r.Status, r.Body)
	}
	testutil.Eventually(t, 30*time.Second, stopped+"'s keys deleted", func() bool { return keysGone(t, rc, stopped) })
	deleter := ""
	c.Eventually(10*time.Second, "a live node logs the deletion of "+stopped, func() bool {
		for _, n := range c.Live() {
			if deletedIn(n.Logs().String(), stopped) > 0 {
				deleter = n.ID
				return true
			}
		}
		return false
	})
	if deleter == stoppedHost {
		t.Fatalf("%s, which was killed, deleted the keys", stoppedHost)
	}
	testutil.WaitGone(t, drivers...)
	// Every node logs what it deleted once, and the stop moved the owners of both modules: a
	// second deletion of either would show here (one that finds nothing publishes nothing and
	// logs at DEBUG).
	count := map[string]int{}
	for _, n := range c.Nodes {
		for _, id := range []string{up, stopped} {
			count[id] += deletedIn(n.Logs().String(), id)
		}
	}
	if count[up] != 1 || count[stopped] != 1 {
		t.Fatalf("deletions logged: %v, want one of each", count)
	}
	if n := pubs.count("engine/interface-change " + up); n != 1 {
		t.Fatalf("interface-change of %s published %d times, want 1", up, n)
	}
	if n := pubs.count("status/" + up + "/power null"); n != 1 {
		t.Fatalf("null on status/%s/power published %d times, want 1", up, n)
	}
}

// deletedIn counts the lines of a node's log saying it deleted module's keys.
func deletedIn(log, module string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, goneLog) && strings.Contains(line, "module="+module+" ") {
			n++
		}
	}
	return n
}

// A device driver sets connected=false as its module stops: for a module deleted from the model
// that write is dropped (the module is in the model no more), so it cannot make the keys again
// whether it comes before their deletion or after.
func TestDeletedModuleStoppingWriteDropped(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	sim := startDisplaySim(t)
	display := testutil.BuildBinary(t, "./examples/drivers/display")
	e := startEngine(t, rds.URL, fmt.Sprintf(`drivers:
  - {id: drv-display, module_name: Display, role: device, binary: %q}
modules:
  - {id: mod-display, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true}
`, display, sim.Port()))
	rc := rds.Client(t)
	testutil.Eventually(t, 20*time.Second, "the display connected", func() bool {
		v, err := rc.HGet(t.Context(), "status/mod-display", "connected").Result()
		return err == nil && v == "true"
	})
	if r := e.Do("DELETE", "/api/engine/v2/modules/mod-display", ""); r.Status >= 300 {
		t.Fatalf("DELETE module: %d %s", r.Status, r.Body)
	}
	e.WaitLog(20*time.Second, goneLog)
	e.WaitLog(20*time.Second, "status write of a module deleted from the model dropped")
	if !keysGone(t, rc, "mod-display") {
		t.Fatal("the stopping driver's write made the deleted module's keys again")
	}
}
