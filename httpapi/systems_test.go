package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
)

const base = ClientBase

// TestSystemExecPassesTheCall: the body reaches the engine's execute as sent, with the caller,
// the request id and the deadline the caller asked for; the engine decides the rest.
func TestSystemExecPassesTheCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body, wantArgs string
		target                     call.Target
		timeout                    time.Duration
	}{
		{"array", "/systems/sys-1/Display_1/volume", `[40, true]`, `[40, true]`, call.Target{SystemID: "sys-1", Name: "Display", Index: 1}, 0},
		{"object", "/systems/sys-1/Display_2/volume", `{"ramp": true, "level": 40}`, `{"ramp": true, "level": 40}`, call.Target{SystemID: "sys-1", Name: "Display", Index: 2}, 0},
		{"no body", "/systems/sys-1/Display/reboot", ``, ``, call.Target{SystemID: "sys-1", Name: "Display", Index: 1}, 0},
		{"whitespace body", "/systems/sys-1/Display/reboot", " \n ", ``, call.Target{SystemID: "sys-1", Name: "Display", Index: 1}, 0},
		{"empty array", "/systems/sys-1/Display_1/reboot", `[]`, `[]`, call.Target{SystemID: "sys-1", Name: "Display", Index: 1}, 0},
		{"deadline asked for", "/systems/sys-1/Display_1/reboot?timeout=1500", `[]`, `[]`, call.Target{SystemID: "sys-1", Name: "Display", Index: 1}, 1500 * time.Millisecond},
		{"by module id", "/modules/mod-2/exec/reboot", `[]`, `[]`, call.Target{ModuleID: "mod-2"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, as(auth.ClearanceSupport))
			rid := "rid-" + strings.ReplaceAll(tt.name, " ", "-")
			code, body, rec := hs.do(t, http.MethodPost, base+tt.path, tt.body, RequestIDHeader, rid)
			if code != http.StatusOK || body != `{"ok": true}` {
				t.Fatalf("got %d %s", code, body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			got := hs.eng.lastCall(t)
			want := tt.target
			if want.ModuleID == "" {
				want.ModuleID = map[int]string{1: "mod-1", 2: "mod-2"}[want.Index]
			}
			if got.Target != want || string(got.Args) != tt.wantArgs || got.RequestID != rid || got.Timeout != tt.timeout ||
				got.Caller != (auth.Caller{UserID: "u-1", Clearance: auth.ClearanceSupport}) {
				t.Fatalf("engine got %+v, want target %+v args %q timeout %s", got, want, tt.wantArgs, tt.timeout)
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
	}{
		{"object kept byte for byte", `{"z": 1,  "a": [3, 2, 1.50]}`, 200},
		{"driver code", `"queued"`, 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			hs.eng.execFn = func(context.Context, call.Request) (call.Result, error) {
				return call.Result{Value: json.RawMessage(tt.result), Code: tt.code}, nil
			}
			code, body, _ := hs.do(t, http.MethodPost, base+"/systems/sys-1/Display_1/power", `[true]`)
			if code != tt.code || body != tt.result {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.code, tt.result)
			}
		})
	}
}

// TestSystemExecErrors pins the status and the exact body of every bad-input and failure case
// the HTTP layer answers or passes on. (What the core refuses — unknown functions, arguments
// that do not bind, clearance — is tested in package core, with its messages.)
func TestSystemExecErrors(t *testing.T) {
	t.Parallel()
	engineErr := func(err error) func(context.Context, call.Request) (call.Result, error) {
		return func(context.Context, call.Request) (call.Result, error) { return call.Result{}, err }
	}
	tests := []struct {
		name   string
		path   string
		body   string
		exec   func(context.Context, call.Request) (call.Result, error)
		status int
		want   string
		called bool
	}{
		{name: "unknown system", path: "/systems/sys-nope/Display_1/power", body: `[true]`, status: 404,
			want: `{"error":"system_not_found","message":"could not find system sys-nope","sys_id":"sys-nope","module_name":"Display","index":1}`},
		{name: "unknown module", path: "/systems/sys-1/Camera_1/power", body: `[true]`, status: 404,
			want: `{"error":"module_not_found","message":"could not find module Camera_1 in system sys-1","sys_id":"sys-1","module_name":"Camera","index":1}`},
		{name: "bad slug", path: "/systems/sys-1/Display_0/power", body: `[true]`, status: 400,
			want: `{"error":"bad_request","message":"module index in \"Display_0\" must be 1 or more","sys_id":"sys-1","module_name":"Display_0"}`},
		{name: "cut-off literal", path: "/systems/sys-1/Display_1/power", body: `[tru`, status: 400,
			want: `{"error":"parse_error","message":"arguments: unexpected end of JSON input at offset 4","sys_id":"sys-1","module_name":"Display","index":1}`},
		{name: "bad character", path: "/systems/sys-1/Display_1/power", body: ` [1 x]`, status: 400,
			want: `{"error":"parse_error","message":"arguments: invalid character 'x' after array element at offset 4","sys_id":"sys-1","module_name":"Display","index":1}`},
		{name: "malformed JSON", path: "/systems/sys-1/Display_1/power", body: `[true,`, status: 400,
			want: `{"error":"parse_error","message":"arguments: unexpected end of JSON input at offset 6","sys_id":"sys-1","module_name":"Display","index":1}`},
		{name: "scalar body", path: "/systems/sys-1/Display_1/power", body: `true`, status: 400,
			want: `{"error":"bad_request","message":"request body must be a JSON array (positional arguments) or object (named arguments)","sys_id":"sys-1","module_name":"Display","index":1}`},
		{name: "bad timeout parameter", path: "/systems/sys-1/Display_1/power?timeout=soon", body: `[true]`, status: 400,
			want: `{"error":"bad_request","message":"timeout must be a positive number of milliseconds, got \"soon\"","sys_id":"sys-1","module_name":"Display","index":1}`},
		{name: "negative timeout", path: "/systems/sys-1/Display_1/power?timeout=-5", body: `[true]`, status: 400,
			want: `{"error":"bad_request","message":"timeout must be a positive number of milliseconds, got \"-5\"","sys_id":"sys-1","module_name":"Display","index":1}`},
		{name: "engine refused", path: "/systems/sys-1/Display_1/explode", body: `[]`, called: true, status: 400,
			exec: engineErr(errkind.Wrap(errkind.BadRequest, nil, "could not find function explode")),
			want: `{"error":"bad_request","message":"could not find function explode","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "access denied", path: "/systems/sys-1/Display_1/secret", body: `[]`, called: true, status: 403,
			exec: engineErr(errkind.Wrap(errkind.Forbidden, nil, "attempted to access privileged function secret")),
			want: `{"error":"access_denied","message":"attempted to access privileged function secret","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "driver raised", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 500,
			exec: engineErr(&errkind.DriverError{Class: "Abort", Message: "retry limit reached", Backtrace: []string{"display.go:10", "sdk.go:20"}}),
			want: `{"error":"request_failed","message":"retry limit reached (Abort)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1","class":"Abort","backtrace":["display.go:10","sdk.go:20"]}`},
		{name: "driver raised with code", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 422,
			exec: engineErr(&errkind.DriverError{Class: "Invalid", Message: "input busy", Code: 422}),
			want: `{"error":"request_failed","message":"input busy (Invalid)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1","class":"Invalid"}`},
		{name: "driver argument error", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 400,
			exec: engineErr(errkind.Wrap(errkind.Internal, &errkind.DriverError{Class: "ArgumentError", Message: "state: bad bool"}, "exec")),
			want: `{"error":"bad_request","message":"state: bad bool (ArgumentError)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1","class":"ArgumentError"}`},
		{name: "driver restarting", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 503,
			exec: engineErr(errkind.New(errkind.Unavailable, "driver process restarting")),
			want: `{"error":"unavailable","message":"driver process restarting","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "timeout", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 504,
			exec: engineErr(errkind.New(errkind.Timeout, "power did not answer within 50ms")),
			want: `{"error":"unexpected_failure","message":"power did not answer within 50ms","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
		{name: "engine bug hidden", path: "/systems/sys-1/Display_1/power", body: `[true]`, called: true, status: 500,
			exec: engineErr(errkind.New(errkind.Internal, "redis at 10.1.2.3 said no")),
			want: `{"error":"unexpected_failure","message":"unexpected failure (request id rid-1)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			hs.eng.execFn = tt.exec
			code, body, rec := hs.do(t, http.MethodPost, base+tt.path, tt.body, RequestIDHeader, "rid-1")
			if code != tt.status || body != tt.want {
				t.Fatalf("got %d\n%s\nwant %d\n%s", code, body, tt.status, tt.want)
			}
			if rec.Header().Get(RequestIDHeader) != "rid-1" {
				t.Fatalf("X-Request-ID %q", rec.Header().Get(RequestIDHeader))
			}
			if called := hs.eng.callCount() > 0; called != tt.called {
				t.Fatalf("engine called = %v, want %v", called, tt.called)
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
			`{"error":"unexpected_failure","message":"unexpected failure (request id r)","sys_id":"sys-1","module_name":"Display","index":1}`},
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
