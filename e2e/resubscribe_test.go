package e2e

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// A driver's subscription by system and module name survives a Redis restart: a change written
// while the engine could not hear it (its message lost with the old connection) still reaches the
// subscriber, through the re-read the subscription manager does after every reconnect, and the
// subscription goes on delivering normal changes afterwards. (The restarted Redis has lost
// system/sys-1 too, so the reconnect refresh finds Display_1 gone and waits; the lookup the
// engine writes again brings it back and the value is read then. Without the reconnect refresh
// the watch never lets go of the module and nothing is read: the room keeps no display_power.)
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

	// A change the subscription cannot hear: while the engine is stopped, Redis restarts empty and
	// the display's power changes in it with no message published, as when the message of a
	// change is lost with the connection.
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

	// Until the room sets it again, its own display_power is gone with the old Redis (null).
	e.Eventually(60*time.Second, "room sees the display off, set while Redis restarted", roomSees("false"))
	// Nothing left over from before the restart turns it back: it stays off, and off is all the
	// room has published since.
	stays(t, 3*time.Second, "room's display_power stays false", roomSees("false"))
	e.Eventually(10*time.Second, "room's display_power published", func() bool { return len(publishedSoFar()) > 0 })
	if got := publishedSoFar(); !slices.Equal(got, []string{"false"}) {
		t.Fatalf("room published %q after the restart; want only \"false\"", got)
	}
	if st := sim.State(); !st.Power {
		t.Fatalf("the simulated display is off (%+v): only Redis should have changed", st)
	}

	// The subscription is live again: a normal change reaches the room. The display driver still
	// holds power true (the false above was written behind its back) and does not set a value it
	// holds, so it is turned off first; Redis holds false already, so that publishes nothing.
	if r := e.Do("POST", displayPower, "[false]"); r.Status != 200 || r.Body != "false" {
		t.Fatalf("power(false): %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", displayPower, "[true]"); r.Status != 200 || r.Body != "true" {
		t.Fatalf("power(true): %d %s", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "room sees display on again", roomSees("true"))
	e.Eventually(10*time.Second, "room's display_power true published", func() bool { return len(publishedSoFar()) > 1 })
	if got := publishedSoFar(); !slices.Equal(got, []string{"false", "true"}) {
		t.Fatalf("room published %q after the restart; want \"false\", then \"true\"", got)
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
