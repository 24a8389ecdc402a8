package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
)

const base = ClientBase

func TestSystemExecBindsArrayAndObjectBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body, wantArgs string
	}{
		{"array", "/systems/sys-1/Display_1/volume", `[40, true]`, `[40, true]`},
		{"array defaults", "/systems/sys-1/Display_1/volume", `[40]`, `[40]`},
		{"object", "/systems/sys-1/Display_1/volume", `{"ramp": true, "level": 40}`, `{"ramp": true, "level": 40}`},
		{"no body", "/systems/sys-1/Display/reboot", ``, ``},
		{"whitespace body", "/systems/sys-1/Display/reboot", " \n ", ``},
		{"empty array", "/systems/sys-1/Display_1/reboot", `[]`, `[]`},
		{"null passes through", "/systems/sys-1/Display_1/mix", `[null]`, `[null]`},
		{"number for number", "/systems/sys-1/Display_1/mix", `[2.5]`, `[2.5]`},
		{"integer for number", "/systems/sys-1/Display_1/mix", `{"gain": 2}`, `{"gain": 2}`},
		{"untyped param takes anything", "/systems/sys-1/Display_1/input", `["hdmi", {"x": [1]}]`, `["hdmi", {"x": [1]}]`},
		{"null for untyped", "/systems/sys-1/Display_1/input", `{"name": "a", "extra": null}`, `{"name": "a", "extra": null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			rid := "rid-" + strings.ReplaceAll(tt.name, " ", "-")
			code, body, rec := hs.do(t, http.MethodPost, base+tt.path, tt.body, RequestIDHeader, rid)
			if code != http.StatusOK || body != `{"ok": true}` {
				t.Fatalf("got %d %s", code, body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			call := hs.mods.lastCall(t)
			if call.ModuleID != "mod-1" || call.Args != tt.wantArgs || call.RequestID != rid {
				t.Fatalf("driver got %+v, want args %q", call, tt.wantArgs)
			}
		})
	}
}

func TestSystemExecPassesResultThroughRaw(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		result string
		code   int
		want   string
		status int
	}{
		{"object kept byte for byte", `{"z": 1,  "a": [3, 2, 1.50]}`, 200, `{"z": 1,  "a": [3, 2, 1.50]}`, 200},
		{"driver code", `"queued"`, 202, `"queued"`, 202},
		{"empty result is null", ``, 200, `null`, 200},
		{"no code is 200", `true`, 0, `true`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			hs.mods.execFn = func(context.Context, string, string, json.RawMessage) (json.RawMessage, int, error) {
				return json.RawMessage(tt.result), tt.code, nil
			}
			code, body, _ := hs.do(t, http.MethodPost, base+"/systems/sys-1/Display_1/power", `[true]`)
			if code != tt.status || body != tt.want {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.status, tt.want)
			}
		})
	}
}

// TestSystemExecErrors pins the status and the exact body of every bad-input and failure case.
func TestSystemExecErrors(t *testing.T) {
	t.Parallel()
	driverErr := func(err error) func(context.Context, string, string, json.RawMessage) (json.RawMessage, int, error) {
		return func(context.Context, string, string, json.RawMessage) (json.RawMessage, int, error) {
			return nil, 0, err
		}
	}
	tests := []struct {
		name   string
		path   string
		body   string
		exec   func(context.Context, string, string, json.RawMessage) (json.RawMessage, int, error)
		status int
		want   string
		called bool
	}{
		{name: "unknown system", path: "/systems/sys-nope/Display_1/power", body: `[true]`, status: 404,
			want: `{"error":"system_not_found","message":"could not find system sys-nope","sys_id":"sys-nope","module_name":"Display","index":1}`},
		{name: "unknown module", path: "/systems/sys-1/Camera_1/power", body: `[true]`, status: 404,
			want: `{"error":"module_not_found","message":"could not find module Camera_1 in system sys-1","sys_id":"sys-1","module_name":"Camera","index":1}`},
		{name: "index beyond the system", path: "/systems/sys-1/Display_3/power", body: `[true]`, status: 404,
			want: `{"error":"module_not_found","message":"could not find module Display_3 in system sys-1","sys_id":"sys-1","module_name":"Display","index":3}`},
		{name: "module without metadata", path: "/systems/sys-1/Display_2/power", body: `[true]`, status: 404,
			want: `{"error":"module_not_found","message":"could not find module mod-2: it has no metadata (never started?)","sys_id":"sys-1","module_name":"Display","index":2,"module_id":"mod-2"}`},
		{name: "bad slug", path: "/systems/sys-1/Display_0/power", body: `[true]`, status: 400,
			want: `{"error":"bad_request","message":"module index in \"Display_0\" must be 1 or more","sys_id":"sys-1","module_name":"Display_0"}`},
		{name: "unknown function", path: "/systems/sys-1/Display_1/explode", body: `[]`, status: 400,
			want: `{"error":"bad_request","message":"could not find function explode","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "too many arguments", path: "/systems/sys-1/Display_1/power", body: `[true, 1]`, status: 400,
			want: `{"error":"bad_request","message":"wrong number of arguments for 'power' (given 2, expected 1)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "too many with optional", path: "/systems/sys-1/Display_1/volume", body: `[1, true, 3]`, status: 400,
			want: `{"error":"bad_request","message":"wrong number of arguments for 'volume' (given 3, expected 2)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "missing positional", path: "/systems/sys-1/Display_1/power", body: `[]`, status: 400,
			want: `{"error":"bad_request","message":"missing argument 'state' for 'power'","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "missing with no body", path: "/systems/sys-1/Display_1/power", body: ``, status: 400,
			want: `{"error":"bad_request","message":"missing argument 'state' for 'power'","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "missing named", path: "/systems/sys-1/Display_1/volume", body: `{"ramp": true}`, status: 400,
			want: `{"error":"bad_request","message":"missing argument 'level' for 'volume'","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "wrong type positional", path: "/systems/sys-1/Display_1/power", body: `["on"]`, status: 400,
			want: `{"error":"bad_request","message":"argument 'state' for 'power' must be boolean, got string","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "float for integer", path: "/systems/sys-1/Display_1/volume", body: `{"level": 4.5}`, status: 400,
			want: `{"error":"bad_request","message":"argument 'level' for 'volume' must be integer, got number","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "type list", path: "/systems/sys-1/Display_1/mix", body: `["loud"]`, status: 400,
			want: `{"error":"bad_request","message":"argument 'gain' for 'mix' must be number or null, got string","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "null for non-nullable", path: "/systems/sys-1/Display_1/power", body: `[null]`, status: 400,
			want: `{"error":"bad_request","message":"argument 'state' for 'power' must be boolean, got null","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "unknown named argument", path: "/systems/sys-1/Display_1/power", body: `{"state": true, "colour": "red"}`, status: 400,
			want: `{"error":"bad_request","message":"unknown argument 'colour' for 'power'","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "malformed JSON", path: "/systems/sys-1/Display_1/power", body: `[true,`, status: 400,
			want: `{"error":"parse_error","message":"request body is not valid JSON: unexpected end of JSON input","sys_id":"sys-1","module_name":"Display","index":1}`},
		{name: "scalar body", path: "/systems/sys-1/Display_1/power", body: `true`, status: 400,
			want: `{"error":"bad_request","message":"request body must be a JSON array (positional arguments) or object (named arguments)","sys_id":"sys-1","module_name":"Display","index":1}`},
		{name: "hidden level refused even to admin", path: "/systems/sys-1/Display_1/secret", body: `[]`, status: 403,
			want: `{"error":"access_denied","message":"attempted to access privileged function secret","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "driver raised", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 500,
			exec: driverErr(&errkind.DriverError{Class: "Abort", Message: "retry limit reached", Backtrace: []string{"display.go:10", "sdk.go:20"}}),
			want: `{"error":"request_failed","message":"retry limit reached (Abort)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1","backtrace":["display.go:10","sdk.go:20"]}`},
		{name: "driver raised with code", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 422,
			exec: driverErr(&errkind.DriverError{Class: "Invalid", Message: "input busy", Code: 422}),
			want: `{"error":"request_failed","message":"input busy (Invalid)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "driver argument error", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 400,
			exec: driverErr(errkind.Wrap(errkind.Internal, &errkind.DriverError{Class: "ArgumentError", Message: "state: bad bool"}, "exec")),
			want: `{"error":"bad_request","message":"state: bad bool (ArgumentError)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "driver restarting", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 503,
			exec: driverErr(errkind.New(errkind.Unavailable, "driver process restarting")),
			want: `{"error":"unexpected_failure","message":"driver process restarting","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "timeout kind", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 504,
			exec: driverErr(errkind.New(errkind.Timeout, "driver did not answer")),
			want: `{"error":"unexpected_failure","message":"driver did not answer","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "engine bug hidden", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 500,
			exec: driverErr(errkind.New(errkind.Internal, "redis at 10.1.2.3 said no")),
			want: `{"error":"unexpected_failure","message":"unexpected failure (request id rid-1)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "bad timeout parameter", path: "/systems/sys-1/Display_1/power?timeout=soon", body: `[true]`, status: 400,
			want: `{"error":"bad_request","message":"timeout must be a positive number of milliseconds, got \"soon\"","sys_id":"sys-1","module_name":"Display","index":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			hs.mods.execFn = tt.exec
			code, body, rec := hs.do(t, http.MethodPost, base+tt.path, tt.body, RequestIDHeader, "rid-1")
			if code != tt.status || body != tt.want {
				t.Fatalf("got %d\n%s\nwant %d\n%s", code, body, tt.status, tt.want)
			}
			if rec.Header().Get(RequestIDHeader) != "rid-1" {
				t.Fatalf("X-Request-ID %q", rec.Header().Get(RequestIDHeader))
			}
			if called := hs.mods.callCount() > 0; called != tt.called {
				t.Fatalf("driver called = %v, want %v", called, tt.called)
			}
		})
	}
}

func TestSystemExecTimeout(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	// The driver ignores deadlines until its context ends, as a hung call would.
	hs.mods.execFn = func(ctx context.Context, _, _ string, _ json.RawMessage) (json.RawMessage, int, error) {
		<-ctx.Done()
		return nil, 0, ctx.Err()
	}
	start := time.Now()
	code, body, _ := hs.do(t, http.MethodPost, base+"/systems/sys-1/Display_1/power?timeout=50", `[true]`)
	if code != http.StatusGatewayTimeout || !strings.Contains(body, `"message":"power did not answer within 50ms`) {
		t.Fatalf("got %d %s", code, body)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("timeout took %s", elapsed)
	}
}

func TestExecTimeoutCannotExceedConfig(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, func(c *Config) { c.ExecTimeout = 2 * time.Second })
	var got time.Duration
	hs.mods.execFn = func(ctx context.Context, _, _ string, _ json.RawMessage) (json.RawMessage, int, error) {
		dl, _ := ctx.Deadline()
		got = time.Until(dl)
		return json.RawMessage("null"), 200, nil
	}
	if code, body, _ := hs.do(t, http.MethodPost, base+"/systems/sys-1/Display_1/reboot?timeout=600000", ``); code != 200 {
		t.Fatalf("got %d %s", code, body)
	}
	if got <= 0 || got > 2*time.Second {
		t.Fatalf("driver deadline %s, want at most the configured 2s", got)
	}
}

func TestClearance(t *testing.T) {
	t.Parallel()
	as := func(c Clearance) func(*Config) {
		return func(cfg *Config) {
			cfg.Authenticate = func(*http.Request) (Caller, error) { return Caller{UserID: "u-1", Clearance: c}, nil }
		}
	}
	tests := []struct {
		clearance Clearance
		fn        string
		status    int
	}{
		{ClearanceUser, "power", 200},
		{ClearanceUser, "reboot", 403},
		{ClearanceSupport, "reboot", 200},
		{ClearanceSupport, "factory_reset", 403},
		{ClearanceAdmin, "factory_reset", 200},
		{ClearanceAdmin, "secret", 403},
	}
	for _, tt := range tests {
		t.Run(tt.clearance.String()+"/"+tt.fn, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, as(tt.clearance))
			args := `[]`
			if tt.fn == "power" {
				args = `[true]`
			}
			code, body, _ := hs.do(t, http.MethodPost, base+"/systems/sys-1/Display_1/"+tt.fn, args)
			if code != tt.status {
				t.Fatalf("got %d %s", code, body)
			}
			if code == 200 && hs.mods.lastCall(t).UserID != "u-1" {
				t.Fatalf("driver got user %q", hs.mods.lastCall(t).UserID)
			}
		})
	}
}

func TestSystemState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path string
		status     int
		want       string
	}{
		{"state", "/systems/sys-1/Display_1", 200, `{"broken":"{not json","input":"\"hdmi\"","power":"true"}`},
		{"state of unstarted module", "/systems/sys-1/Display_2", 200, `{}`},
		{"state of unknown module", "/systems/sys-1/Camera", 200, `{}`},
		{"state of unknown system", "/systems/sys-nope/Display", 404,
			`{"error":"system_not_found","message":"could not find system sys-nope","sys_id":"sys-nope","module_name":"Display","index":1}`},
		{"status", "/systems/sys-1/Display_1/input", 200, `"hdmi"`},
		{"missing status", "/systems/sys-1/Display_1/volume", 200, `null`},
		{"status of unknown module", "/systems/sys-1/Camera_2/power", 200, `null`},
		{"corrupt status", "/systems/sys-1/Display_1/broken", 500,
			`{"error":"unexpected_failure","message":"unexpected failure (request id r)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{"types", "/systems/sys-1/types", 200, `{"Display":2}`},
		{"types of empty system", "/systems/sys-empty/types", 200, `{}`},
		{"types of unknown system", "/systems/sys-nope/types", 404,
			`{"error":"system_not_found","message":"could not find system sys-nope","sys_id":"sys-nope"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			code, body, _ := hs.do(t, http.MethodGet, base+tt.path, "", RequestIDHeader, "r")
			if code != tt.status || body != tt.want {
				t.Fatalf("got %d %s\nwant %d %s", code, body, tt.status, tt.want)
			}
		})
	}
}
