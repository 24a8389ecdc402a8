package e2e

import (
	"encoding/json"
	"reflect"
	"testing"

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
		// A busy device's 503 says when to try again, in whole seconds rounded up; without a
		// hint a 503 says 1.
		{`{"code": 503, "class": "ERR3", "retry_after_ms": 4500}`, 503,
			httpwire.ErrorBody{Error: "request_failed", Message: "raised on purpose (ERR3)", Class: "ERR3"}, "5"},
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
