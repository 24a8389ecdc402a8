package e2e

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// A driver error keeps its class from the driver process to the REST body, with a 4xx code as
// with a 5xx: a client tells a driver's 400 of class ERR2 from the engine's own 400, which has
// no class.
func TestDriverErrorClassReachesREST(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/sdkdriver")
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-class", greetModel(drv, 1))

	const path = "/api/engine/v2/modules/mod-greet-1/exec/raise"
	for _, tc := range []struct {
		args       string
		status     int
		want       httpwire.ErrorBody
		retryAfter string
	}{
		{`{"code": 400, "class": "ERR2"}`, 400, httpwire.ErrorBody{Error: "bad_request", Message: "raised on purpose (ERR2)", Class: "ERR2"}, ""},
		{`{"code": 409, "class": "ERR4"}`, 409, httpwire.ErrorBody{Error: "request_failed", Message: "raised on purpose (ERR4)", Class: "ERR4"}, ""},
		{`{"code": 500, "class": "ERR5"}`, 500, httpwire.ErrorBody{Error: "request_failed", Message: "raised on purpose (ERR5)", Class: "ERR5"}, ""},
		{`{"code": 400}`, 400, httpwire.ErrorBody{Error: "bad_request", Message: "missing argument 'class' for 'raise'"}, ""},
		// A busy device's 503 says when to try again, in whole seconds rounded up (and in
		// milliseconds in the body); without a hint a 503 says 1.
		{`{"code": 503, "class": "ERR3", "retry_after_ms": 4500}`, 503,
			httpwire.ErrorBody{Error: "request_failed", Message: "raised on purpose (ERR3)", Class: "ERR3", RetryAfterMs: 4500}, "5"},
		{`{"code": 503, "class": "E22"}`, 503, httpwire.ErrorBody{Error: "request_failed", Message: "raised on purpose (E22)", Class: "E22"}, "1"},
	} {
		r := e.Do("POST", path, tc.args)
		var got httpwire.ErrorBody
		if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
			t.Fatalf("%s: %d %s: %v", tc.args, r.Status, r.Body, err)
		}
		tc.want.ModuleID = "mod-greet-1"
		if r.Status != tc.status || !reflect.DeepEqual(got, tc.want) || r.Header.Get("Retry-After") != tc.retryAfter {
			t.Errorf("%s: %d %+v Retry-After %q; want %d %+v Retry-After %q", tc.args, r.Status, got, r.Header.Get("Retry-After"),
				tc.status, tc.want, tc.retryAfter)
		}
	}
}

// What an SDK driver's function sees of its call's end: the caller's deadline as ctx.Deadline(),
// and, once the engine gives up, context.DeadlineExceeded at that deadline or context.Canceled
// when the caller went away — in the context the SDK derives for the function, not only in the
// one the call arrived with. The caller gets the engine's 504 at the deadline.
func TestDriverSeesTheCallsEnd(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/sdkdriver")
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-callend", greetModel(drv, 1))
	const exec = "/api/engine/v2/modules/mod-greet-1/exec/wait"
	const state = "/api/engine/v2/modules/mod-greet-1/state/waited"
	type waited struct {
		Err        string `json:"err"`
		DeadlineMS int64  `json:"deadline_ms"`
	}
	read := func(want string) waited {
		t.Helper()
		var w waited
		e.Eventually(10*time.Second, "the driver's status waited says "+want, func() bool {
			return json.Unmarshal([]byte(e.Do("GET", state, "").Body), &w) == nil && w.Err == want
		})
		return w
	}

	if r := e.Do("POST", exec+"?timeout=400", ""); r.Status != 504 {
		t.Fatalf("wait with a 400 ms timeout: %d %s, want 504", r.Status, r.Body)
	}
	if w := read("context deadline exceeded"); w.DeadlineMS < 300 || w.DeadlineMS > 400 {
		t.Fatalf("the driver saw a deadline %d ms away, want about 400", w.DeadlineMS)
	}

	// A caller that goes away without a timeout of its own: the default deadline, a minute away.
	client := &http.Client{Timeout: 300 * time.Millisecond}
	if resp, err := client.Post(e.Base+exec, "application/json", nil); err == nil {
		resp.Body.Close()
		t.Fatalf("the call answered %d before the client gave up", resp.StatusCode)
	}
	if w := read("context canceled"); w.DeadlineMS < 50_000 {
		t.Fatalf("the driver saw a deadline %d ms away, want the engine's default of a minute", w.DeadlineMS)
	}
}
