package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// Misbehaving drivers beside a healthy module in a real engine: one forks children (one in a
// session of its own), one crash-loops, one allocates without bound under its driver's
// memory_limit. The healthy module answers throughout; the crash loop ends when its module
// stops; the memory hog dies at its limit, said as such; and the children of the forking driver
// are gone after the engine is SIGKILLed and started again.
func TestDriverIsolation(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	healthy := testutil.BuildBinary(t, "./internal/testdriver")
	bad := testutil.BuildBinary(t, "./internal/baddriver")
	dir := t.TempDir()
	bins := map[string]string{}
	for _, name := range []string{"fork", "loop", "hog"} {
		bins[name] = filepath.Join(dir, "bad-"+name)
		if err := os.Link(bad, bins[name]); err != nil {
			t.Fatal(err)
		}
	}
	e := startEngine(t, redis.URL, fmt.Sprintf(`
drivers:
  - {id: drv-test, module_name: Test, role: service, binary: %q}
  - {id: drv-fork, module_name: Fork, role: service, binary: %q}
  - {id: drv-loop, module_name: Loop, role: service, binary: %q}
  - {id: drv-hog, module_name: Hog, role: service, binary: %q, memory_limit: 256MiB}
modules:
  - {id: mod-test, driver_id: drv-test, running: true}
  - {id: mod-fork, driver_id: drv-fork, running: true, settings: {mode: fork}}
  - {id: mod-loop, driver_id: drv-loop, running: true, settings: {mode: crash_loop}}
  - {id: mod-hog, driver_id: drv-hog, running: true, settings: {mode: alloc}}
`, healthy, bins["fork"], bins["loop"], bins["hog"]))
	healthyAnswers := func() {
		t.Helper()
		if r := e.Do("POST", "/api/engine/v2/modules/mod-test/exec/echo", `["ok"]`); r.Status != 200 {
			t.Fatalf("healthy module: %d %s", r.Status, r.Body)
		}
	}
	// --driver-gomaxprocs auto: 1 where the engine's Go runtime would run 2 CPUs, else no
	// GOMAXPROCS at all (the driver's runtime chooses). The test runs where the engine does, with
	// the same environment.
	want := `""`
	if runtime.GOMAXPROCS(0) == 2 {
		want = `"1"`
	}
	if r := e.Do("POST", "/api/engine/v2/modules/mod-test/exec/env", `["GOMAXPROCS"]`); r.Status != 200 || r.Body != want {
		t.Fatalf("GOMAXPROCS in the driver: %d %s, want %s", r.Status, r.Body, want)
	}
	type driverStatus struct {
		RestartCount   int    `json:"restart_count"`
		LastExitCode   int    `json:"last_exit_code"`
		LastExitSignal string `json:"last_exit_signal"`
		LastError      string `json:"last_error"`
	}
	status := func(binary string) (driverStatus, int) {
		r := e.Do("GET", "/api/core/v1/status/driver?path="+binary, "")
		var st driverStatus
		_ = json.Unmarshal([]byte(r.Body), &st)
		return st, r.Status
	}

	// The memory hog dies at its driver's limit and says so.
	e.Eventually(30*time.Second, "the memory hog killed at its limit", func() bool {
		st, _ := status(bins["hog"])
		return strings.Contains(st.LastError, "out of memory (limit 256MiB)")
	})
	e.WaitLog(10*time.Second, "driver killed: out of memory (limit 256MiB)")
	healthyAnswers()
	if r := e.Do("POST", "/api/engine/v2/modules/mod-hog/stop", ""); r.Status != 200 {
		t.Fatalf("stop mod-hog: %d %s", r.Status, r.Body)
	}

	// The crash loop ends with its module.
	e.Eventually(30*time.Second, "a crash loop", func() bool {
		st, _ := status(bins["loop"])
		return st.RestartCount >= 2 && st.LastExitCode == 3
	})
	if r := e.Do("POST", "/api/engine/v2/modules/mod-loop/stop", ""); r.Status != 200 {
		t.Fatalf("stop mod-loop: %d %s", r.Status, r.Body)
	}
	e.Eventually(30*time.Second, "the crash-looping driver gone", func() bool {
		_, code := status(bins["loop"])
		return code == 404 && running(e.PID(), bins["loop"]) == 0 && running(e.PID(), bins["hog"]) == 0
	})
	healthyAnswers()

	// The forking driver's children outlive a killed engine, and not its next start.
	r := e.Do("POST", "/api/engine/v2/modules/mod-fork/exec/children", "[]")
	var children []int
	if err := json.Unmarshal([]byte(r.Body), &children); r.Status != 200 || err != nil || len(children) != 2 {
		t.Fatalf("children: %d %s", r.Status, r.Body)
	}
	e.Kill()
	for _, pid := range children {
		if !testutil.Alive(pid) {
			t.Fatalf("child %d died with the engine; the restart below proves nothing", pid)
		}
	}
	e.Start()
	e.WaitReady()
	testutil.WaitGone(t, children...)
	healthyAnswers()

	// memory_limit through the management API: the forms people type, and clear refusals.
	for _, tc := range []struct {
		limit    string
		status   int
		contains string
	}{
		{"lots", 400, `driver \"drv-hog\": memory_limit: want a size such as 512MiB`},
		{"64MiB", 400, "below the smallest limit, 128MiB"},
		{"1GiB", 200, `"memory_limit":"1GiB"`},
		{"off", 200, `"memory_limit":"off"`},
	} {
		body := fmt.Sprintf(`{"id": "drv-hog", "module_name": "Hog", "role": "service", "binary": %q, "memory_limit": %q}`, bins["hog"], tc.limit)
		if r := e.Do("PUT", "/api/engine/v2/drivers/drv-hog", body); r.Status != tc.status || !strings.Contains(r.Body, tc.contains) {
			t.Errorf("memory_limit %q: %d %s; want %d containing %q", tc.limit, r.Status, r.Body, tc.status, tc.contains)
		}
	}
}

// running counts the child processes of pid that run binary.
func running(pid int, binary string) int {
	n := 0
	for _, c := range testutil.Children(pid) {
		if testutil.Exe(c) == binary {
			n++
		}
	}
	return n
}

// A driver binary rebuilt at the same path (a prebuilt `binary:` driver replaced on disk) takes
// effect at its next relaunch without a module restart: the engine reads the new process's
// metadata, so its new functions pass the engine's checks at once.
func TestRelaunchReadsNewMetadata(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	next := testutil.BuildBinary(t, "./internal/testdriver")
	binary := filepath.Join(t.TempDir(), "driver")
	if err := os.Link(testutil.BuildBinary(t, "./internal/baddriver"), binary); err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, redis.URL, fmt.Sprintf(`
drivers:
  - {id: drv-x, module_name: X, role: service, binary: %q}
modules:
  - {id: mod-x, driver_id: drv-x, running: true}
`, binary))
	call := "/api/engine/v2/modules/mod-x/exec/support_only"
	if r := e.Do("POST", call, "[]"); r.Status != 400 || !strings.Contains(r.Body, "could not find function support_only") {
		t.Fatalf("a function the first build lacks: %d %s", r.Status, r.Body)
	}
	// The rebuild: another binary renamed over the path, as a build or an install does.
	tmp := binary + ".new"
	if err := os.Link(next, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, binary); err != nil {
		t.Fatal(err)
	}
	_ = e.Do("POST", "/api/engine/v2/modules/mod-x/exec/crash", "[3]") // fails: the process exits
	e.Eventually(20*time.Second, "the new function answering", func() bool {
		r := e.Do("POST", call, "[]")
		return r.Status == 200 && r.Body == `"support_only"`
	})
}
