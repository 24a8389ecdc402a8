package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
)

func TestModuleRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"exec", "POST", "/modules/mod-1/exec/power", `{"state": false}`, 200, `{"ok": true}`},
		{"exec malformed", "POST", "/modules/mod-1/exec/volume", `{"level":`, 400,
			`{"error":"parse_error","message":"arguments: unexpected end of JSON input at offset 9","module_id":"mod-1"}`},
		{"state", "GET", "/modules/mod-1/state", "", 200, `{"broken":"{not json","input":"\"hdmi\"","power":"true"}`},
		{"state of module with none", "GET", "/modules/mod-2/state", "", 200, `{}`},
		{"state of unknown module", "GET", "/modules/mod-gone/state", "", 404,
			`{"error":"module_not_found","message":"module mod-gone does not exist","module_id":"mod-gone"}`},
		{"status", "GET", "/modules/mod-1/state/power", "", 200, `true`},
		{"missing status", "GET", "/modules/mod-1/state/nope", "", 200, `null`},
		{"start", "POST", "/modules/mod-1/start", "", 200, ``},
		{"stop", "POST", "/modules/mod-1/stop", "", 200, ``},
		{"stop unknown", "POST", "/modules/mod-gone/stop", "", 404,
			`{"error":"module_not_found","message":"module mod-gone does not exist","module_id":"mod-gone"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			code, body, _ := hs.do(t, tt.method, base+tt.path, tt.body)
			if code != tt.status || body != tt.want {
				t.Fatalf("got %d %s\nwant %d %s", code, body, tt.status, tt.want)
			}
		})
	}
}

func TestModuleStartStopReachEngine(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.do(t, "POST", base+"/modules/mod-1/start", "")
	hs.do(t, "POST", base+"/modules/mod-2/stop", "")
	if len(hs.eng.started) != 1 || hs.eng.started[0] != "mod-1" || len(hs.eng.stopped) != 1 || hs.eng.stopped[0] != "mod-2" {
		t.Fatalf("started %v stopped %v", hs.eng.started, hs.eng.stopped)
	}
	hs.eng.startErr = errkind.New(errkind.Unavailable, "driver is restarting")
	code, body, rec := hs.do(t, "POST", base+"/modules/mod-1/start", "")
	if code != 503 || rec.Header().Get("Retry-After") != "1" ||
		body != `{"error":"unavailable","message":"driver is restarting","module_id":"mod-1"}` {
		t.Fatalf("got %d %s", code, body)
	}
}

func TestModuleExecRawResult(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.eng.execFn = func(context.Context, call.Request) (call.Result, error) {
		return call.Result{Value: json.RawMessage(`[3,  1, {"b":2,"a":1}]`), Code: 200}, nil
	}
	code, body, _ := hs.do(t, http.MethodPost, base+"/modules/mod-1/exec/reboot", ``)
	if code != 200 || body != `[3,  1, {"b":2,"a":1}]` {
		t.Fatalf("got %d %s", code, body)
	}
}
