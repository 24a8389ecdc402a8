package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/metrics"
)

// greetModel runs n modules of the sdk test driver in one system.
func greetModel(binary string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "drivers: [{id: drv-greet, module_name: Greet, role: service, binary: %q}]\nmodules:\n", binary)
	var ids []string
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("mod-greet-%d", i)
		ids = append(ids, id)
		fmt.Fprintf(&b, "  - {id: %s, driver_id: drv-greet, running: true}\n", id)
	}
	fmt.Fprintf(&b, "systems: [{id: sys-greet, name: Greet, modules: [%s]}]\n", strings.Join(ids, ", "))
	return b.String()
}

// jsonLines parses the engine's log as JSON lines, failing on any line that is not one.
func jsonLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("--log-format json printed a line that is not JSON: %q", line)
		}
		out = append(out, e)
	}
	return out
}

func hasEntry(entries []map[string]any, msg, rid string) bool {
	for _, e := range entries {
		if e["@message"] == msg && e["request_id"] == rid {
			return true
		}
	}
	return false
}

// metricsMissing reports which of the wanted series lines are missing from GET /metrics.
func metricsMissing(t *testing.T, e *enginetest.Node, want ...string) []string {
	t.Helper()
	r := e.Do("GET", "/metrics", "")
	if r.Status != 200 {
		t.Fatalf("GET /metrics: %d %s", r.Status, r.Body)
	}
	var missing []string
	for _, w := range want {
		if !strings.Contains(r.Body, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

// One node with --log-format json: an execute's X-Request-ID is on the node's line and on the
// driver's own line (lifted from the driver process as JSON), and /metrics shows the execute,
// the driver process, the module and, after a SIGKILL, the restart.
func TestMetricsAndRequestIDInLogs(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/sdkdriver")
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-metrics", greetModel(drv, 1), "--log-format", "json")

	const rid = "rid-e2e-single-0001"
	r := e.Do("POST", "/api/engine/v2/modules/mod-greet-1/exec/greet", `{"name":"ops"}`, enginetest.RequestID(rid))
	if r.Status != 200 || r.Body != `"hello ops"` {
		t.Fatalf("greet: %d %s", r.Status, r.Body)
	}
	if got := r.Header.Get("X-Request-ID"); got != rid {
		t.Fatalf("X-Request-ID answered %q, want %q", got, rid)
	}
	if r := e.Do("POST", "/api/engine/v2/modules/mod-greet-1/exec/fail", "", enginetest.RequestID("rid-e2e-fail")); r.Status != 500 {
		t.Fatalf("fail: %d %s", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "request id on the node's and the driver's log lines", func() bool {
		entries := jsonLines(t, e.Logs().String())
		return hasEntry(entries, "request", rid) && hasEntry(entries, "greeting", rid) &&
			hasEntry(entries, "function failed", "rid-e2e-fail")
	})

	driver := metrics.DriverName(drv)
	if missing := metricsMissing(t, e,
		`engine_exec_duration_seconds_count{driver="drv-greet",function="greet",result="ok"} 1`,
		`engine_exec_duration_seconds_count{driver="drv-greet",function="fail",result="driver_error"} 1`,
		`engine_driver_processes{driver="`+driver+`",state="running"} 1`,
		`engine_modules{state="running"} 1`,
		`engine_raft_state{state="leader"} 1`,
		`engine_redis_errors_total{source="pubsub"} 0`,
		`go_goroutines `,
	); len(missing) > 0 {
		t.Fatalf("/metrics lacks %q", missing)
	}

	pid := e.DriverPID(drv)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var missing []string
	e.Eventually(15*time.Second, "the restart in /metrics", func() bool {
		missing = metricsMissing(t, e,
			`engine_driver_restarts_total{driver="`+driver+`"} 1`,
			`engine_driver_processes{driver="`+driver+`",state="running"} 1`,
		)
		return len(missing) == 0
	})
}

// Two nodes: an execute sent to one node for a module the other hosts carries its request id
// onto the owner's log lines, the owner's driver's line included.
func TestRequestIDAcrossNodes(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/sdkdriver")
	const modules = 8 // all eight on one node of two: 1 in 128
	c := enginetest.StartCluster(t, config(redis.URL), "rid", 2, greetModel(drv, modules), modules)
	n1, n2 := c.Nodes[0], c.Nodes[1]

	// A module of n2's, seen from n2's own loaded list.
	var remote string
	n2.Eventually(30*time.Second, "a module hosted on rid-2", func() bool {
		loaded, err := n2.Loaded()
		if err != nil {
			return false
		}
		for _, mods := range loaded {
			if len(mods) > 0 {
				remote = mods[0]
				return true
			}
		}
		return false
	})

	const rid = "rid-e2e-routed-0001"
	var r enginetest.Response
	n1.Eventually(15*time.Second, remote+" answering through rid-1", func() bool {
		r = n1.Do("POST", "/api/engine/v2/modules/"+remote+"/exec/greet", `{"name":"routed"}`, enginetest.RequestID(rid))
		return r.Status == 200
	})
	if r.Body != `"hello routed"` {
		t.Fatalf("routed greet: %s", r.Body)
	}
	onLine := func(logs, msg string) bool {
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, msg) && strings.Contains(l, "request_id="+rid) {
				return true
			}
		}
		return false
	}
	n2.Eventually(10*time.Second, "the request id on the owner's lines", func() bool {
		return onLine(n1.Logs().String(), "request:") && onLine(n2.Logs().String(), "request:") &&
			onLine(n2.Logs().String(), "greeting")
	})
	if onLine(n1.Logs().String(), "greeting") {
		t.Fatalf("the driver line appeared on rid-1, which does not host %s", remote)
	}
}
