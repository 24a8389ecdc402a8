package main

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/examples/sims/lighting/lightingsim"
	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// TestRequestByRequest plays the gateway with the harness's mock HTTP server, in virtual time.
func TestRequestByRequest(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	h := sdktest.New(t, New, append(options, sdk.WithClock(clk))...)
	gw := h.HTTPServer()
	h.Start(sdktest.Module{Name: "Lighting", Settings: Settings{Zone: "2", PollSeconds: 60}})
	gw.ExpectJSON("GET", "/api/zones/2", nil, 200, map[string]any{"id": "2", "level": 30, "on": true})
	h.WaitStatus("level", 30)
	h.WaitStatus("connected", true)

	p := h.ExecAsync("level", 75)
	var body map[string]int
	gw.ExpectJSON("PUT", "/api/zones/2", &body, 200, map[string]any{"id": "2", "level": 75, "on": true})
	if r := p.Result(); string(r.Value) != "75" || body["level"] != 75 {
		t.Fatalf("level: %s, body %v", r, body)
	}

	clk.Advance(time.Minute) // the poll reads the wall panel's change
	gw.ExpectJSON("GET", "/api/zones/2", nil, 200, map[string]any{"id": "2", "level": 0, "on": false})
	h.WaitStatus("power", false)

	p = h.ExecAsync("power", true)
	gw.Expect(func(w http.ResponseWriter, r *sdktest.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"busy"}`))
	})
	if r := p.Result(); r.Code != 502 || !strings.Contains(r.Message(), "503") {
		t.Fatalf("gateway error: %s", r)
	}
}

// TestAgainstSimulator runs the driver against the real simulator.
func TestAgainstSimulator(t *testing.T) {
	t.Parallel()
	sim, err := lightingsim.New("127.0.0.1:0", "secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	h := sdktest.New(t, New, options...)
	h.Start(sdktest.Module{Name: "Lighting", Role: "service", URI: sim.URL(), Settings: Settings{Zone: "3", Password: "secret"}})
	h.WaitStatus("power", false)
	if r := h.Exec("level", 40); string(r.Value) != "40" {
		t.Fatalf("level: %s", r)
	}
	h.WaitStatus("power", true)
	if z := sim.Zone("3"); z.Level != 40 || !z.On {
		t.Fatalf("zone %+v", z)
	}
	if r := h.Exec("level", 101); r.Code != 400 {
		t.Fatalf("level 101: %s", r)
	}
	h.Settings(Settings{Zone: "3", Password: "wrong"})
	if r := h.Exec("power", false); r.Code != 502 || !strings.Contains(r.Message(), "401") {
		t.Fatalf("wrong password: %s", r)
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	m := sdktest.New(t, New, options...).Metadata()
	if !reflect.DeepEqual(m.Implements, []string{"Powerable", "Dimmable"}) || !reflect.DeepEqual(m.Functions.Keys(), []string{"level", "power", "refresh"}) {
		t.Fatalf("implements %v functions %v", m.Implements, m.Functions.Keys())
	}
}
