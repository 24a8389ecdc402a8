package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/examples/sims/extron/extronsim"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestInEngine runs the built driver as a real process in an engine node (engine serve, a real
// redis-server) against the simulator, with the password in never_displayed protected settings
// as the README advises: the harness tests' answers are the engine's.
func TestInEngine(t *testing.T) {
	t.Parallel()
	const password = "extron-pw-2023"
	redis := testutil.StartRedis(t)
	driver := testutil.BuildBinary(t, "./examples/drivers/extron")
	sim, err := extronsim.New("127.0.0.1:0", extronsim.Options{Password: password})
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })

	e := enginetest.StartEngine(t, enginetest.Config{Redis: redis.URL, LogToTest: true}, "extron", fmt.Sprintf(`
drivers:
  - {id: drv-extron, module_name: Switcher, role: device, binary: %q, default_port: 23}
modules:
  - id: mod-sw
    driver_id: drv-extron
    ip: 127.0.0.1
    port: %d
    running: true
    protected_settings: [{level: never_displayed, settings: {password: %q}}]
systems:
  - {id: sys-sw, name: Lecture theatre, modules: [mod-sw]}
`, driver, sim.Port(), password), "--secrets-key-file", enginetest.SecretsKeyFile(t))

	const module = "/api/engine/v2/systems/sys-sw/Switcher_1"
	status := func(name string) string { return e.Do("GET", module+"/"+name, "").Body }
	e.Eventually(20*time.Second, "the switcher module logged in and read", func() bool {
		return status("login") == `"administrator"` && status("audio4") == "0"
	})
	e.CheckCalls(module, []enginetest.Call{
		{Fn: "switch", Args: `{"map": {"2": [1, 2], "3": 4}}`, Status: 200, Body: `null`},
		{Fn: "switch_video", Args: `[{"4": 3}]`, Status: 200, Body: `null`},
		{Fn: "switch_to", Args: `["9"]`, Status: 400, Body: "E01"},
		{Fn: "volume", Args: `[2, 50]`, Status: 200, Body: `50`},
		{Fn: "volume", Args: `[2, 65]`, Status: 400, Body: "maximum"},
	})
	e.WaitStatuses(5*time.Second, module, map[string]string{"output1": "2", "output2": "2", "output3": "4", "audio3": "0", "output4": "3", "audio4": "3", "volume2": "50"})
	if st := sim.State(); !slices.Equal(st.Video, []int{2, 2, 4, 3}) || st.Volume[1] != 50 {
		t.Errorf("switcher state %+v", st)
	}
	if r := e.Do("GET", "/api/engine/v2/modules/mod-sw", ""); strings.Contains(r.Body, password) {
		t.Errorf("the module's password is readable: %s", r.Body)
	}
}
