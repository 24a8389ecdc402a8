package e2e

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// A driver's subscription by system and module name survives a Redis restart, and Redis ends
// true to the node that hosts the modules. While the engine is frozen, Redis restarts empty and
// the display's power is changed in it behind the engine's back (no message published: as when a
// message is lost with the connection). When the engine runs again it writes its share back: the
// display's power as its driver last set it (true, published, since Redis holds false), the room's
// own statuses, the system's lookup. The room therefore never sees the false: its display_power
// stays true, and the write-back is the only thing published for it until the next real change,
// which its subscription still delivers. (That a watch re-reads what changed while the connection
// was down, when another node wrote it, is subscriptions' TestWatchSurvivesRedisRestart.)
func TestDriverSubscriptionSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	e, rds, sim := demo(t)
	const (
		displayPower = "/api/engine/v2/systems/sys-1/Display_1/power"
		roomPower    = "/api/engine/v2/systems/sys-1/Room_1/display_power"
	)
	roomSees := func(want string) func() bool {
		return func() bool { return e.Do("GET", roomPower, "").Body == want }
	}

	// The room follows Display_1's power through its subscription.
	if r := e.Do("POST", displayPower, "[true]"); r.Status != 200 || r.Body != "true" {
		t.Fatalf("power(true): %d %s", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "room sees display on", roomSees("true"))

	e.Pause() // the harness continues it before stopping it if the test fails meanwhile
	rds.Restart(t)
	ctx := context.Background()
	rc := rds.Client(t)
	if err := rc.HSet(ctx, "status/mod-display", "power", "false").Err(); err != nil {
		t.Fatalf("HSET status/mod-display power false: %v", err)
	}
	// Every value the room publishes from now on, to see it does not flap.
	ps := rc.Subscribe(ctx, "status/mod-room/display_power")
	t.Cleanup(func() { _ = ps.Close() })
	if _, err := ps.Receive(ctx); err != nil { // subscription confirmed
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		published []string
	)
	msgs := ps.Channel()
	go func() {
		for m := range msgs {
			mu.Lock()
			published = append(published, m.Payload)
			mu.Unlock()
		}
	}()
	publishedSoFar := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(published)
	}
	e.Resume()

	// The engine puts the display's power back as its driver holds it, and the room's own value.
	e.Eventually(20*time.Second, "the display's power written back", func() bool {
		v, err := rc.HGet(ctx, "status/mod-display", "power").Result()
		return err == nil && v == "true"
	})
	e.Eventually(10*time.Second, "room's display_power written back and published", func() bool { return len(publishedSoFar()) > 0 })
	stays(t, 3*time.Second, "room's display_power stays true", roomSees("true"))
	if got := publishedSoFar(); !slices.Equal(got, []string{"true"}) {
		t.Fatalf("room published %q after the restart; want only the written-back \"true\"", got)
	}
	if st := sim.State(); !st.Power {
		t.Fatalf("the simulated display is off (%+v): only Redis should have changed", st)
	}

	// The subscription is live: a real change reaches the room.
	if r := e.Do("POST", displayPower, "[false]"); r.Status != 200 || r.Body != "false" {
		t.Fatalf("power(false): %d %s", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "room sees display off", roomSees("false"))
	e.Eventually(10*time.Second, "room's display_power false published", func() bool { return len(publishedSoFar()) > 1 })
	if got := publishedSoFar(); !slices.Equal(got, []string{"true", "false"}) {
		t.Fatalf("room published %q after the restart; want \"true\" (written back), then \"false\"", got)
	}
}

// stays fails t unless cond holds on every poll (every 50 ms) for d: the opposite of Eventually,
// for a value that must not change back.
func stays(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if !cond() {
			t.Fatalf("%s: it did not hold", what)
		}
	}
}
