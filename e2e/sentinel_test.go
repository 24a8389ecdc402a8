package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// An engine given a Sentinel URL (--redis redis://s1/0?master_name=…&addr=s2&addr=s3) rides out
// the loss of its Redis primary: the display's volume changes at the front panel every 20 ms
// (status writes through the driver, the host and Redis) while the primary is SIGKILLed; the
// sentinels promote the replica, the engine follows it, the WebSocket session bound before goes
// on receiving, executes work, and Redis ends on the last volume — nothing lost. The metrics count
// the reconnect.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	sn := testutil.StartSentinel(t)
	sim := startDisplaySim(t)
	display := testutil.BuildBinary(t, "./examples/drivers/display")
	e := startEngine(t, sn.URL, fmt.Sprintf(`
drivers:
  - {id: drv-display, module_name: Display, role: device, binary: %q}
modules:
  - {id: mod-display, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true}
systems:
  - {id: sys-1, name: Lobby, modules: [mod-display]}
`, display, sim.Port()))
	e.Eventually(10*time.Second, "display connected", func() bool {
		return e.Do("GET", "/api/engine/v2/systems/sys-1/Display_1/connected", "").Body == "true"
	})
	e.WaitLog(5*time.Second, "Redis through Sentinel")
	ws := session(t, e,
		`{"id": 1, "cmd": "bind", "sys": "sys-1", "mod": "Display", "index": 1, "name": "volume"}`,
		`{"id": 2, "cmd": "bind", "sys": "sys-1", "mod": "Display", "index": 1, "name": "power"}`)

	// Steady load: the volume moves at the front panel every 20 ms.
	var volume atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for v := 1; ; v = v%100 + 1 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sim.SetVolume(v)
			volume.Store(int64(v))
		}
	}()
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad()
	received := func() int { return len(ws.values(1)) }
	e.Eventually(10*time.Second, "volume changes reaching the session", func() bool { return received() > 10 })

	ctx := context.Background()
	old, err := sn.Primary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	sn.Server(old).Kill()
	e.Eventually(20*time.Second, "the sentinels to promote the replica", func() bool {
		p, err := sn.Primary(ctx)
		return err == nil && p != old
	})
	atPromotion := received()
	e.Eventually(20*time.Second, "the session receiving from the new primary", func() bool { return received() > atPromotion+5 })
	t.Logf("primary killed; notifies flowing again after %s", time.Since(killed).Round(time.Millisecond))

	if r := e.Do("POST", "/api/engine/v2/systems/sys-1/Display_1/power", "[true]"); r.Status != 200 {
		t.Fatalf("power(true) after the failover: %d %s", r.Status, r.Body)
	}
	stopLoad()
	last := strconv.FormatInt(volume.Load(), 10)
	rc := sn.Client(t)
	e.Eventually(20*time.Second, "Redis and the session on the last volume and on power", func() bool {
		v := ws.values(1)
		p := ws.values(2)
		vol, err1 := rc.HGet(ctx, "status/mod-display", "volume").Result()
		pow, err2 := rc.HGet(ctx, "status/mod-display", "power").Result()
		return err1 == nil && err2 == nil && vol == last && pow == "true" &&
			len(v) > 0 && v[len(v)-1] == last && len(p) > 0 && p[len(p)-1] == "true"
	})
	if n, err := rc.Exists(ctx, "system/sys-1", "interface/mod-display").Result(); err != nil || n != 2 {
		t.Fatalf("lookup and metadata on the new primary: %d of 2 (%v)", n, err)
	}
	if r := e.Do("GET", "/metrics", ""); !strings.Contains(r.Body, "engine_redis_reconnects_total 1") {
		t.Fatalf("metrics after the failover: no reconnect counted:\n%s", grepLines(r.Body, "engine_redis"))
	}
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
