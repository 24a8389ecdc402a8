package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

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

// A SIGKILL during a slow call fails the call at once with the documented error, the crash is
// logged, and the module answers again with the same settings.
func TestDriverKilledDuringSlowCall(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	e := startEngine(t, redis.URL, testDriverModel(drv), t.TempDir())

	before := e.do("POST", "/api/engine/v2/modules/mod-test/exec/settings", "[]")
	if before.status != 200 {
		t.Fatalf("settings before: %d %s", before.status, before.body)
	}
	pid := e.driverPID(drv)

	done := make(chan response, 1)
	go func() { done <- e.do("POST", "/api/engine/v2/systems/sys-test/Test_1/slow", "[20000]") }()
	// slow sets status busy before it sleeps: then the call is in flight in the driver.
	e.waitFor(10*time.Second, "slow call in flight", func() bool {
		return e.do("GET", "/api/engine/v2/modules/mod-test/state/busy", "").body == "true"
	})
	killedAt := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var r response
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the call in flight did not fail within 10s of the kill")
	}
	if took := time.Since(killedAt); took > 3*time.Second {
		t.Errorf("call failed %s after the kill; want at once", took)
	}
	if r.status != 503 || !strings.Contains(r.body, "driver process exited") {
		t.Fatalf("call during kill: %d %s; want 503 with \"driver process exited\"", r.status, r.body)
	}
	e.waitFor(10*time.Second, "crash logged", func() bool {
		logs := e.logs.String()
		return strings.Contains(logs, "[ERROR]") && strings.Contains(logs, fmt.Sprint(pid)) && strings.Contains(logs, "mod-test")
	})
	var after response
	e.waitFor(10*time.Second, "module answering again", func() bool {
		after = e.do("POST", "/api/engine/v2/modules/mod-test/exec/settings", "[]")
		return after.status == 200
	})
	if !jsonEqual(t, after.body, before.body) {
		t.Fatalf("settings after restart = %s, before = %s", after.body, before.body)
	}
	if newPID := e.driverPID(drv); newPID == pid || newPID == 0 {
		t.Fatalf("driver pid after restart = %d (was %d)", newPID, pid)
	}
}

// Killing the engine with SIGKILL leaves no driver behind: the drivers notice their host is gone,
// and the next start-up stops any that are still there.
func TestNoOrphansAfterEngineKilled(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	dataDir := t.TempDir()
	e := startEngine(t, redis.URL, testDriverModel(drv), dataDir)
	pid := e.driverPID(drv)
	if err := e.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-e.done
	testutil.WaitGone(t, pid)
}
