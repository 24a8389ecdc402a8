package httpapi

import (
	"net/http"
	"testing"

	"github.com/placeos-go/engine/errkind"
)

func TestNodeRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path string
		ready              bool
		status             int
		want               string
	}{
		{"liveness", "GET", "/", false, 200, ``},
		{"liveness head", "HEAD", "/", false, 200, ``},
		{"ready", "GET", NodeBase + "/ready", true, 200, `{"ready":true}`},
		{"not ready", "GET", NodeBase + "/ready", false, 503, `{"ready":false}`},
		{"status", "GET", NodeBase + "/status", true, 200, `{"build_failures":[],"drivers":["drv/display"]}`},
		{"loaded", "GET", NodeBase + "/status/loaded", true, 200, `{"drv/display":["mod-1"]}`},
		{"driver", "GET", NodeBase + "/status/driver?path=drv/display", true, 200, `{"pid":42,"running":true,"state":"running"}`},
		{"driver unknown", "GET", NodeBase + "/status/driver?path=drv/x", true, 404,
			`{"error":"not_found","message":"no driver process on this node runs drv/x: path is the driver key, the file path of the binary as GET /api/core/v1/status/loaded lists it"}`},
		// Driver keys of repository drivers hold a "+": pasted as is, or encoded.
		{"driver key pasted", "GET", NodeBase + "/status/driver?path=drivers+hello_1234567_linux-amd64", true, 200, `{"pid":42,"running":true,"state":"running"}`},
		{"driver key encoded", "GET", NodeBase + "/status/driver?x=1&path=drivers%2Bhello_1234567_linux-amd64", true, 200, `{"pid":42,"running":true,"state":"running"}`},
		{"driver key badly encoded", "GET", NodeBase + "/status/driver?path=drv%zz", true, 400,
			`{"error":"bad_request","message":"query parameter path is not URL-encoded: invalid URL escape \"%zz\""}`},
		{"driver without path", "GET", NodeBase + "/status/driver", true, 400,
			`{"error":"bad_request","message":"query parameter path is required: the driver key, the file path of the binary as GET /api/core/v1/status/loaded lists it"}`},
		{"chaos", "POST", NodeBase + "/chaos/terminate?path=drv/display", true, 200, ``},
		{"chaos unknown", "POST", NodeBase + "/chaos/terminate?path=drv/x", true, 404,
			`{"error":"not_found","message":"no driver process on this node runs drv/x: path is the driver key, the file path of the binary as GET /api/core/v1/status/loaded lists it"}`},
		{"chaos by GET", "GET", NodeBase + "/chaos/terminate?path=drv/display", true, 405,
			`{"error":"bad_request","message":"method GET not allowed on /api/core/v1/chaos/terminate"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			hs.eng.ready = tt.ready
			code, body, _ := hs.do(t, tt.method, tt.path, "")
			if code != tt.status || body != tt.want {
				t.Fatalf("got %d %s\nwant %d %s", code, body, tt.status, tt.want)
			}
		})
	}
}

func TestChaosTerminateKills(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	if code, _, _ := hs.do(t, http.MethodPost, NodeBase+"/chaos/terminate?path=drv/display", ""); code != 200 {
		t.Fatal(code)
	}
	if len(hs.eng.killed) != 1 || hs.eng.killed[0] != "drv/display" {
		t.Fatalf("killed %v", hs.eng.killed)
	}
}

func TestClusterRouteStandalone(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	code, body, _ := hs.do(t, http.MethodGet, base+"/cluster", "")
	if code != 404 || body != `{"error":"module_not_found","message":"this node is not part of a cluster"}` {
		t.Fatalf("got %d %s", code, body)
	}
}

// TestNotMemberState: a node that is not a member of the cluster says so by name on GET /ready
// (the reason stays off this open route: it names the members' cluster ports) and, with the
// reason and what to do, on GET /cluster — with no Retry-After: waiting does not end that state.
func TestNotMemberState(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.eng.ready = true
	hs.eng.notMember = errkind.WithState(errkind.New(errkind.Unavailable, "this node is not a member of the cluster (why): do this"), "not a member")
	if code, body, _ := hs.do(t, "GET", NodeBase+"/ready", ""); code != 503 || body != `{"ready":false,"state":"not a member"}` {
		t.Fatalf("ready: %d %s", code, body)
	}
	code, body, rec := hs.do(t, "GET", "/api/engine/v2/cluster", "")
	if code != 503 || body != `{"error":"unavailable","message":"this node is not a member of the cluster (why): do this","state":"not a member"}` {
		t.Fatalf("cluster: %d %s", code, body)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "" {
		t.Fatalf("cluster: Retry-After %q on a state retrying does not end", ra)
	}
}
