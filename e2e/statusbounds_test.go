package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// fillResult is the testdriver's fill answer: statuses set, and the refusal that stopped it.
type fillResult struct {
	Set   int    `json:"set"`
	Code  string `json:"code"`
	Error string `json:"error"`
}

// What a driver may put into its module's statuses is bounded (red team 12, finding 3: 150
// statuses of 1 MiB took Redis to 190 MB, a 30 MB status was taken, a read of the module's state
// answered 217 MB), on a real node with real driver processes and Redis: a value over 1 MiB is
// refused (InvalidArgument) and not in Redis; the 1,025th name and a write past 16 MiB are
// refused (ResourceExhausted); refusals are logged once at WARN for the module and counted; an overwrite no
// larger and one that shrinks pass, and the room a shrink makes takes a new value; a crash
// restart, which clears the module's status, starts the count again from what Redis holds; an
// SDK driver gets the refusal as an *sdk.Error its caller sees as 400 BadRequest.
func TestStatusBounds(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	rc := redis.Client(t)
	td := testutil.BuildBinary(t, "./internal/testdriver")
	sd := testutil.BuildBinary(t, "./internal/sdkdriver")
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-statusbounds", isolationModel(td, sd))
	exec := func(module, fn, args string) enginetest.Response {
		t.Helper()
		return e.Do("POST", "/api/engine/v2/modules/"+module+"/exec/"+fn, args)
	}
	fill := func(module, args string) fillResult {
		t.Helper()
		r := exec(module, "fill", args)
		var res fillResult
		if r.Status != 200 || json.Unmarshal([]byte(r.Body), &res) != nil {
			t.Fatalf("fill %s on %s: %d %s", args, module, r.Status, r.Body)
		}
		return res
	}
	hlen := func(module string) int64 {
		t.Helper()
		n, err := rc.HLen(t.Context(), "status/"+module).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// One value over 1 MiB: refused, and not in Redis.
	if res := fill("mod-flood", `["huge", 1, 1048577]`); res.Set != 0 || res.Code != "InvalidArgument" ||
		!strings.Contains(res.Error, "more than the 1048576") {
		t.Fatalf("a value of 1 MiB + 1: %+v; want InvalidArgument naming 1048576", res)
	}
	if ok, err := rc.HExists(t.Context(), "status/mod-flood", "huge0").Result(); err != nil || ok {
		t.Fatalf("the refused value in Redis: %v %v", ok, err)
	}

	// 1,025 names: the last refused. Past the status rate's burst the last writes land a moment
	// later (delayed, not refused).
	res := fill("mod-flood", `["n", 1025, 10]`)
	if res.Set != 1024 || res.Code != "ResourceExhausted" || !strings.Contains(res.Error, "1024 statuses") {
		t.Fatalf("1,025 names: %+v; want 1024 set, then ResourceExhausted naming the 1024", res)
	}
	e.Eventually(10*time.Second, "1024 statuses in Redis", func() bool { return hlen("mod-flood") == 1024 })
	if ok, _ := rc.HExists(t.Context(), "status/mod-flood", "n1024").Result(); ok {
		t.Fatal("the 1,025th name is in Redis")
	}
	// An overwrite no larger passes at the bound; a refusal again is not logged again.
	if r := exec("mod-flood", "set", `["n0", "2"]`); r.Status != 200 {
		t.Fatalf("an overwrite at the bound: %d %s", r.Status, r.Body)
	}
	if res := fill("mod-flood", `["m", 1, 10]`); res.Code != "ResourceExhausted" {
		t.Fatalf("a new name at the bound again: %+v", res)
	}

	// 16 MiB: sixteen values of 1 MiB - 10 fit, the seventeenth does not.
	res = fill("mod-healthy", `["b", 20, 1048566]`)
	if res.Set != 16 || res.Code != "ResourceExhausted" || !strings.Contains(res.Error, "more than the 16777216") {
		t.Fatalf("20 values of 1 MiB: %+v; want 16 set, then ResourceExhausted naming 16777216 bytes", res)
	}
	e.Eventually(10*time.Second, "16 statuses in Redis", func() bool { return hlen("mod-healthy") == 16 })
	// A reader of the module's state gets at most the bound.
	if r := e.Do("GET", "/api/engine/v2/modules/mod-healthy/state", ""); r.Status != 200 || len(r.Body) > 16<<20+4096 {
		t.Fatalf("the module's state: %d, %d bytes; want at most 16 MiB", r.Status, len(r.Body))
	}
	// A shrink passes and makes room for one more value.
	if r := exec("mod-healthy", "set", `["b0", "1"]`); r.Status != 200 {
		t.Fatalf("an overwrite that shrinks: %d %s", r.Status, r.Body)
	}
	if res := fill("mod-healthy", `["c", 2, 1048566]`); res.Set != 1 || res.Code != "ResourceExhausted" {
		t.Fatalf("values into the room of the shrink: %+v; want 1 set", res)
	}

	logs := e.Logs().String()
	for _, mod := range []string{"mod-flood", "mod-healthy"} {
		n := 0
		for line := range strings.Lines(logs) {
			if strings.Contains(line, "the module's statuses are full") && strings.Contains(line, "module="+mod) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d WARN lines for %s's refusals, want 1", n, mod)
		}
	}
	if n := metricValue(t, e, limited("drv-flood", "status_refused")); n != 3 {
		t.Fatalf("status_refused of drv-flood = %v, want 3", n)
	}

	// A crash restart clears the module's status: the count starts again from nothing.
	exec("mod-flood", "exit", `[1]`)
	e.Eventually(20*time.Second, "mod-flood restarted with its status cleared", func() bool {
		return exec("mod-flood", "echo", `[]`).Status == 200 && hlen("mod-flood") == 0
	})
	if res := fill("mod-flood", `["r", 1025, 10]`); res.Set != 1024 {
		t.Fatalf("1,025 names after a restart: %+v; want 1024 set", res)
	}

	// An SDK driver: the refusal is an *sdk.Error, which its caller sees as is.
	r := exec("mod-sdk", "set_sized", `{"name": "huge", "size": 1048577}`)
	var body httpwire.ErrorBody
	if r.Status != 400 || json.Unmarshal([]byte(r.Body), &body) != nil || body.Class != "BadRequest" ||
		!strings.Contains(body.Message, `set status "huge"`) || !strings.Contains(body.Message, "more than the 1048576") {
		t.Fatalf("an SDK driver's value of 1 MiB + 1: %d %s; want 400 BadRequest naming the bound", r.Status, r.Body)
	}
	if r := exec("mod-sdk", "set_sized", `{"name": "fine", "size": 1048576}`); r.Status != 200 {
		t.Fatalf("an SDK driver's value of 1 MiB: %d %s", r.Status, r.Body)
	}
	if ok, _ := rc.HExists(t.Context(), "status/mod-sdk", "huge").Result(); ok {
		t.Fatal("the SDK driver's refused value is in Redis")
	}
}
