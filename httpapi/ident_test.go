package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestWSIdentifierLimit (red team 9, finding 4): one user bound 250 statuses with names of a
// megabyte each, and Redis held 250 MB of subscriptions. Every identifier of every command is
// bounded at MaxIdentifierBytes — bytes, after JSON unescaping — and a longer one is refused with
// bad_request before anything is resolved, executed or subscribed to (real Redis behind the
// watches).
func TestWSIdentifierLimit(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t) // --auth none: an admin, so debug is allowed too
	c := env.dial(t)
	long := strings.Repeat("y", MaxIdentifierBytes+1)
	id := 0
	for _, cmd := range []string{"bind", "unbind", "exec", "debug", "ignore"} {
		for _, field := range []string{"sys", "mod", "name"} {
			req := map[string]any{"cmd": cmd, "sys": "sys-1", "mod": "Display", "index": 1, "name": "power"}
			req[field] = long
			for _, v := range []string{long, strings.Repeat("€", MaxIdentifierBytes/3+1), strings.Repeat(`\u0079`, MaxIdentifierBytes+1)} {
				id++
				req["id"] = id
				b, _ := json.Marshal(req)
				frame := strings.Replace(string(b), long, v, 1)
				c.send(frame)
				n := len(long)
				if strings.HasPrefix(v, "€") {
					n = len(strings.Repeat("€", MaxIdentifierBytes/3+1))
				}
				c.expect(fmt.Sprintf(`{"id":%d,"type":"error","code":400,"error_code":1,"msg":"%s is %d bytes long; an identifier may have at most %d bytes"}`,
					id, field, n, MaxIdentifierBytes))
			}
		}
	}
	// At the limit, and a long text whose unescaped value is within it, bind.
	for _, name := range []string{strings.Repeat("y", MaxIdentifierBytes), strings.Repeat(`\u00e9`, MaxIdentifierBytes/2)} {
		id++
		c.send(fmt.Sprintf(`{"id":%d,"cmd":"bind","sys":"sys-1","mod":"Display","name":"%s"}`, id, name))
		c.expect(fmt.Sprintf(`{"id":%d,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"%s"}}`, id, name))
	}
	c.quiet()
	if n := env.subs.Count(); n != 2 {
		t.Fatalf("watches = %d, want only the 2 within the limit", n)
	}
	if n := env.hs.eng.callCount(); n != 0 {
		t.Fatalf("the engine executed %d calls of refused requests", n)
	}
	if n := env.dbg.listeners(); n != 0 {
		t.Fatalf("%d debug streams attached for refused requests", n)
	}
}

// TestRESTIdentifierLimit: the path identifiers of the client routes that address a system or
// module (status, execute, functions, start/stop, settings) are bounded as the WebSocket's: 400 bad_request naming which one and its length, never the value,
// and the engine is not asked.
func TestRESTIdentifierLimit(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	long := strings.Repeat("y", MaxIdentifierBytes+1)
	ok := strings.Repeat("y", MaxIdentifierBytes)
	for _, tt := range []struct {
		method, path, what string
	}{
		{http.MethodGet, "/systems/%s/Display_1", "the system id"},
		{http.MethodGet, "/systems/sys-1/%s", "the module"},
		{http.MethodGet, "/systems/sys-1/Display_1/%s", "the status name"},
		{http.MethodPost, "/systems/sys-1/Display_1/%s", "the function name"},
		{http.MethodPost, "/systems/%s/Display_1/power", "the system id"},
		{http.MethodPost, "/modules/%s/exec/power", "the module id"},
		{http.MethodPost, "/modules/mod-1/exec/%s", "the function name"},
		{http.MethodGet, "/modules/%s/state", "the module id"},
		{http.MethodGet, "/modules/mod-1/state/%s", "the status name"},
		{http.MethodGet, "/systems/%s/functions/Display_1", "the system id"},
		{http.MethodGet, "/systems/sys-1/functions/%s", "the module"},
		{http.MethodGet, "/systems/%s/types", "the system id"},
		{http.MethodPost, "/modules/%s/start", "the module id"},
		{http.MethodGet, "/modules/%s/settings", "the module id"},
		{http.MethodPost, "/systems/%s/stop", "the system id"},
		{http.MethodGet, "/systems/%s/zones", "the system id"},
	} {
		body := ""
		if tt.method == http.MethodPost {
			body = "[]"
		}
		code, got, _ := hs.do(t, tt.method, base+fmt.Sprintf(tt.path, long), body)
		want := fmt.Sprintf(`{"error":"bad_request","message":"%s is %d bytes long; an identifier may have at most %d bytes"}`, tt.what, len(long), MaxIdentifierBytes)
		if code != http.StatusBadRequest || got != want {
			t.Errorf("%s %s: %d %s\nwant 400 %s", tt.method, tt.path, code, got, want)
		}
		if code, got, _ := hs.do(t, tt.method, base+fmt.Sprintf(tt.path, ok), body); code == http.StatusBadRequest && strings.Contains(got, "identifier") {
			t.Errorf("%s %s at the limit: %d %s", tt.method, tt.path, code, got)
		}
	}
	// Escaped: the value, unescaped, is what counts.
	if code, got, _ := hs.do(t, http.MethodGet, base+"/modules/"+strings.Repeat("%79", 256)+"/state", ""); code != http.StatusBadRequest ||
		!strings.Contains(got, "the module id is 256 bytes long") {
		t.Errorf("a 256-byte module id escaped: %d %s", code, got)
	}
	if code, got, _ := hs.do(t, http.MethodGet, base+"/modules/"+strings.Repeat("%79", 255)+"/state", ""); code == http.StatusBadRequest {
		t.Errorf("a 255-byte module id escaped: %d %s", code, got)
	}
	for _, c := range hs.eng.calls {
		if len(c.Function) > MaxIdentifierBytes || len(c.Target.SystemID) > MaxIdentifierBytes || len(c.Target.ModuleID) > MaxIdentifierBytes {
			t.Fatalf("the engine was asked %+v", c.Target)
		}
	}
}
