package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

func writeModel(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "model.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// doWithID sends a request carrying X-Request-ID.
func (e *engine) doWithID(rid, method, path, body string) response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("X-Request-ID", rid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}
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

// scrapeHas reports which of the wanted series lines are missing from GET /metrics.
func (e *engine) metricsMissing(want ...string) []string {
	e.t.Helper()
	r := e.do("GET", "/metrics", "")
	if r.status != 200 {
		e.t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	var missing []string
	for _, w := range want {
		if !strings.Contains(r.body, w) {
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
	e := launch(t, nodeSpec{id: "e2e-metrics", http: freeAddr(t), raft: "127.0.0.1:0", dataDir: t.TempDir(), redisURL: redis.URL},
		"--bootstrap", "--model", writeModel(t, greetModel(drv, 1)), "--log-format", "json")
	e.waitReady()

	const rid = "rid-e2e-single-0001"
	r := e.doWithID(rid, "POST", "/api/engine/v2/modules/mod-greet-1/exec/greet", `{"name":"ops"}`)
	if r.status != 200 || r.body != `"hello ops"` {
		t.Fatalf("greet: %d %s", r.status, r.body)
	}
	if got := r.header.Get("X-Request-ID"); got != rid {
		t.Fatalf("X-Request-ID answered %q, want %q", got, rid)
	}
	if r := e.doWithID("rid-e2e-fail", "POST", "/api/engine/v2/modules/mod-greet-1/exec/fail", ""); r.status != 500 {
		t.Fatalf("fail: %d %s", r.status, r.body)
	}
	e.waitFor(10*time.Second, "request id on the node's and the driver's log lines", func() bool {
		entries := jsonLines(t, e.logs.String())
		return hasEntry(entries, "request", rid) && hasEntry(entries, "greeting", rid) &&
			hasEntry(entries, "function failed", "rid-e2e-fail")
	})

	driver := metrics.DriverName(drv)
	if missing := e.metricsMissing(
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

	pid := e.driverPID(drv)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var missing []string
	e.waitFor(15*time.Second, "the restart in /metrics", func() bool {
		missing = e.metricsMissing(
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
	specs := []nodeSpec{
		{id: "rid-1", http: freeAddr(t), raft: freeAddr(t), dataDir: t.TempDir(), redisURL: redis.URL},
		{id: "rid-2", http: freeAddr(t), raft: freeAddr(t), dataDir: t.TempDir(), redisURL: redis.URL},
	}
	n1 := launch(t, specs[0], "--bootstrap", "--model", writeModel(t, greetModel(drv, modules)))
	n1.waitReady()
	n2 := launch(t, specs[1], "--join", specs[0].http)
	n2.waitReady()

	// A module of n2's, seen from n2's own loaded list.
	var remote string
	n2.waitFor(30*time.Second, "a module hosted on rid-2", func() bool {
		var loaded map[string][]string
		r := n2.do("GET", "/api/core/v1/status/loaded", "")
		if json.Unmarshal([]byte(r.body), &loaded) != nil {
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
	var r response
	n1.waitFor(15*time.Second, remote+" answering through rid-1", func() bool {
		r = n1.doWithID(rid, "POST", "/api/engine/v2/modules/"+remote+"/exec/greet", `{"name":"routed"}`)
		return r.status == 200
	})
	if r.body != `"hello routed"` {
		t.Fatalf("routed greet: %s", r.body)
	}
	onLine := func(logs, msg string) bool {
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, msg) && strings.Contains(l, "request_id="+rid) {
				return true
			}
		}
		return false
	}
	n2.waitFor(10*time.Second, "the request id on the owner's lines", func() bool {
		return onLine(n1.logs.String(), "request:") && onLine(n2.logs.String(), "request:") &&
			onLine(n2.logs.String(), "greeting")
	})
	if onLine(n1.logs.String(), "greeting") {
		t.Fatalf("the driver line appeared on rid-1, which does not host %s", remote)
	}
}
