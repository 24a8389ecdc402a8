package main

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/placeos-go/engine/examples/sims/extron/extronsim"
	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

func startSim(t *testing.T, o extronsim.Options, s Settings) (*sdktest.Harness, *extronsim.Sim) {
	t.Helper()
	sim, err := extronsim.New("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })
	h := sdktest.New(t, New, options...)
	h.Start(sdktest.Module{Name: "Switcher", IP: "127.0.0.1", Port: sim.Port(), Settings: s})
	return h, sim
}

// TestAgainstSimulator drives the simulator through every function, the way a room would.
func TestAgainstSimulator(t *testing.T) {
	t.Parallel()
	h, sim := startSim(t, extronsim.Options{Password: "secret"}, Settings{Password: "secret"})
	h.WaitStatus("login", "administrator")
	h.WaitStatus("outputs", 4)
	h.WaitStatus("audio4", 0) // the matrix read is done

	for _, c := range []struct {
		fn   string
		args map[string]any
		want string
	}{
		{"switch", map[string]any{"map": map[string]any{"2": []int{1, 2}}}, "null"},
		{"switch_video", map[string]any{"map": map[string]any{"3": 4}}, "null"},
		{"switch_audio", map[string]any{"map": map[string]any{"4": 4}}, "null"},
		{"switch_to", map[string]any{"input": "6"}, `"6"`},
		{"switch", map[string]any{"map": map[string]any{"5": 3}}, "null"},
		{"volume", map[string]any{"output": 1, "level": 30}, "30"},
		{"audio_mute", map[string]any{"output": 1}, "true"},
		{"video_mute", map[string]any{"output": 2, "state": true}, "true"},
		{"video_mute", map[string]any{"output": 2, "state": false}, "false"},
	} {
		if r := h.ExecNamed(c.fn, c.args); r.Err != nil || string(r.Value) != c.want {
			t.Fatalf("%s %v: %s, want %s", c.fn, c.args, r, c.want)
		}
	}
	st := sim.State()
	if !slices.Equal(st.Video, []int{6, 6, 5, 6}) || !slices.Equal(st.Audio, []int{6, 6, 5, 6}) ||
		st.Volume[0] != 30 || !st.AudioMute[0] || st.VideoMute[1] {
		t.Fatalf("switcher state %+v", st)
	}
	for name, want := range map[string]any{"output3": 5, "audio3": 5, "output4": 6, "volume1": 30, "audio_mute1": true, "video_mute2": false} {
		h.WaitStatus(name, want)
	}

	mustFail(t, h.ExecNamed("switch", map[string]any{"map": map[string]any{"9": 1}}), 400, "E01", "invalid input")
	mustFail(t, h.ExecNamed("switch", map[string]any{"map": map[string]any{"1": []int{2, 5}}}), 400, "E12", "invalid output")
	sim.SetBusy(true)
	busy := h.Exec("switch_to", "1")
	mustFail(t, busy, 503, "E22", "busy")
	if e := (*sdk.Error)(nil); !errors.As(busy.Err, &e) || e.RetryAfter != time.Second {
		t.Fatalf("busy: retry after %v", e)
	}
	sim.SetBusy(false)

	// The front panel, reported in verbose mode.
	sim.Tie(7, 4, '!')
	h.WaitStatus("output4", 7)
	h.WaitStatus("audio4", 7)

	// After a dropped connection the driver logs in again and reads the matrix.
	mark := h.Mark()
	sim.DropConnections()
	h.WaitChange(mark, "connected", false)
	sim.Tie(8, 1, '%') // while disconnected: only the read after the login can tell
	h.WaitStatus("output1", 8)
	if r := h.Exec("switch_to", "2"); r.Err != nil {
		t.Fatalf("after reconnecting: %s", r)
	}
}

// TestWrongPasswordAgainstSimulator: the simulator prompts again after a wrong password; the
// caller learns why, and a corrected password works without a restart.
func TestWrongPasswordAgainstSimulator(t *testing.T) {
	t.Parallel()
	h, sim := startSim(t, extronsim.Options{Password: "secret"}, Settings{Password: "wrong"})
	h.WaitStatus("model", "DXP 84 HDMI")
	h.Wait("the password to be refused", func() bool { return h.Exec("switch_to", "3").Code == 502 })
	mustFail(t, h.Exec("switch_to", "3"), 502, "Login", "refused the password")
	h.Settings(Settings{Password: "secret"}) // tried at once, whatever the pause after the refusals
	h.WaitStatus("login", "administrator")
	h.WaitStatus("connected", true)
	if r := h.Exec("switch_to", "3"); r.Err != nil {
		t.Fatalf("with the right password: %s", r)
	}
	if st := sim.State(); st.Video[0] != 3 {
		t.Fatalf("switcher state %+v", st)
	}
}
