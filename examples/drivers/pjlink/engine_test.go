package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/examples/sims/pjlink/pjlinksim"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestInEngine runs the built driver as a real process in an engine node (engine serve, a real
// redis-server) against the simulator, with the password in never_displayed protected settings
// as the README advises: the harness tests' answers are the engine's.
func TestInEngine(t *testing.T) {
	t.Parallel()
	const password = "pjlink-pw-4352"
	redis := testutil.StartRedis(t)
	driver := testutil.BuildBinary(t, "./examples/drivers/pjlink")
	sim, err := pjlinksim.New("127.0.0.1:0", pjlinksim.Options{Password: password})
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })

	e := enginetest.StartEngine(t, enginetest.Config{Redis: redis.URL, LogToTest: true}, "pjlink", fmt.Sprintf(`
drivers:
  - {id: drv-pjlink, module_name: Projector, role: device, binary: %q, default_port: 4352}
modules:
  - id: mod-pj
    driver_id: drv-pjlink
    ip: 127.0.0.1
    port: %d
    running: true
    settings: {inputs: {laptop: "32"}}
    protected_settings: [{level: never_displayed, settings: {password: %q}}]
systems:
  - {id: sys-pj, name: Lecture theatre, modules: [mod-pj]}
`, driver, sim.Port(), password), "--secrets-key-file", enginetest.SecretsKeyFile(t))

	const module = "/api/engine/v2/systems/sys-pj/Projector_1"
	status := func(name string) string { return e.Do("GET", module+"/"+name, "").Body }
	e.Eventually(20*time.Second, "the projector module up and queried", func() bool {
		return status("connected") == "true" && status("model") == `"PJ-1"`
	})
	e.CheckCalls(module, []enginetest.Call{
		{Fn: "switch_to", Args: `["laptop"]`, Status: 503, Body: "ERR3"},
		{Fn: "power", Args: `[true]`, Status: 200, Body: `true`},
		{Fn: "switch_to", Args: `{"input": "laptop"}`, Status: 200, Body: `"laptop"`},
		{Fn: "switch_to", Args: `["rgb9"]`, Status: 400, Body: "ERR2"},
		{Fn: "video_mute", Args: `[]`, Status: 200, Body: `true`},
	})
	e.WaitStatuses(5*time.Second, module, map[string]string{"power": "true", "input": `"laptop"`, "video_mute": "true", "mute": "false"})
	if st := sim.State(); st.Power != pjlinksim.On || st.Input != 32 || !st.VideoMute {
		t.Errorf("projector state %+v", st)
	}
	if r := e.Do("GET", "/api/engine/v2/modules/mod-pj", ""); strings.Contains(r.Body, password) {
		t.Errorf("the module's password is readable: %s", r.Body)
	}
}
