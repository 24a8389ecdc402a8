package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/examples/sims/samsungmdc/mdcsim"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestSamsungMDCInEngine runs the Samsung MDC example driver as a real process in an engine node
// against the simulated display, through REST: a Nak reaches the caller as the driver's 502,
// the statuses front-ends read land in the engine, the poll picks up a change made with the
// remote, and a dropped connection comes back. A module with a display id out of range does
// not start: the node's status and a call say which setting is wrong.
func TestSamsungMDCInEngine(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	sim := startMDCSim(t)
	bin := testutil.BuildBinary(t, "./examples/drivers/samsungmdc")
	e := startEngine(t, redis.URL, fmt.Sprintf(`
drivers:
  - {id: drv-mdc, module_name: Display, role: device, binary: %q, default_port: 1515}
modules:
  - {id: mod-mdc, driver_id: drv-mdc, ip: 127.0.0.1, port: %d, running: true, settings: {display_id: 1, poll_seconds: 1}}
  - {id: mod-mdc-bad, driver_id: drv-mdc, ip: 127.0.0.1, port: %[2]d, running: true, settings: {display_id: 255}}
systems:
  - {id: sys-mdc, name: Signage, modules: [mod-mdc, mod-mdc-bad]}
`, bin, sim.Port()))

	const display = "/api/engine/v2/systems/sys-mdc/Display_1/"
	status := func(name string) string { return e.Do("GET", display+name, "").Body }
	e.Eventually(15*time.Second, "display connected and read", func() bool {
		return status("connected") == "true" && status("volume") == "30"
	})

	for _, c := range []struct{ fn, args, want string }{
		{"volume", `[40]`, `502 NAK, error code 0x03`}, // the display is off
		{"power", `[true]`, `200 true`},
		{"switch_to", `{"input": "HDMI2"}`, `200 "hdmi2"`},
		{"volume", `[]`, `200 50`},
		{"mute", `[true]`, `200 true`},
		{"switch_to", `["hdmi9"]`, `400 unknown input \"hdmi9\"\nwant one of`},
	} {
		r := e.Do("POST", display+c.fn, c.args)
		code, body, _ := strings.Cut(c.want, " ")
		if fmt.Sprint(r.Status) != code || !strings.Contains(r.Body, body) {
			t.Errorf("%s %s = %d %s; want %s", c.fn, c.args, r.Status, r.Body, c.want)
		}
	}
	const why = `setting \"display_id\": 255 is above the maximum 254`
	if r := e.Do("POST", "/api/engine/v2/systems/sys-mdc/Display_2/power", `[true]`); r.Status != 503 || !strings.Contains(r.Body, why) ||
		strings.Contains(r.Body, "rpc error") {
		t.Errorf("power on the module with bad settings = %d %s; want 503 naming the setting, in the driver's words", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/core/v1/status", ""); !strings.Contains(r.Body, `"failures":[{"id":"mod-mdc-bad"`) || !strings.Contains(r.Body, why) {
		t.Errorf("node status does not list mod-mdc-bad as failed with the reason: %s", r.Body)
	}
	if st := sim.State(); !st.Power || st.Input != 0x23 || st.Volume != 50 || !st.Mute {
		t.Errorf("display state %+v", st)
	}
	for name, want := range map[string]string{"power": "true", "input": `"hdmi2"`, "volume": "50", "mute": "true", "audio_mute": "true"} {
		if got := status(name); got != want {
			t.Errorf("status %s = %s, want %s", name, got, want)
		}
	}

	sim.SetInput(0x25) // the remote: only the poll can tell
	e.Eventually(10*time.Second, "the poll reads the input chosen with the remote", func() bool {
		return status("input") == `"display_port1"`
	})
	// While the driver reconnects a call fails at once (503, offline); then it works again.
	sim.DropConnections()
	e.Eventually(10*time.Second, "power off once reconnected", func() bool {
		r := e.Do("POST", display+"power", `[false]`)
		return r.Status == 200 && r.Body == "false"
	})
}

// startMDCSim starts a simulated Samsung display (display id 1) on a free loopback port, closed
// when the test ends.
func startMDCSim(t *testing.T) *mdcsim.Sim {
	t.Helper()
	sim, err := mdcsim.New("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}
