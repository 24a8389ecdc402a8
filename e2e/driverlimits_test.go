package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// isolationModel: a misbehaving raw driver (testdriver, mod-flood), a healthy module of another
// testdriver driver (mod-healthy) and an SDK driver (mod-sdk), in one system.
func isolationModel(testdriver, sdkdriver string) string {
	return fmt.Sprintf(`
drivers:
  - {id: drv-flood, module_name: Flood, role: service, binary: %[1]q}
  - {id: drv-healthy, module_name: Healthy, role: service, binary: %[1]q}
  - {id: drv-sdk, module_name: Greeter, role: service, binary: %[2]q}
modules:
  - {id: mod-flood, driver_id: drv-flood, running: true}
  - {id: mod-healthy, driver_id: drv-healthy, running: true}
  - {id: mod-sdk, driver_id: drv-sdk, running: true}
systems:
  - {id: sys-iso, name: Iso, modules: [mod-flood, mod-healthy, mod-sdk]}
`, testdriver, sdkdriver)
}

// metricValue reads one series of GET /metrics (0 when absent).
func metricValue(t *testing.T, e *enginetest.Node, series string) float64 {
	t.Helper()
	r := e.Do("GET", "/metrics", "")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(r.Body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

func limited(driver, limit string) string {
	return fmt.Sprintf(`engine_driver_limited_total{driver=%q,limit=%q}`, driver, limit)
}

// The driver limits on a real node with small flags: a status flood lands its last value with
// the intermediate ones coalesced; driver-to-driver calls past the rate are refused with 429
// TooMany (a raw driver sees the class, an SDK driver an *sdk.Error its caller sees as is);
// subscriptions past the maximum are refused (raw driver: the stream's error; SDK driver: one
// ERROR line), and come back when others end; each is counted in /metrics; the healthy module
// answers throughout.
func TestDriverLimits(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	td := testutil.BuildBinary(t, "./internal/testdriver")
	sd := testutil.BuildBinary(t, "./internal/sdkdriver")
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-isolimits", isolationModel(td, sd),
		"--driver-status-rate", "50/s", "--driver-call-rate", "600/m", "--driver-max-subscriptions", "10",
		"--driver-gomaxprocs", "3")
	exec := func(module, fn, args string) enginetest.Response {
		t.Helper()
		return e.Do("POST", "/api/engine/v2/modules/"+module+"/exec/"+fn, args)
	}
	// --driver-gomaxprocs reaches the driver processes (which see nothing else of the engine's
	// environment).
	if r := exec("mod-healthy", "env", `["GOMAXPROCS"]`); r.Status != 200 || r.Body != `"3"` {
		t.Fatalf("GOMAXPROCS in the driver: %d %s, want \"3\"", r.Status, r.Body)
	}

	// Status flood: 400 writes by 8 writers (level0…level7) as fast as the host answers. The
	// first 250 (5 s of 50/s) pass; past them the module's answers are paced one 20 ms interval
	// apart for all its writers together (not 20 ms for each writer: 8 writers would make 8 times
	// the rate), and the values wait in the gate; every last value lands.
	began := time.Now()
	if r := exec("mod-flood", "flood", `["level", 400, 8]`); r.Status != 200 || r.Body != "400" {
		t.Fatalf("flood: %d %s", r.Status, r.Body)
	}
	took := time.Since(began)
	if took < 2*time.Second {
		t.Fatalf("150 writes over the rate answered in %s; want them paced 20 ms apart for the module (3 s)", took)
	}
	if r := exec("mod-healthy", "echo", `[1]`); r.Status != 200 {
		t.Fatalf("the healthy module after a flood: %d %s", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "the flood's last values in Redis", func() bool {
		for w := range 8 {
			if e.Do("GET", fmt.Sprintf("/api/engine/v2/modules/mod-flood/state/level%d", w), "").Body != fmt.Sprint(393+w) {
				return false
			}
		}
		return true
	})
	// How many of the 150 over the burst wait depends on how fast the first 250 came: on a loaded
	// machine they take long enough for the bucket to refill (50/s), and fewer of the rest wait
	// (76 in one run). However many, they were paced 20 ms apart for the module: the flood took
	// at least that long.
	delayed := metricValue(t, e, limited("drv-flood", "status_delayed"))
	if paced := time.Duration(delayed-1) * 20 * time.Millisecond; delayed < 1 || took < paced {
		t.Fatalf("delayed status writes = %v in a flood of %s; want some, paced 20 ms apart for the module", delayed, took)
	}
	if n := metricValue(t, e, limited("drv-healthy", "status_delayed")); n != 0 {
		t.Fatalf("the healthy driver's writes were delayed %v times", n)
	}

	// Calls: 10/s with bursts of 50. A flood of 200 gets about 50 through.
	r := exec("mod-flood", "call_flood", `["mod-healthy", "echo", 200]`)
	var classes map[string]int
	if r.Status != 200 || json.Unmarshal([]byte(r.Body), &classes) != nil {
		t.Fatalf("call flood: %d %s", r.Status, r.Body)
	}
	if classes[""] < 50 || classes[""] > 80 || classes["TooMany"] != 200-classes[""] {
		t.Fatalf("call flood answers by class: %v; want about 50 through and the rest TooMany", classes)
	}
	if n := metricValue(t, e, limited("drv-flood", "calls_refused")); n != float64(classes["TooMany"]) {
		t.Fatalf("calls refused metric %v, want %d", n, classes["TooMany"])
	}
	// The SDK driver's own bucket is untouched by the other driver's flood; past it, the
	// *sdk.Error it gets is what its caller sees: 429, class TooMany, how to raise the limit.
	var refused enginetest.Response
	for i := range 100 {
		refused = exec("mod-sdk", "call", `{"module": "mod-healthy", "fn": "echo"}`)
		if refused.Status != 200 {
			if i < 50 {
				t.Fatalf("the SDK driver refused after %d calls (bursts of 50): %d %s", i, refused.Status, refused.Body)
			}
			break
		}
	}
	var body httpwire.ErrorBody
	if refused.Status != 429 || json.Unmarshal([]byte(refused.Body), &body) != nil || body.Class != "TooMany" ||
		!strings.Contains(body.Message, "--driver-call-rate") || !strings.Contains(body.Message, "10/s") {
		t.Fatalf("SDK driver past its call rate: %d %s; want 429 TooMany naming --driver-call-rate and 10/s", refused.Status, refused.Body)
	}

	// Subscriptions: 10 per driver.
	if r := exec("mod-flood", "hold", `["mod-healthy", "s", 10]`); r.Status != 200 || r.Body != "10" {
		t.Fatalf("10 subscriptions: %d %s", r.Status, r.Body)
	}
	if r := exec("mod-flood", "hold", `["mod-healthy", "t", 1]`); r.Status != 500 ||
		!strings.Contains(r.Body, "ResourceExhausted") || !strings.Contains(r.Body, "--driver-max-subscriptions") {
		t.Fatalf("the 11th subscription: %d %s; want the refusal naming --driver-max-subscriptions", r.Status, r.Body)
	}
	// Another driver's subscriptions are its own.
	if r := exec("mod-healthy", "hold", `["mod-flood", "s", 10]`); r.Status != 200 {
		t.Fatalf("another driver's subscriptions: %d %s", r.Status, r.Body)
	}
	if r := exec("mod-flood", "release", `[]`); r.Status != 200 || r.Body != "11" {
		t.Fatalf("release: %d %s", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "the released subscriptions counted down", func() bool {
		r := exec("mod-flood", "hold", `["mod-healthy", "u", 10]`)
		if r.Status != 200 {
			exec("mod-flood", "release", `[]`)
		}
		return r.Status == 200
	})
	if n := metricValue(t, e, limited("drv-flood", "subscriptions_refused")); n < 1 {
		t.Fatalf("subscriptions refused metric %v", n)
	}
	// The SDK driver asks for 12: two are refused, said once each at ERROR in its log.
	if r := exec("mod-sdk", "subscribe_many", `{"n": 12}`); r.Status != 200 {
		t.Fatalf("subscribe_many: %d %s", r.Status, r.Body)
	}
	e.Eventually(10*time.Second, "the SDK driver's refusal line", func() bool {
		logs := e.Logs().String()
		return strings.Count(logs, "the engine refused the subscription") >= 2 && strings.Contains(logs, "--driver-max-subscriptions")
	})
	if r := exec("mod-healthy", "echo", `[2]`); r.Status != 200 {
		t.Fatalf("the healthy module at the end: %d %s", r.Status, r.Body)
	}
}

// heapStats forces a garbage collection in the engine (its loopback profiler) and returns the
// live heap and the goroutine count, from runtime.MemStats and runtime.NumGoroutine.
func heapStats(t *testing.T, pprof string) (heap, goroutines int) {
	t.Helper()
	get := func(path string) string {
		resp, err := http.Get("http://" + pprof + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	m := regexp.MustCompile(`# HeapAlloc = (\d+)`).FindStringSubmatch(get("/debug/pprof/heap?debug=1&gc=1"))
	g := regexp.MustCompile(`goroutine profile: total (\d+)`).FindStringSubmatch(get("/debug/pprof/goroutine?debug=1"))
	if m == nil || g == nil {
		t.Fatal("no HeapAlloc or goroutine total in the profiler's answers")
	}
	heap, _ = strconv.Atoi(m[1])
	goroutines, _ = strconv.Atoi(g[1])
	return heap, goroutines
}

// Subscriptions return what they cost when they end, and an SDK driver's cost the engine no
// goroutine each: 5,000 subscriptions of a raw driver (one Subscribe stream each: a goroutine and
// the stream's buffers) and of an SDK driver (all on its one Subscriptions stream), measured
// after a forced GC, with margins.
func TestSubscriptionMemoryReturned(t *testing.T) {
	t.Parallel()
	const n = 5000
	redis := testutil.StartRedis(t)
	td := testutil.BuildBinary(t, "./internal/testdriver")
	sd := testutil.BuildBinary(t, "./internal/sdkdriver")
	pprof := testutil.FreeAddr(t)
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-submem", isolationModel(td, sd),
		"--driver-max-subscriptions", fmt.Sprint(n), "--pprof-addr", pprof, "--log-level", "info")
	exec := func(module, fn, args string) {
		t.Helper()
		if r := e.Do("POST", "/api/engine/v2/modules/"+module+"/exec/"+fn, args); r.Status != 200 {
			t.Fatalf("%s: %d %s", fn, r.Status, r.Body)
		}
	}
	// Warm up: the connections and pools a first subscription opens stay for the next.
	exec("mod-flood", "hold", `["mod-healthy", "w", 100]`)
	exec("mod-flood", "release", "[]")
	exec("mod-sdk", "subscribe_many", `{"n": 100}`)
	exec("mod-sdk", "unsubscribe_all", "")
	open := func(driver string) float64 {
		return metricValue(t, e, `engine_driver_subscriptions{driver="`+driver+`"}`)
	}
	e.Eventually(20*time.Second, "the warm-up's subscriptions ended", func() bool {
		return open("drv-flood") == 0 && open("drv-sdk") == 0
	})
	heap0, g0 := heapStats(t, pprof)

	for _, tc := range []struct {
		what, module, driver, hold, holdArgs, release string
		goroutines, perSub                            int // at most, each
	}{
		{"raw driver (Subscribe streams)", "mod-flood", "drv-flood", "hold", `["mod-healthy", "s", 5000]`, "release", 1, 6 << 10},
		{"SDK driver (one Subscriptions stream)", "mod-sdk", "drv-sdk", "subscribe_many", `{"n": 5000}`, "unsubscribe_all", 0, 3 << 10},
	} {
		exec(tc.module, tc.hold, tc.holdArgs)
		// An SDK driver's subscriptions are accepted on their stream after its call returns.
		e.Eventually(20*time.Second, "every subscription open", func() bool { return open(tc.driver) == n })
		// Each new watch reads its value on a goroutine of its own, which ends with the read.
		var heap1, g1 int
		testutil.Eventually(t, 20*time.Second, "the watches' first reads over", func() bool {
			heap1, g1 = heapStats(t, pprof)
			return g1-g0 <= tc.goroutines*n+50
		})
		perSub := (heap1 - heap0) / n
		t.Logf("%s: %d subscriptions: %d goroutines more, %d B of heap each", tc.what, n, g1-g0, perSub)
		if perSub > tc.perSub {
			t.Errorf("%s: %d subscriptions cost %d B of heap each; want at most %d", tc.what, n, perSub, tc.perSub)
		}
		exec(tc.module, tc.release, "[]")
		// What stays is what Go never gives back: map buckets (Go maps do not shrink) and the
		// runtime's goroutine descriptors (reused, never freed), under 1 KiB a subscription.
		var heap2, g2 int
		e.Eventually(20*time.Second, "goroutines and heap back near the baseline", func() bool {
			heap2, g2 = heapStats(t, pprof)
			return open(tc.driver) == 0 && g2 <= g0+20 && heap2 <= heap0+n<<10
		})
		t.Logf("%s: after release: %d goroutines (baseline %d), heap %d (baseline %d)", tc.what, g2, g0, heap2, heap0)
	}
}

// debug takes what bind takes, on a real node with API keys: a system with a module name and
// index streams the module's lines (carrying its id); a module id does too; a system, module
// name, index or id that names nothing is refused with bind's codes; a user is refused.
func TestDebugFormsAndRefusals(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	td := testutil.BuildBinary(t, "./internal/testdriver")
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-debugforms", testDriverModel(td),
		"--auth", "keys", "--api-keys", apiKeysFile(t))
	logged := func(msg string) bool {
		r := e.Do("POST", "/api/engine/v2/modules/mod-test/exec/log", fmt.Sprintf(`[%q]`, msg), enginetest.APIKey(adminKey))
		if r.Status != 200 {
			t.Fatalf("log: %d %s", r.Status, r.Body)
		}
		return r.Body == "true"
	}

	c := dialControl(t, e, supportKey)
	c.send(`{"id":1,"cmd":"debug","sys":"sys-test","mod":"Test","index":1}`)
	if f := c.next("debug success"); f != `{"id":1,"type":"success"}` {
		t.Fatalf("debug by name: %s", f)
	}
	var line string
	e.Eventually(15*time.Second, "debug forwarding on in the driver", func() bool {
		line = fmt.Sprintf("line %d", time.Now().UnixNano())
		return logged(line)
	})
	want := fmt.Sprintf(`{"id":1,"type":"debug","meta":{"sys":"sys-test","mod":"Test","index":1},"msg":%q,"mod":"mod-test","level":"info"}`, line)
	if f := c.next("the debug line"); f != want {
		t.Fatalf("debug line: %s\nwant %s", f, want)
	}
	for _, tc := range []struct{ req, want string }{
		{`{"id":2,"cmd":"debug","mod":"mod-test"}`, `{"id":2,"type":"success"}`},
		{`{"id":3,"cmd":"debug","sys":"sys-nope","mod":"Test","index":1}`, `{"id":3,"type":"error","code":404,"error_code":5,"msg":"could not find system sys-nope"}`},
		{`{"id":4,"cmd":"debug","sys":"sys-test","mod":"Display","index":1}`, `{"id":4,"type":"error","code":404,"error_code":6,"msg":"could not find module Display_1 in system sys-test"}`},
		{`{"id":5,"cmd":"debug","sys":"sys-test","mod":"Test","index":2}`, `{"id":5,"type":"error","code":404,"error_code":6,"msg":"could not find module Test_2 in system sys-test"}`},
		{`{"id":6,"cmd":"debug","sys":"sys-test","mod":"Test","index":-1}`, `{"id":6,"type":"error","code":400,"error_code":0,"msg":"index must be 1 or more"}`},
		{`{"id":7,"cmd":"debug","mod":"mod-nope"}`, `{"id":7,"type":"error","code":404,"error_code":6,"msg":"could not find module \"mod-nope\""}`},
	} {
		c.send(tc.req)
		// The message goes on with the state store's detail, as bind's and exec's do.
		if f := c.next(tc.req); !strings.HasPrefix(f, strings.TrimSuffix(tc.want, `"}`)) {
			t.Errorf("%s: %s\nwant %s", tc.req, f, tc.want)
		}
	}
	u := dialControl(t, e, userKey)
	u.send(`{"id":1,"cmd":"debug","sys":"sys-test","mod":"Test","index":1}`)
	if f := u.next("refusal"); f != `{"id":1,"type":"error","code":403,"error_code":2,"msg":"debug needs support clearance"}` {
		t.Fatalf("a user's debug: %s", f)
	}
}
