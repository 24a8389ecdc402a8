package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// A driver binary that hangs at launch (it never prints go-plugin's handshake line, as the fault
// report's `sleep 3600`) holds its node once, for the 10 s launch bound, not a minute on every
// reconcile pass: the node becomes ready, a module added afterwards on another driver starts at
// once, and the hung module reads the reason.
func TestHungDriverLaunchDoesNotStallNode(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	hang := filepath.Join(t.TempDir(), "td-hangstart")
	testutil.WriteFile(t, hang, "#!/bin/sh\nexec sleep 3600\n")
	if err := os.Chmod(hang, 0o755); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	e := startEngine(t, redis.URL, fmt.Sprintf(`
drivers:
  - {id: drv-test, module_name: Test, role: service, binary: %q}
  - {id: drv-hang, module_name: Hang, role: service, binary: %q}
modules:
  - {id: mod-hang, driver_id: drv-hang, running: true}
  - {id: mod-test, driver_id: drv-test, running: true}
`, drv, hang))
	// The first pass waits for the launch bound (10 s) once; before, a minute, on every pass.
	ready := time.Since(began) // with the engine's build and start; the pass's wait is in the reason below

	var m struct {
		HasRuntimeError bool   `json:"has_runtime_error"`
		RuntimeError    string `json:"runtime_error"`
	}
	const reason = "the driver did not complete go-plugin's handshake within 10s"
	e.Eventually(10*time.Second, "the hung module's reason", func() bool {
		r := e.Do("GET", "/api/engine/v2/modules/mod-hang", "")
		return json.Unmarshal([]byte(r.Body), &m) == nil && m.HasRuntimeError && strings.Contains(m.RuntimeError, reason)
	})
	if r := e.Do("POST", "/api/engine/v2/modules/mod-hang/exec/settings", "[]"); r.Status != 503 || !strings.Contains(r.Body, reason) {
		t.Fatalf("a call to the hung module: %d %s, want 503 with the reason", r.Status, r.Body)
	}

	// Later passes do not wait for the hung driver's retries.
	if r := e.Do("PUT", "/api/engine/v2/modules/mod-test-2", `{"id": "mod-test-2", "driver_id": "drv-test", "running": true}`); r.Status != 200 {
		t.Fatalf("PUT module: %d %s", r.Status, r.Body)
	}
	added := time.Now()
	e.Eventually(30*time.Second, "the added module answering", func() bool {
		return e.Do("POST", "/api/engine/v2/modules/mod-test-2/exec/settings", "[]").Status == 200
	})
	took := time.Since(added)
	if took > 5*time.Second {
		t.Fatalf("a module added beside the hung driver started after %s", took)
	}
	t.Logf("ready after %s (engine build and start included); the added module answered after %s", ready.Round(time.Millisecond), took.Round(time.Millisecond))
}
