package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/examples/sims/camera/camerasim"
	"github.com/placeos-go/engine/examples/sims/lighting/lightingsim"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestExampleDriversInEngine runs every example driver as a real process in an engine node, each
// against its real simulator, and executes through REST: the statuses and bodies must be the ones
// the drivers' harness tests expect (examples/drivers/*/..._test.go), so the harness and the
// engine agree. The room's all_off reaches every Powerable module of its system, which it finds
// in the module_info the engine sends with the system (Name_N, interfaces, functions), and again
// after the system changes.
func TestExampleDriversInEngine(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	display := startDisplaySim(t)
	gateway, err := lightingsim.New("127.0.0.1:0", "secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gateway.Close() })
	camera, err := camerasim.New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = camera.Close() })

	bins := map[string]string{}
	for _, d := range []string{"display", "lighting", "camera", "room"} {
		bins[d] = testutil.BuildBinary(t, "./examples/drivers/"+d)
	}
	e := startEngine(t, redis.URL, fmt.Sprintf(`
drivers:
  - {id: drv-display, module_name: Display, role: device, binary: %q}
  - {id: drv-lighting, module_name: Lighting, role: service, binary: %q}
  - {id: drv-camera, module_name: Camera, role: device, binary: %q, default_port: 52381}
  - {id: drv-room, module_name: Room, role: logic, binary: %q}
modules:
  - {id: mod-display, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true}
  - {id: mod-lights, driver_id: drv-lighting, uri: %q, running: true, settings: {zone: "2", password: secret}}
  - {id: mod-camera, driver_id: drv-camera, ip: 127.0.0.1, port: %d, udp: true, running: true}
  - {id: mod-room, driver_id: drv-room, control_system_id: sys-ex, running: true}
systems:
  - {id: sys-ex, name: Boardroom, modules: [mod-display, mod-lights, mod-camera, mod-room]}
`, bins["display"], bins["lighting"], bins["camera"], bins["room"], display.Port(), gateway.URL(), camera.Port()))

	const sys = "/api/engine/v2/systems/sys-ex/"
	status := func(mod, name string) string { return e.Do("GET", sys+mod+"/"+name, "").Body }
	e.Eventually(15*time.Second, "every module up", func() bool {
		return status("Display_1", "connected") == "true" && status("Lighting_1", "power") == "false" &&
			status("Camera_1", "power") == "false"
	})

	tests := []struct {
		name, module, fn, args string
		status                 int
		body                   string // exact JSON, or a substring of the error body when status >= 400
	}{
		{"display on", "Display_1", "power", `[true]`, 200, `true`},
		{"display input by name", "Display_1", "switch_to", `{"input": "HDMI2"}`, 200, `"hdmi2"`},
		{"display volume default", "Display_1", "volume", `[]`, 200, `50`},
		{"display volume out of range", "Display_1", "volume", `[101]`, 400, "maximum"},
		{"lights level", "Lighting_1", "level", `[40]`, 200, `40`},
		{"lights level out of range", "Lighting_1", "level", `[101]`, 400, "maximum"},
		{"camera zoom in standby", "Camera_1", "zoom", `[30]`, 409, "cannot execute"},
		{"camera on", "Camera_1", "power", `{"state": true}`, 200, `true`},
		{"camera zoom", "Camera_1", "zoom", `[50]`, 200, `50`},
		{"camera move", "Camera_1", "move", `["left"]`, 200, `null`},
		{"camera preset never saved", "Camera_1", "preset", `[7]`, 409, "no such preset"},
		{"camera bad direction", "Camera_1", "move", `["sideways"]`, 400, "sideways"},
		{"function name as in Go", "Display_1", "SwitchTo", `["hdmi1"]`, 400, "could not find function SwitchTo (did you mean switch_to? function names are snake_case; functions: power, switch_to, volume, reboot)"},
		{"arguments cut off", "Display_1", "power", `[tru`, 400, "arguments: unexpected end of JSON input at offset 4"},
		{"room drives Display_1", "Room_1", "power", `[false]`, 200, `false`},
		{"room all_off", "Room_1", "all_off", `[]`, 200, `{"Display_1": true, "Lighting_1": true, "Camera_1": true}`},
	}
	for _, tc := range tests {
		r := e.Do("POST", sys+tc.module+"/"+tc.fn, tc.args)
		ok := r.Status == tc.status
		if tc.status < 400 {
			ok = ok && enginetest.JSONEqual(r.Body, tc.body)
		} else {
			ok = ok && strings.Contains(r.Body, tc.body)
		}
		if !ok {
			t.Errorf("%s: %s.%s %s = %d %s; want %d %s", tc.name, tc.module, tc.fn, tc.args, r.Status, r.Body, tc.status, tc.body)
		}
	}

	// The devices did what the answers say, and the statuses reached the engine.
	if st := display.State(); st.Power || st.Input != "HDMI2" || st.Volume != 50 {
		t.Errorf("display state %+v", st)
	}
	if z := gateway.Zone("2"); z.On || z.Level != 40 {
		t.Errorf("lighting zone 2 %+v", z)
	}
	if st := camera.State(); st.Power || st.Zoom != camerasim.MaxZoom/2 {
		t.Errorf("camera state %+v", st)
	}
	for _, s := range []struct{ module, name, want string }{
		{"Display_1", "power", "false"}, {"Display_1", "input", `"hdmi2"`},
		{"Lighting_1", "level", "40"}, {"Lighting_1", "power", "false"},
		{"Camera_1", "power", "false"}, {"Camera_1", "zoom", "50"}, {"Camera_1", "moving", "false"},
	} {
		e.Eventually(5*time.Second, s.module+"."+s.name+" = "+s.want, func() bool { return status(s.module, s.name) == s.want })
	}

	// One Powerable failing fails all_off with the device's code and names the module, as the
	// room's harness test has it; the others are still switched off.
	if r := e.Do("POST", sys+"Display_1/power", `[true]`); r.Status != 200 {
		t.Fatalf("display on: %d %s", r.Status, r.Body)
	}
	gateway.Fail(503)
	r := e.Do("POST", sys+"Room_1/all_off", `[]`)
	if r.Status != 502 || !strings.Contains(r.Body, "1 of 3 calls failed") || !strings.Contains(r.Body, "Lighting_1") {
		t.Errorf("all_off with the gateway failing: %d %s", r.Status, r.Body)
	}
	if display.State().Power {
		t.Error("all_off did not turn the display off while the gateway failed")
	}
	gateway.Fail(0)

	// The system changes under the running room: a second display joins, the camera leaves. The
	// room gets the new module_info as an update and all_off follows it (calls made while the
	// change travels may still reach the camera: only the answer that follows counts).
	for _, put := range []struct{ path, body string }{
		{"/api/engine/v2/modules/mod-display-2", fmt.Sprintf(`{"id": "mod-display-2", "driver_id": "drv-display", "ip": "127.0.0.1", "port": %d, "running": true}`, display.Port())},
		{"/api/engine/v2/systems/sys-ex", `{"id": "sys-ex", "name": "Boardroom", "modules": ["mod-display", "mod-lights", "mod-room", "mod-display-2"]}`},
	} {
		if r := e.Do("PUT", put.path, put.body); r.Status != 200 {
			t.Fatalf("PUT %s: %d %s", put.path, r.Status, r.Body)
		}
	}
	e.Eventually(15*time.Second, "all_off reaching the system as changed", func() bool {
		r := e.Do("POST", sys+"Room_1/all_off", `[]`)
		return r.Status == 200 && enginetest.JSONEqual(r.Body, `{"Display_1": true, "Lighting_1": true, "Display_2": true}`)
	})
}
