package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// A module whose driver process crash-loops after its start (it serves for a while, then exits)
// reads connected false with why on both nodes of a cluster, the one hosting it and the other,
// within a few seconds; between crashes, connected with a note of the restarts; once a
// relaunched process has lived --driver-stable-after, it reads clean again on both.
func TestCrashLoopingModuleReadsNotConnected(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	bad := testutil.BuildBinary(t, "./internal/baddriver")
	crashing := filepath.Join(t.TempDir(), "crashing")
	c := enginetest.StartCluster(t, config(rds.URL, "--driver-stable-after", "4s"), "crashread", 2, fmt.Sprintf(`
drivers: [{id: drv-late, module_name: Late, role: service, binary: %q}]
modules: [{id: mod-l1, driver_id: drv-late, running: true, settings: {mode: crash_later, crash_after_ms: 1500, crash_while: %q}}]
`, bad, crashing), 1)
	place, err := c.Placement()
	if err != nil {
		t.Fatal(err)
	}
	type read struct {
		CoreNode        string `json:"core_node"`
		Connected       bool   `json:"connected"`
		HasRuntimeError bool   `json:"has_runtime_error"`
		ErrorTimestamp  *int64 `json:"error_timestamp"`
		RuntimeError    string `json:"runtime_error"`
	}
	get := func(n *enginetest.Node) (read, string) {
		r := n.Do("GET", "/api/engine/v2/modules/mod-l1", "")
		var m read
		_ = json.Unmarshal([]byte(r.Body), &m)
		return m, r.Body
	}
	for _, n := range c.Nodes {
		n.Eventually(10*time.Second, "mod-l1 connected on "+n.ID, func() bool { m, _ := get(n); return m.Connected })
	}

	// From now on every process of it dies 1.5 s after its start; the first goes at once. Once
	// the file is gone, the process then running (or the next) lives on.
	testutil.WriteFile(t, crashing, "")
	host := c.Node(place["mod-l1"])
	crashed := time.Now()
	_ = host.Do("POST", "/api/engine/v2/modules/mod-l1/exec/crash", "[9]")
	for _, n := range c.Nodes {
		var m read
		var body string
		n.Eventually(10*time.Second, "mod-l1 read not connected on "+n.ID, func() bool {
			m, body = get(n)
			return !m.Connected
		})
		if !m.HasRuntimeError || m.ErrorTimestamp == nil || m.CoreNode != host.ID ||
			!strings.HasPrefix(m.RuntimeError, "driver process is ") || !strings.Contains(m.RuntimeError, "exit status 9") {
			t.Fatalf("mod-l1 crash-looping, read on %s (hosted on %s): %s", n.ID, host.ID, body)
		}
		t.Logf("read not connected on %s %s after the crash: %s", n.ID, time.Since(crashed).Round(time.Millisecond), m.RuntimeError)
	}

	// Between crashes, while a relaunched process serves it, it reads connected but not clean,
	// on both nodes: the restart note, until a process has run --driver-stable-after.
	for _, n := range c.Nodes {
		var m read
		var body string
		n.Eventually(20*time.Second, "mod-l1 up between crashes, with the restart note, on "+n.ID, func() bool {
			m, body = get(n)
			return m.Connected && strings.HasPrefix(m.RuntimeError, "driver process restarted ")
		})
		if !m.HasRuntimeError || m.ErrorTimestamp == nil || !strings.Contains(m.RuntimeError, "exit status 9") {
			t.Fatalf("mod-l1 up between crashes, read on %s: %s", n.ID, body)
		}
	}

	// The relaunched process starts it (connected again), serves it 1.5 s and dies by itself: a
	// new episode, read alike on both nodes.
	for _, n := range c.Nodes {
		n.Eventually(20*time.Second, "mod-l1 down again, by itself, on "+n.ID, func() bool {
			m, _ := get(n)
			return !m.Connected && strings.Contains(m.RuntimeError, "exit status 9") && !strings.Contains(m.RuntimeError, "(1 restart)")
		})
	}

	if err := os.Remove(crashing); err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	for _, n := range c.Nodes {
		n.Eventually(30*time.Second, "mod-l1 connected again on "+n.ID, func() bool {
			m, _ := get(n)
			return m.Connected && !m.HasRuntimeError && m.RuntimeError == "" && m.ErrorTimestamp == nil
		})
		t.Logf("connected again on %s %s after the crash loop ended", n.ID, time.Since(removed).Round(time.Millisecond))
	}
}
