package httpapi

import (
	"net/http"
	"testing"

	"github.com/placeos-go/engine/auth"
)

// TestFunctionListing: the functions the engine lets the caller see, rendered in declaration
// order with each parameter's schema as the driver published it ({} when it published none), and
// the security level of a function listed under one.
func TestFunctionListing(t *testing.T) {
	t.Parallel()
	const (
		volume = `"volume":{"arity":2,"params":{"level":{"type":"integer","title":"int","minimum":0},"ramp":{"type":"boolean","title":"bool","default":false}},"order":["level","ramp"]}`
		power  = `"power":{"arity":1,"params":{"state":{"type":"boolean","title":"bool"}},"order":["state"]}`
		legacy = `"legacy":{"arity":2,"params":{"b":{},"a":{}},"order":["b","a"]}`
		reboot = `"reboot":{"arity":0,"params":{},"order":[],"security":"support"}`
		reset  = `"factory_reset":{"arity":0,"params":{},"order":[],"security":"administrator"}`
	)
	tests := []struct {
		clearance auth.Clearance
		want      string
	}{
		{auth.ClearanceAdmin, "{" + volume + "," + power + "," + legacy + "," + reboot + "," + reset + "}"},
		{auth.ClearanceSupport, "{" + volume + "," + power + "," + legacy + "," + reboot + "}"},
		{auth.ClearanceUser, "{" + volume + "," + power + "," + legacy + "}"},
	}
	for _, tt := range tests {
		t.Run(tt.clearance.String(), func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, as(tt.clearance))
			code, body, _ := hs.do(t, http.MethodGet, base+"/systems/sys-1/functions/Display_1", "")
			if code != 200 || body != tt.want {
				t.Fatalf("got %d\n%s\nwant\n%s", code, body, tt.want)
			}
		})
	}
}

func TestFunctionListingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path string
		status     int
		want       string
	}{
		{"no metadata", "/systems/sys-1/functions/Display_2", 404,
			`{"error":"module_not_found","message":"could not find module mod-2: it has no metadata (never started?)","sys_id":"sys-1","module_name":"Display","index":2}`},
		{"unknown module", "/systems/sys-1/functions/Camera", 404,
			`{"error":"module_not_found","message":"could not find module Camera_1 in system sys-1","sys_id":"sys-1","module_name":"Camera","index":1}`},
		{"unknown system", "/systems/sys-x/functions/Camera", 404,
			`{"error":"system_not_found","message":"could not find system sys-x","sys_id":"sys-x","module_name":"Camera","index":1}`},
		{"bad slug", "/systems/sys-1/functions/Camera_0", 400,
			`{"error":"bad_request","message":"module index in \"Camera_0\" must be 1 or more","sys_id":"sys-1","module_name":"Camera_0"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			code, body, _ := hs.do(t, http.MethodGet, base+tt.path, "")
			if code != tt.status || body != tt.want {
				t.Fatalf("got %d %s", code, body)
			}
		})
	}
}
