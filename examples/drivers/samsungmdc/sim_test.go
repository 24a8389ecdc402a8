package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/placeos-go/engine/examples/sims/samsungmdc/mdcsim"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// TestAgainstSimulator runs the driver against the simulated display in real time.
func TestAgainstSimulator(t *testing.T) {
	t.Parallel()
	sim, err := mdcsim.New("127.0.0.1:0", 3)
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })
	h := sdktest.New(t, New, options...)
	h.Start(sdktest.Module{Name: "Display", IP: "127.0.0.1", Port: sim.Port(), Settings: Settings{DisplayID: 3}})
	h.WaitStatus("volume", 30) // the status query after connecting

	tests := []struct {
		fn   string
		args []any
		code int
		want string // the result, or a part of the error message
	}{
		{"volume", []any{40}, 502, "NAK, error code 0x03"}, // the display is off
		{"power", []any{true}, 200, "true"},
		{"switch_to", []any{"display_port"}, 200, `"display_port1"`},
		{"volume", []any{40}, 200, "40"},
		{"mute", []any{true}, 200, "true"},
		{"switch_to", []any{"tv"}, 400, "unknown input"},
	}
	for _, tc := range tests {
		r := h.Exec(tc.fn, tc.args...)
		got := string(r.Value)
		if r.Err != nil {
			got = r.Message()
		}
		if r.Code != tc.code || !strings.Contains(got, tc.want) {
			t.Fatalf("%s %v: %s, want %d %s", tc.fn, tc.args, r, tc.code, tc.want)
		}
	}
	if st := sim.State(); !st.Power || st.Input != 0x25 || st.Volume != 40 || !st.Mute {
		t.Fatalf("display state %+v", st)
	}

	// The remote control: MDC does not report it, the query reads it.
	sim.SetInput(mdcsim.HDMI1)
	sim.SetMute(false)
	if r := h.Exec("query"); r.Err != nil {
		t.Fatalf("query: %s", r)
	}
	h.WaitStatus("input", "hdmi1")
	h.WaitStatus("mute", false)

	if r := h.Exec("power", false); string(r.Value) != "false" || sim.State().Power {
		t.Fatalf("power off: %s, display %+v", r, sim.State())
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	m := sdktest.New(t, New, options...).Metadata()
	if !reflect.DeepEqual(m.Implements, []string{"Powerable", "InputSelectable", "VolumeControl", "Muteable"}) ||
		!reflect.DeepEqual(m.Functions.Keys(), []string{"power", "switch_to", "volume", "mute", "query"}) {
		t.Fatalf("implements %v functions %v", m.Implements, m.Functions.Keys())
	}
	if got := m.JSONSchema.Properties.Keys(); !reflect.DeepEqual(got, []string{"display_id", "power_off", "poll_seconds"}) {
		t.Fatalf("settings %v", got)
	}
	if p, _ := m.JSONSchema.Properties.Get("power_off"); string(p.Default) != `"standby"` || len(p.Enum) != 2 {
		t.Fatalf("power_off schema %+v", p)
	}
}
