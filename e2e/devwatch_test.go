package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// `engine dev --watch` on a standalone driver repository: the driver runs in the demo room on
// its simulated display with the settings --watch-module gives; every save that changes an
// answer reaches the module with no failed call from a client calling it all along; a compile
// error is printed and the last good build keeps answering; the next good save recovers; the
// binaries of earlier saves are removed. Logs the save-to-answer time (median of 3).
func TestDevWatch(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	sim := startDisplaySim(t)
	drv := enginetest.NewWatchedDriver(t, "v1")
	host, port, err := net.SplitHostPort(sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(t.TempDir(), "module.yaml")
	if err := os.WriteFile(spec, fmt.Appendf(nil, "ip: %s\nport: %s\nsettings: {inputs: [hdmi1]}\n", host, port), 0o600); err != nil {
		t.Fatal(err)
	}
	e := enginetest.StartDevWatch(t, config(redis.URL), drv, "v1", "--watch-module", spec)
	e.WaitLog(10*time.Second, "module:   Mydisplay_1 in sys-demo (mod-watch-mydisplay; ip 127.0.0.1, port "+port)
	e.WaitLog(10*time.Second, `/systems/sys-demo/Mydisplay_1/power -d '[true]'`)

	// The module is a real display module: its device and its settings.
	display := "/api/engine/v2/systems/sys-demo/Mydisplay_1"
	if r := e.Do("POST", display+"/power", "[true]"); r.Status != 200 || r.Body != "true" {
		t.Fatalf("power on the simulated display: %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", display+"/switch_to", `["hdmi2"]`); r.Status != 400 || !strings.Contains(r.Body, "hdmi1") {
		t.Fatalf("switch_to an input the settings leave out: %d %s", r.Status, r.Body)
	}
	// Measured once the demo's own drivers are built: they compile on the same CPUs.
	e.WaitReady()

	current := "v1"
	// Every answer is a build's, and once a build answered no older one does: the move is clean.
	last := 1
	loop := enginetest.StartCallLoop(t, e, func(a string) bool {
		var v int
		if _, err := fmt.Sscanf(a, "v%d", &v); err != nil || v < last {
			return false
		}
		last = v
		return true
	})
	var took []time.Duration
	for _, v := range []string{"v2", "v3", "v4"} {
		took = append(took, enginetest.SaveToAnswer(t, e, drv, v))
		current = v
	}
	t.Logf("save → new answer: median %.2f s of %v", enginetest.Median(took).Seconds(), took)

	// A compile error: printed with the compiler's words, and the room keeps the last good build.
	drv.Write("broken.go", "package main\n\nfunc broken() { undefinedThing() }\n")
	e.WaitLog(time.Minute, "broken.go saved → build FAILED; Mydisplay_1 keeps running build")
	e.WaitLog(time.Second, "broken.go:3:17: undefined: undefinedThing")
	if a := e.WatchedAnswer(); a != current {
		t.Fatalf("after a failed build: %s, want the last good build's %s", a, current)
	}
	// The next good save recovers.
	drv.Remove("broken.go")
	enginetest.SaveToAnswer(t, e, drv, "v5")

	calls, failures := loop.Stop()
	if len(failures) > 0 || calls < 20 {
		t.Fatalf("%d of %d calls failed while the driver was rebuilt: %q", len(failures), calls, failures)
	}
	// Only the build serving is left of the saves' binaries.
	e.Eventually(10*time.Second, "the old builds removed", func() bool {
		bins, _ := filepath.Glob(filepath.Join(e.DataDir, "drivers", "mydisplay_dev-*"))
		return len(slices.DeleteFunc(bins, func(p string) bool { return strings.HasSuffix(p, ".json") })) == 1
	})

	// A module someone added on the watched driver through the API goes with that driver when
	// engine dev starts again on this data directory, rather than stopping the start half done.
	extra := fmt.Sprintf(`{"id": "mod-extra", "driver_id": "drv-watch-mydisplay", "ip": %q, "port": %s, "running": true}`, host, port)
	if r := e.Do("POST", "/api/engine/v2/modules", extra); r.Status/100 != 2 {
		t.Fatalf("add a module on the watched driver: %d %s", r.Status, r.Body)
	}
	e.Stop()
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	e.Start("--sdk-dir", root, "--displays", "0", "--watch", drv.Dir, "--watch-module", spec)
	e.Eventually(3*time.Minute, "the watched driver answering again", func() bool { return e.WatchedAnswer() == "v5" })
	if r := e.Do("GET", "/api/engine/v2/modules/mod-extra", ""); r.Status != 404 {
		t.Fatalf("the module added on the watched driver after the restart: %d %s, want 404", r.Status, r.Body)
	}
}
