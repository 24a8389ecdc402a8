package httpapi

import (
	"net/http"
	"testing"
)

func TestFunctionListing(t *testing.T) {
	t.Parallel()
	const (
		volume = `"volume":{"arity":2,"params":{"level":{"type":"integer","title":"int","minimum":0},"ramp":{"type":"boolean","title":"bool","default":false}},"order":["level","ramp"]}`
		power  = `"power":{"arity":1,"params":{"state":{"type":"boolean","title":"bool"}},"order":["state"]}`
		input  = `"input":{"arity":2,"params":{"name":{"type":"string","title":"string"},"extra":{"title":"any"}},"order":["name","extra"]}`
		reboot = `"reboot":{"arity":0,"params":{},"order":[]}`
		reset  = `"factory_reset":{"arity":0,"params":{},"order":[]}`
		mix    = `"mix":{"arity":1,"params":{"gain":{"type":["number","null"],"title":"*float64","default":1.5}},"order":["gain"]}`
	)
	tests := []struct {
		clearance Clearance
		want      string
	}{
		{ClearanceAdmin, "{" + volume + "," + power + "," + input + "," + reboot + "," + reset + "," + mix + "}"},
		{ClearanceSupport, "{" + volume + "," + power + "," + input + "," + reboot + "," + mix + "}"},
		{ClearanceUser, "{" + volume + "," + power + "," + input + "," + mix + "}"},
	}
	for _, tt := range tests {
		t.Run(tt.clearance.String(), func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, func(c *Config) {
				c.Authenticate = func(*http.Request) (Caller, error) { return Caller{Clearance: tt.clearance}, nil }
			})
			code, body, _ := hs.do(t, http.MethodGet, base+"/systems/sys-1/functions/Display_1", "")
			if code != 200 || body != tt.want {
				t.Fatalf("got %d\n%s\nwant\n%s", code, body, tt.want)
			}
		})
	}
}

func TestFunctionListingLegacyMetadata(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.mods.meta["mod-1"] = `{"functions": {"zeta": {"b": ["int"], "a": ["bool", true]}, "alpha": {}}}`
	code, body, _ := hs.do(t, http.MethodGet, base+"/systems/sys-1/functions/Display", "")
	want := `{"zeta":{"arity":2,"params":{"b":{},"a":{}},"order":["b","a"]},"alpha":{"arity":0,"params":{},"order":[]}}`
	if code != 200 || body != want {
		t.Fatalf("got %d %s", code, body)
	}
	// The legacy form still marks required parameters.
	code, body, _ = hs.do(t, http.MethodPost, base+"/systems/sys-1/Display/zeta", `{"a": false}`)
	if code != 400 || body != `{"error":"bad_request","message":"missing argument 'b' for 'zeta'","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}` {
		t.Fatalf("got %d %s", code, body)
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
			`{"error":"module_not_found","message":"metadata not found for Display_2 on sys-1","sys_id":"sys-1","module_name":"Display","index":2,"module_id":"mod-2"}`},
		{"unknown module", "/systems/sys-1/functions/Camera", 404,
			`{"error":"module_not_found","message":"could not find module Camera_1 in system sys-1","sys_id":"sys-1","module_name":"Camera","index":1}`},
		{"unknown system", "/systems/sys-x/functions/Camera", 404,
			`{"error":"system_not_found","message":"could not find system sys-x","sys_id":"sys-x","module_name":"Camera","index":1}`},
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

func TestCorruptMetadataIsAnEngineFailure(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.mods.meta["mod-1"] = `{"interface": ["not", "an", "object"]}`
	code, body, _ := hs.do(t, http.MethodPost, base+"/systems/sys-1/Display_1/power", `[true]`, RequestIDHeader, "r")
	if code != 500 || body != `{"error":"unexpected_failure","message":"unexpected failure (request id r)","sys_id":"sys-1","module_name":"Display","index":1,"module_id":"mod-1"}` {
		t.Fatalf("got %d %s", code, body)
	}
}
