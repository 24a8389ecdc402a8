package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite testdata/metadata.golden.json")

func TestMetadataGolden(t *testing.T) {
	t.Parallel()
	m := sdktest.New(t, New, options...).Metadata()
	got, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "metadata.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("metadata differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

// start runs the driver against an in-process simulator.
func start(t *testing.T) (*sdktest.Harness, *displaysim.Sim) {
	t.Helper()
	sim, err := displaysim.New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })
	h := sdktest.New(t, New, options...)
	h.Start(sdktest.Module{Name: "Display", IP: "127.0.0.1", Port: sim.Port()})
	h.WaitStatus("connected", true)
	h.WaitStatus("volume", 30) // the status query after connecting
	return h, sim
}

func TestFunctions(t *testing.T) {
	t.Parallel()
	h, sim := start(t)
	tests := []struct {
		fn     string
		args   string
		want   string
		status string
		value  any
	}{
		{"power", `[true]`, `true`, "power", true},
		{"power", `{"state": false}`, `false`, "power", false},
		{"switch_to", `["HDMI2"]`, `"hdmi2"`, "input", "hdmi2"},
		{"volume", `[70]`, `70`, "volume", 70},
		{"volume", `[]`, `50`, "volume", 50}, // default
	}
	for _, tc := range tests {
		r := h.ExecRaw(tc.fn, tc.args)
		if r.Err != nil || string(r.Value) != tc.want {
			t.Fatalf("%s %s: got %s, want %s", tc.fn, tc.args, r, tc.want)
		}
		// The status reaches the host before the result returns.
		got, _ := h.Status(tc.status)
		if want, _ := json.Marshal(tc.value); string(got) != string(want) {
			t.Fatalf("%s: status %s = %s, want %s", tc.fn, tc.status, got, want)
		}
	}
	if st := sim.State(); st.Power || st.Input != "HDMI2" || st.Volume != 50 {
		t.Fatalf("device state %+v", st)
	}
	if r := h.Exec("volume", 101); r.Code != 400 || !strings.Contains(r.Message(), "maximum") {
		t.Fatalf("volume 101: %s", r)
	}
}

func TestFrontPanelChangesReachStatus(t *testing.T) {
	t.Parallel()
	h, sim := start(t)
	sim.SetPower(true)
	h.WaitStatus("power", true)
	sim.SetInput("dp1")
	h.WaitStatus("input", "dp1")
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	h, sim := start(t)
	mark := h.Mark()
	sim.DropConnections()
	h.WaitChange(mark, "connected", false)
	h.WaitStatus("connected", true)
	if r := h.Exec("power", true); r.Err != nil {
		t.Fatalf("after reconnect: %s", r)
	}
	// reboot is support-level and drops the connection; the driver comes back by itself.
	mark = h.Mark()
	if r := h.Exec("reboot"); r.Err != nil {
		t.Fatalf("reboot: %s", r)
	}
	h.WaitChange(mark, "connected", false)
	h.WaitStatus("connected", true)
}

func TestDeviceErrorAndSettings(t *testing.T) {
	t.Parallel()
	h, sim := start(t)
	h.Update(sdktest.Module{Name: "Display", IP: "127.0.0.1", Port: sim.Port(),
		Settings: Settings{Inputs: []string{"hdmi1", "hdmi2"}}})
	if r := h.Exec("switch_to", "vga"); r.Code != 400 {
		t.Fatalf("switch_to vga with restricted inputs: %s", r)
	}
	if r := h.Exec("switch_to", "hdmi1"); r.Err != nil {
		t.Fatalf("switch_to hdmi1: %s", r)
	}
}

func TestDeviceDown(t *testing.T) {
	t.Parallel()
	sim, err := displaysim.New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := sim.Port()
	_ = sim.Close() // nothing listens on port now
	h := sdktest.New(t, New, options...)
	h.Start(sdktest.Module{Name: "Display", IP: "127.0.0.1", Port: port})
	h.WaitStatus("connected", false)
	if r := h.Exec("power", true); r.Code != 503 || !strings.Contains(r.Message(), "offline") {
		t.Fatalf("power with the device down: %s", r)
	}
}
