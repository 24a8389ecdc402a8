package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// moduleRead is what these tests read of GET /api/engine/v2/modules/{id}.
type moduleRead struct {
	Running         bool   `json:"running"`
	Connected       bool   `json:"connected"`
	HasRuntimeError bool   `json:"has_runtime_error"`
	ErrorTimestamp  *int64 `json:"error_timestamp"`
	RuntimeError    string `json:"runtime_error"`
}

func readModule(t *testing.T, e *enginetest.Node, id string) moduleRead {
	t.Helper()
	var m moduleRead
	r := e.Do("GET", "/api/engine/v2/modules/"+id, "")
	if r.Status != 200 || json.Unmarshal([]byte(r.Body), &m) != nil {
		t.Fatalf("GET module %s: %d %s", id, r.Status, r.Body)
	}
	return m
}

func putModule(t *testing.T, e *enginetest.Node, body string) {
	t.Helper()
	var m struct{ ID string }
	_ = json.Unmarshal([]byte(body), &m)
	if r := e.Do("PUT", "/api/engine/v2/modules/"+m.ID, body); r.Status != 200 {
		t.Fatalf("PUT module: %d %s", r.Status, r.Body)
	}
}

// A driver whose Start hangs for one module (its OnLoad stuck, deaf to the deadline) holds
// neither a module added after it nor the operator's stop of it; and a settings update the
// driver refuses shows in the module's read until an update is accepted. One ERROR line for the
// refused update, none from the canceled start.
func TestHungStartAndRefusedUpdate(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	e := startEngine(t, redis.URL, fmt.Sprintf(`
drivers:
  - {id: drv-test, module_name: Test, role: service, binary: %q}
modules:
  - {id: mod-a, driver_id: drv-test, running: true, settings: {a: 1}}
`, drv))

	putModule(t, e, `{"id": "mod-hang", "driver_id": "drv-test", "running": true, "settings": {"hang_start_ms": 600000}}`)
	putModule(t, e, `{"id": "mod-b", "driver_id": "drv-test", "running": true}`)
	added := time.Now()
	e.Eventually(10*time.Second, "mod-b answering beside a hung start", func() bool {
		return e.Do("POST", "/api/engine/v2/modules/mod-b/exec/echo", "[1]").Status == 200
	})
	if took := time.Since(added); took > 5*time.Second {
		t.Fatalf("a module added beside a hung start answered after %s", took)
	}
	if r := e.Do("POST", "/api/engine/v2/modules/mod-hang/stop", ""); r.Status != 200 {
		t.Fatalf("stop: %d %s", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "mod-hang stopped on the node", func() bool {
		loaded, err := e.Loaded()
		return err == nil && !strings.Contains(fmt.Sprint(loaded), "mod-hang") && strings.Contains(fmt.Sprint(loaded), "mod-b")
	})

	putModule(t, e, `{"id": "mod-a", "driver_id": "drv-test", "running": true, "settings": {"refuse_start": true}}`)
	e.Eventually(10*time.Second, "the refused update in mod-a's read", func() bool {
		m := readModule(t, e, "mod-a")
		return m.HasRuntimeError && m.ErrorTimestamp != nil && strings.Contains(m.RuntimeError, "settings update refused") &&
			strings.Contains(m.RuntimeError, "refusing to start")
	})
	if m := readModule(t, e, "mod-a"); !m.Connected || !m.Running {
		t.Fatalf("a module whose update was refused reads %+v; want it running and connected", m)
	}
	if r := e.Do("POST", "/api/engine/v2/modules/mod-a/exec/echo", "[1]"); r.Status != 200 {
		t.Fatalf("a call to the module whose update was refused: %d %s", r.Status, r.Body)
	}
	putModule(t, e, `{"id": "mod-a", "driver_id": "drv-test", "running": true, "settings": {"a": 2}}`)
	e.Eventually(10*time.Second, "the refusal cleared by an accepted update", func() bool {
		m := readModule(t, e, "mod-a")
		return !m.HasRuntimeError && m.RuntimeError == "" && m.ErrorTimestamp == nil
	})

	var errs []string
	for _, line := range strings.Split(e.Logs().String(), "\n") {
		if strings.Contains(line, "[ERROR]") || strings.Contains(line, `"@level":"error"`) {
			errs = append(errs, line)
		}
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "mod-a") {
		t.Fatalf("%d ERROR lines; want one, for mod-a's refused update:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}
