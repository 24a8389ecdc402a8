package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// Driver channels on a real node: a message one module publishes reaches a module monitoring
// the channel; it travels on Redis as placeos/<channel>, so a driver naming an engine channel
// (engine/system, a status channel clients are bound to) reaches only placeos/engine/system; too
// large a message or a bad channel name is refused with the reason.
func TestDriverChannels(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	td := testutil.BuildBinary(t, "./internal/testdriver")
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-channels", fmt.Sprintf(`
drivers:
  - {id: drv-a, module_name: A, role: service, binary: %[1]q}
  - {id: drv-b, module_name: B, role: service, binary: %[1]q}
modules:
  - {id: mod-a, driver_id: drv-a, running: true}
  - {id: mod-b, driver_id: drv-b, running: true}
`, td), "--driver-call-rate", "20/s")
	exec := func(module, fn, args string) enginetest.Response {
		t.Helper()
		return e.Do("POST", "/api/engine/v2/modules/"+module+"/exec/"+fn, args)
	}
	rc := redis.Client(t)
	ctx := t.Context()
	subscribers := func(ch string) int64 {
		n, err := rc.PubSubNumSub(ctx, ch).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n[ch]
	}

	// mod-a monitors "presence" (its call returns once one message came); mod-b publishes.
	got := make(chan enginetest.Response, 1)
	go func() {
		// Not exec: a goroutine may not end the test.
		r, err := e.Try("POST", "/api/engine/v2/modules/mod-a/exec/monitor", `["presence", 1]`)
		if err != nil {
			r = enginetest.Response{Body: err.Error()}
		}
		got <- r
	}()
	testutil.Eventually(t, 10*time.Second, "mod-a's monitor on placeos/presence", func() bool { return subscribers("placeos/presence") == 1 })
	if r := exec("mod-b", "publish", `["presence", "room occupied"]`); r.Status != 200 {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	select {
	case r := <-got:
		if r.Status != 200 || r.Body != `["room occupied"]` {
			t.Fatalf("monitor: %d %s, want [\"room occupied\"]", r.Status, r.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the monitoring module never got the message")
	}

	// A driver naming the engine's own channel publishes on placeos/engine/system only.
	sys := rc.Subscribe(ctx, "engine/system", "placeos/engine/system")
	defer sys.Close()
	if _, err := sys.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	if _, err := sys.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if r := exec("mod-b", "publish", `["engine/system", "ready"]`); r.Status != 200 {
		t.Fatalf("publish on engine/system: %d %s", r.Status, r.Body)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := sys.ReceiveMessage(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Channel != "placeos/engine/system" {
		t.Fatalf("the driver's message arrived on %q, want placeos/engine/system", msg.Channel)
	}

	// Refusals reach the driver with the reason (the testdriver answers with the host's error).
	for _, tc := range []struct{ args, want string }{
		{fmt.Sprintf(`["big", %q]`, strings.Repeat("x", 64<<10+1)), "more than the 65536 a driver may publish"},
		{`["", "x"]`, "channel name"},
		{fmt.Sprintf(`[%q, "x"]`, strings.Repeat("c", 256)), "channel name"},
	} {
		if r := exec("mod-b", "publish", tc.args); r.Status == 200 || !strings.Contains(r.Body, tc.want) {
			t.Errorf("publish %.40s…: %d %s, want a refusal saying %q", tc.args, r.Status, r.Body, tc.want)
		}
	}
	if r := exec("mod-a", "monitor", fmt.Sprintf(`[%q, 1]`, strings.Repeat("c", 256))); r.Status == 200 || !strings.Contains(r.Body, "channel name") {
		t.Errorf("monitor with a long channel name: %d %s, want a refusal", r.Status, r.Body)
	}

	// Each publish is a driver-to-driver call: past the call rate's burst (20/s: 100) it is refused.
	for i := 0; ; i++ {
		r := exec("mod-b", "publish", `["presence", "again"]`)
		if r.Status != 200 {
			if !strings.Contains(r.Body, "calls other modules faster than its limit") {
				t.Fatalf("publish %d: %d %s, want the call rate's refusal", i, r.Status, r.Body)
			}
			break
		}
		if i == 1000 {
			t.Fatal("1000 publishes at once passed a call rate of 20/s")
		}
	}
}
