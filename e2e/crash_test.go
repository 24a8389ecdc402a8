package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

func testDriverModel(binary string) string {
	return fmt.Sprintf(`
drivers:
  - {id: drv-test, module_name: Test, role: service, binary: %q, settings: {colour: blue}}
modules:
  - {id: mod-test, driver_id: drv-test, running: true, settings: {volume: 7}}
systems:
  - {id: sys-test, name: Test, modules: [mod-test]}
`, binary)
}

// A SIGKILL during a slow call fails the call with the documented error, long before the call
// would have ended; the crash is logged, and the module answers again with the same settings.
func TestDriverKilledDuringSlowCall(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	e := startEngine(t, redis.URL, testDriverModel(drv))

	before := e.Do("POST", "/api/engine/v2/modules/mod-test/exec/settings", "[]")
	if before.Status != 200 {
		t.Fatalf("settings before: %d %s", before.Status, before.Body)
	}
	pid := e.DriverPID(drv)

	// The call sleeps a minute in the driver; the client waits longer than that.
	type answer struct {
		r   enginetest.Response
		err error
	}
	done := make(chan answer, 1)
	go func() {
		r, err := e.Request(context.Background(), "POST", "/api/engine/v2/systems/sys-test/Test_1/slow", "[60000]", 90*time.Second)
		done <- answer{r, err}
	}()
	// slow sets status busy before it sleeps: then the call is in flight in the driver.
	e.Eventually(10*time.Second, "slow call in flight", func() bool {
		return e.Do("GET", "/api/engine/v2/modules/mod-test/state/busy", "").Body == "true"
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var a answer
	e.Eventually(30*time.Second, "the call in flight to fail after the kill", func() bool {
		select {
		case a = <-done:
			return true
		default:
			return false
		}
	})
	if a.err != nil {
		t.Fatalf("call during kill: %v", a.err)
	}
	if r := a.r; r.Status != 503 || !strings.Contains(r.Body, "driver process exited") {
		t.Fatalf("call during kill: %d %s; want 503 with \"driver process exited\"", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "crash logged", func() bool {
		logs := e.Logs().String()
		return strings.Contains(logs, "[ERROR]") && strings.Contains(logs, fmt.Sprint(pid)) && strings.Contains(logs, "mod-test")
	})
	var after enginetest.Response
	e.Eventually(10*time.Second, "module answering again", func() bool {
		after = e.Do("POST", "/api/engine/v2/modules/mod-test/exec/settings", "[]")
		return after.Status == 200
	})
	if !enginetest.JSONEqual(after.Body, before.Body) {
		t.Fatalf("settings after restart = %s, before = %s", after.Body, before.Body)
	}
	if newPID := e.DriverPID(drv); newPID == pid || newPID == 0 {
		t.Fatalf("driver pid after restart = %d (was %d)", newPID, pid)
	}
}

// A driver whose process has run --driver-stable-after gets a spare process, which takes the
// module over when the process is killed; killing the engine leaves neither behind.
func TestDriverSpareTakesOver(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	e := enginetest.StartEngine(t, config(redis.URL, "--driver-stable-after=300ms"), "e2e", testDriverModel(drv))
	pid := e.DriverPID(drv)
	var spare int
	e.Eventually(20*time.Second, "a spare driver process in status/driver", func() bool {
		st, err := e.Driver(drv)
		spare = st.SparePID
		return err == nil && spare != 0 && spare != pid
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.Eventually(20*time.Second, "the module answering from the spare", func() bool {
		r := e.Do("POST", "/api/engine/v2/modules/mod-test/exec/pid", "[]")
		return r.Status == 200 && r.Body == fmt.Sprint(spare)
	})
	if got := e.DriverPID(drv); got != spare {
		t.Fatalf("driver pid after the kill = %d, want the spare %d", got, spare)
	}
	tookOver := false
	for line := range strings.Lines(e.Logs().String()) {
		tookOver = tookOver || strings.Contains(line, "driver process started:") && strings.Contains(line, fmt.Sprintf(" pid=%d ", spare)) && strings.Contains(line, "spare=true")
	}
	if !tookOver {
		t.Fatalf("no line saying the spare %d took over:\n%s", spare, e.Logs())
	}
	var next int
	e.Eventually(20*time.Second, "a new spare", func() bool {
		st, err := e.Driver(drv)
		next = st.SparePID
		return err == nil && next != 0 && next != spare
	})
	e.Kill()
	testutil.WaitGone(t, pid, spare, next)
}

// Killing the engine with SIGKILL leaves no driver behind: the drivers notice their host is gone,
// and the next start-up stops any that are still there.
func TestNoOrphansAfterEngineKilled(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	e := startEngine(t, redis.URL, testDriverModel(drv))
	pid := e.DriverPID(drv)
	e.Kill()
	testutil.WaitGone(t, pid)
}
