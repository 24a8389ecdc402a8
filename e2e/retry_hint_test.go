package e2e

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestRetryHintAcrossNodes: a busy device's 503 says when to try again (Retry-After, and
// retry_after_ms in the body) the same whichever node the client called — the owner, or a node
// that forwards the call to it — and a driver on another node calling the busy module gets the
// same hint, which its own caller sees in turn.
func TestRetryHintAcrossNodes(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(redis.URL), "retry", 2, clusterModel(drv), clusterModules)
	placed, err := c.Placement()
	if err != nil {
		t.Fatal(err)
	}
	owner, other := c.Nodes[1], c.Nodes[0]
	var target, caller string
	for i := 1; i <= clusterModules; i++ {
		id := fmt.Sprintf("mod-%02d", i)
		switch {
		case placed[id] == owner.ID && target == "":
			target = id
		case placed[id] == other.ID && caller == "":
			caller = id
		}
	}
	if target == "" || caller == "" {
		t.Fatalf("placement %v has no module on each node", placed)
	}

	want := httpwire.ErrorBody{Error: "request_failed", Message: "busy for 4500 ms (Busy)", ModuleID: target,
		Class: "Busy", RetryAfterMs: 4500}
	check := func(how string, r enginetest.Response, want httpwire.ErrorBody) {
		t.Helper()
		var got httpwire.ErrorBody
		if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
			t.Fatalf("%s: %d %s: %v", how, r.Status, r.Body, err)
		}
		got.Backtrace = nil
		if r.Status != 503 || r.Header.Get("Retry-After") != "5" || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d Retry-After %q %+v; want 503 Retry-After \"5\" %+v", how, r.Status, r.Header.Get("Retry-After"), got, want)
		}
	}
	busy := "/api/engine/v2/modules/" + target + "/exec/busy"
	check("at the owner", owner.Do("POST", busy, "[4500]"), want)
	check("through the other node", other.Do("POST", busy, "[4500]"), want)
	want.ModuleID = caller
	check("a driver on the other node calling it", other.Do("POST", "/api/engine/v2/modules/"+caller+"/exec/call",
		fmt.Sprintf(`[%q, "busy", [4500]]`, target)), want)
}
