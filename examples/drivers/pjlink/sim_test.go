package main

import (
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/examples/sims/pjlink/pjlinksim"
	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// startSim runs the driver against the simulator, both on the virtual clock clk.
func startSim(t *testing.T, clk *sdktest.Clock, o pjlinksim.Options, s Settings) (*sdktest.Harness, *pjlinksim.Sim) {
	t.Helper()
	o.Now = clk.Now
	sim, err := pjlinksim.New("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })
	h := sdktest.New(t, New, append(options, sdk.WithClock(clk))...)
	h.Start(sdktest.Module{Name: "Projector", IP: "127.0.0.1", Port: sim.Port(), Settings: s})
	return h, sim
}

// TestAgainstSimulator runs a day of the projector: warm-up and cool-down pass in virtual time,
// inputs and mutes are refused until it is on, and a failure shows in errors.
func TestAgainstSimulator(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	h, sim := startSim(t, clk, pjlinksim.Options{Password: "secret", WarmUp: 30 * time.Second, CoolDown: 20 * time.Second},
		Settings{Password: "secret", Inputs: map[string]string{"laptop": "32"}})
	h.WaitStatus("inputs", []string{"rgb1", "rgb2", "digital1", "laptop"})
	h.WaitStatus("power", false)

	standby := h.Exec("switch_to", "laptop")
	mustFail(t, standby, 503, "ERR3", "unavailable time")
	if r := h.Exec("power", true); string(r.Value) != "true" {
		t.Fatalf("power on: %s", r)
	}
	h.WaitStatus("warming", true)
	warming := h.Exec("power", false)
	mustFail(t, warming, 503, "ERR3", "warming up")
	// While it warms up the caller is told to try again when the driver reads power again; in
	// standby no wait helps.
	if a, b := retryAfter(standby), retryAfter(warming); a != 0 || b != followEvery {
		t.Fatalf("retry after %v in standby, %v while warming up", a, b)
	}
	clk.Advance(30 * time.Second)
	h.WaitStatus("warming", false)
	h.WaitStatus("input", "digital1")

	tests := []struct {
		fn   string
		arg  any
		want string
	}{
		{"switch_to", "laptop", `"laptop"`},
		{"video_mute", true, "true"},
		{"audio_mute", true, "true"},
		{"mute", false, "false"},
		{"audio_mute", true, "true"},
	}
	for _, tc := range tests {
		if r := h.Exec(tc.fn, tc.arg); string(r.Value) != tc.want {
			t.Fatalf("%s %v: %s, want %s", tc.fn, tc.arg, r, tc.want)
		}
	}
	mustFail(t, h.Exec("switch_to", "video1"), 400, "ERR2", "out of range")
	if st := sim.State(); st.Power != pjlinksim.On || st.Input != 32 || st.VideoMute || !st.AudioMute {
		t.Fatalf("projector state %+v", st)
	}
	h.WaitStatus("audio_mute", true)
	h.WaitStatus("mute", false)

	if r := h.Exec("power", false); string(r.Value) != "false" {
		t.Fatalf("power off: %s", r)
	}
	h.WaitStatus("cooling", true)
	mustFail(t, h.Exec("power", true), 503, "ERR3", "cooling down")
	clk.Advance(20 * time.Second)
	h.WaitStatus("cooling", false)
	if st := sim.State(); st.Power != pjlinksim.Off {
		t.Fatalf("projector state %+v", st)
	}

	sim.SetFault(true)
	sim.SetLampHours(1500)
	mustFail(t, h.Exec("power", true), 502, "ERR4", "projector failure")
	if r := h.Exec("query"); r.Err != nil {
		t.Fatalf("query: %s", r)
	}
	h.WaitStatus("lamp_hours", 1500)
	h.WaitStatus("errors", map[string]string{"fan": "ok", "lamp": "ok", "temperature": "ok", "cover": "ok", "filter": "ok", "other": "error"})
}

// TestWrongPasswordAgainstSimulator: the simulator closes the connection after PJLINK ERRA, as
// projectors do; the caller learns why, and a corrected password works without a restart.
func TestWrongPasswordAgainstSimulator(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	h, sim := startSim(t, clk, pjlinksim.Options{Password: "secret"}, Settings{Password: "wrong"})
	if e := h.WaitLog("handshake failed"); !strings.Contains(e.String(), "refused the password") {
		t.Fatalf("log: %s", e)
	}
	if sim.State().Power != pjlinksim.Off {
		t.Fatal("a command went through with a wrong password")
	}
	h.Settings(Settings{Password: "secret"})
	h.Wait("power to go on", func() bool {
		clk.Advance(time.Second) // reconnect backoff
		return h.Exec("power", true).Err == nil
	})
	if sim.State().Power != pjlinksim.On {
		t.Fatalf("projector state %+v", sim.State())
	}
}
