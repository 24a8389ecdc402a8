package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/supervisor"
)

// realCore is a Core running its reconcile loop over a real supervisor and real testdriver
// processes.
type realCore struct {
	*Core
	store *model.Memory
	sup   *supervisor.Supervisor
	state *fakeState
}

// newRealCore runs a Core on yaml, where %[1]q is the testdriver's binary and %[2]q the example
// lighting driver's (an SDK driver); logs (nil: none)
// gets the engine's log at DEBUG.
func newRealCore(t *testing.T, yaml string, logs io.Writer) *realCore {
	t.Helper()
	return newSealedRealCore(t, nil, yaml, logs)
}

// newSealedRealCore is newRealCore with protected settings opened with k.
func newSealedRealCore(t *testing.T, k *model.Keyring, yaml string, logs io.Writer) *realCore {
	t.Helper()
	return newRealCoreWith(t, Config{Secrets: k}, yaml, logs)
}

// newRealCoreWith is newRealCore with the settings of cfg that are not the test's own (its
// node, store, state and logger); tune sets the supervisor's.
func newRealCoreWith(t *testing.T, cfg Config, yaml string, logs io.Writer, tune ...func(*supervisor.Config)) *realCore {
	t.Helper()
	drv := testutil.BuildBinary(t, "internal/testdriver")
	sdkDrv := testutil.BuildBinary(t, "examples/drivers/lighting")
	out := io.Discard
	if logs != nil {
		out = logs
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "engine", Output: out, Level: hclog.Debug, JSONFormat: true})
	rc := &realCore{store: model.NewMemoryWithKeys(cfg.Secrets), state: newFakeState()}
	apply(t, rc.store, fmt.Sprintf(yaml, drv, sdkDrv))
	cfg.NodeID, cfg.Store, cfg.State, cfg.Logger = "n1", rc.store, rc.state, log
	c, err := New(cfg,
		func(host proto.HostServer, onStart func(context.Context, string)) (Supervisor, error) {
			scfg := supervisor.Config{Logger: log, Host: host, OnModuleStart: onStart,
				Scrub:          func(id, text string) string { return rc.Scrub(id, text) }, // as cmd/engine wires it
				OnProcessState: func(b string, ids []string, ps supervisor.ProcessState) { rc.OnProcessState(b, ids, ps) }}
			for _, f := range tune {
				f(&scfg)
			}
			sup, err := supervisor.New(scfg)
			rc.sup = sup
			return sup, err
		})
	if err != nil {
		t.Fatal(err)
	}
	rc.Core = c
	c.Run(context.Background())
	t.Cleanup(func() {
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rc.sup.Close(ctx); err != nil {
			t.Errorf("closing the supervisor: %v", err)
		}
	})
	return rc
}

// started reports whether the core has the module started.
func (c *Core) started(id string) bool {
	_, err := c.running(id)
	return err == nil
}

const hangModel = `
drivers:
  - {id: drv-t, module_name: Test, role: service, binary: %[1]q}
modules:
  - {id: m-ok, driver_id: drv-t, running: true}
  - {id: m-hang, driver_id: drv-t, running: true, settings: {hang_start_ms: 600000}}
`

// A driver whose Start hangs for one module (its own code, deaf to the call's deadline) holds
// neither the other modules nor the operator's changes nor the node's readiness: a module added
// meanwhile on the same driver starts at once, the node is ready once the pass has waited for the
// start, a stop of the hung module ends with it stopped, and Close ends what is still in flight.
func TestHungStartDoesNotHoldThePass(t *testing.T) {
	// Not parallel: it counts the goroutines of the whole test process at the end.
	rc := newRealCore(t, hangModel, nil)
	testutil.Eventually(t, 10*time.Second, "m-ok started", func() bool { return rc.started("m-ok") })
	testutil.Eventually(t, 5*time.Second, "the node ready beside the hung start", rc.Ready)
	if !rc.inFlight("m-hang") || rc.started("m-hang") {
		t.Fatal("m-hang's start is not in flight any more")
	}

	apply(t, rc.store, `modules: [{id: m-new, driver_id: drv-t, running: true}]`)
	added := time.Now()
	testutil.Eventually(t, 5*time.Second, "m-new started beside the hung start", func() bool { return rc.started("m-new") })
	t.Logf("a module added beside a hung start started after %s", time.Since(added).Round(time.Millisecond))

	// Stopped while its start hangs: it ends stopped, not started afterwards by the start in
	// flight, and the node is ready again.
	apply(t, rc.store, `modules: [{id: m-hang, driver_id: drv-t, running: false, settings: {hang_start_ms: 600000}}]`)
	testutil.Eventually(t, 5*time.Second, "m-hang stopped", func() bool {
		_, err := rc.sup.Exec(t.Context(), &proto.ExecRequest{ModuleId: "m-hang", Function: "echo", ArgsJson: []byte("[]")})
		return errors.Is(err, supervisor.ErrModuleNotRunning) && !rc.started("m-hang")
	})
	testutil.Eventually(t, 5*time.Second, "the node ready once no start is in flight", rc.Ready)
	if rc.started("m-hang") {
		t.Fatal("m-hang runs after it was stopped")
	}

	// Another hung start is in flight when the core closes: Close ends it.
	apply(t, rc.store, `modules: [{id: m-hang2, driver_id: drv-t, running: true, settings: {hang_start_ms: 600000}}]`)
	testutil.Eventually(t, 5*time.Second, "m-hang2's start in flight", func() bool { return rc.inFlight("m-hang2") })
	closed := time.Now()
	rc.Close()
	if took := time.Since(closed); took > 5*time.Second {
		t.Fatalf("Close took %s with a hung start in flight", took)
	}
	testutil.WaitGoroutines(t, 5*time.Second, "core.(*Core).runOp", 0)
}

// Starts that hang take their places among the starts at once (Config.Parallel) only while a
// pass waits for them: with twice as many hung starts as places, another module in the same pass
// starts within a few seconds, not after the driver calls' timeout.
func TestHungStartsDoNotHoldTheParallelBound(t *testing.T) {
	t.Parallel()
	rc := newRealCoreWith(t, Config{Parallel: 2}, `
drivers:
  - {id: drv-t, module_name: Test, role: service, binary: %[1]q}
modules:
  - {id: m-hang1, driver_id: drv-t, running: true, settings: {hang_start_ms: 600000}}
  - {id: m-hang2, driver_id: drv-t, running: true, settings: {hang_start_ms: 600000}}
  - {id: m-hang3, driver_id: drv-t, running: true, settings: {hang_start_ms: 600000}}
  - {id: m-hang4, driver_id: drv-t, running: true, settings: {hang_start_ms: 600000}}
  - {id: m-ok, driver_id: drv-t, running: true}
`, nil)
	testutil.Eventually(t, 15*time.Second, "m-ok started beside four hung starts", func() bool { return rc.started("m-ok") })
	testutil.Eventually(t, 5*time.Second, "the node ready beside them", rc.Ready)
	for _, id := range []string{"m-hang1", "m-hang2", "m-hang3", "m-hang4"} {
		if !rc.inFlight(id) || rc.started(id) {
			t.Errorf("%s: its start is not in flight any more", id)
		}
	}
}

// An update that hangs in the driver holds the pass no more than a start does, and a stop of its
// module ends with it stopped.
func TestHungUpdateDoesNotHoldThePass(t *testing.T) {
	t.Parallel()
	rc := newRealCore(t, `
drivers:
  - {id: drv-t, module_name: Test, role: service, binary: %[1]q}
modules:
  - {id: m-slow, driver_id: drv-t, running: true}
`, nil)
	testutil.Eventually(t, 10*time.Second, "m-slow started", func() bool { return rc.started("m-slow") })
	apply(t, rc.store, `modules: [{id: m-slow, driver_id: drv-t, running: true, settings: {hang_start_ms: 600000}}]`)
	testutil.Eventually(t, 5*time.Second, "m-slow's update in flight", func() bool { return rc.inFlight("m-slow") })
	apply(t, rc.store, `modules: [{id: m-new, driver_id: drv-t, running: true}]`)
	testutil.Eventually(t, 5*time.Second, "m-new started beside a hung update", func() bool { return rc.started("m-new") })
	apply(t, rc.store, `modules: [{id: m-slow, driver_id: drv-t, running: false}]`)
	testutil.Eventually(t, 5*time.Second, "m-slow stopped", func() bool {
		_, err := rc.sup.Exec(t.Context(), &proto.ExecRequest{ModuleId: "m-slow", Function: "echo", ArgsJson: []byte("[]")})
		return errors.Is(err, supervisor.ErrModuleNotRunning) && !rc.started("m-slow") && !rc.inFlight("m-slow")
	})
}

// A failed start is one ERROR line in the engine's log, naming the driver and the module with
// the reason — the supervisor's own attempt and the retries of later passes say it at DEBUG —
// for a driver that refuses the start, an SDK driver whose OnLoad fails and a binary that is
// missing.
func TestFailedStartLogsOneError(t *testing.T) {
	t.Parallel()
	var logs testutil.LockedBuffer
	rc := newRealCore(t, `
drivers:
  - {id: drv-t, module_name: Test, role: service, binary: %[1]q}
  - {id: drv-gone, module_name: Gone, role: service, binary: /nonexistent/driver}
  - {id: drv-sdk, module_name: Lighting, role: service, binary: %[2]q}
modules:
  - {id: m-sdk, driver_id: drv-sdk, running: true, uri: "http://127.0.0.1:1", settings: {poll_seconds: -1}}
  - {id: m-bad, driver_id: drv-t, running: true, settings: {refuse_start: true}}
  - {id: m-gone, driver_id: drv-gone, running: true}
`, &logs)
	failedAgain := func(id string) bool {
		for _, e := range logs.Entries("@level", "debug") {
			if e["@message"] == "starting module failed again" && e["module"] == id {
				return true
			}
		}
		return false
	}
	testutil.Eventually(t, 10*time.Second, "both starts failing again on a later pass", func() bool {
		rc.Kick()
		return failedAgain("m-bad") && failedAgain("m-gone") && failedAgain("m-sdk")
	})
	errs := logs.Entries("@level", "error")
	reasons := map[string]string{"m-bad": "refusing to start", "m-gone": "/nonexistent/driver: no such file",
		"m-sdk": `"poll_seconds": -1 is below the minimum 1`}
	byModule := map[string]int{}
	for _, e := range errs {
		id, _ := e["module"].(string)
		byModule[id]++
		if reason, _ := e["error"].(string); reasons[id] == "" || !strings.Contains(reason, reasons[id]) || e["driver"] == nil {
			t.Errorf("an ERROR line without its module, driver or reason: %v", e)
		}
	}
	if len(errs) != 3 || byModule["m-bad"] != 1 || byModule["m-gone"] != 1 || byModule["m-sdk"] != 1 {
		t.Fatalf("%d ERROR lines for three failed starts, by module %v; want one each:\n%s", len(errs), byModule, logs.String())
	}
}

// A running module whose driver refuses a settings update runs on with the settings it had; a
// read of it shows the refusal like a failed start (has_runtime_error, runtime_error,
// error_timestamp) while its connected status stands, until an update is accepted or the module
// stops — for the testdriver's refusal and for an SDK driver's settings type.
func TestRefusedUpdateShowsInModuleReads(t *testing.T) {
	t.Parallel()
	rc := newRealCore(t, `
drivers:
  - {id: drv-t, module_name: Test, role: service, binary: %[1]q}
  - {id: drv-sdk, module_name: Lighting, role: service, binary: %[2]q}
modules:
  - {id: m-t, driver_id: drv-t, running: true, settings: {a: 1}}
  - {id: m-sdk, driver_id: drv-sdk, running: true, uri: "http://127.0.0.1:1", settings: {poll_seconds: 5}}
`, nil)
	testutil.Eventually(t, 10*time.Second, "both modules started", func() bool { return rc.started("m-t") && rc.started("m-sdk") })
	read := func() map[string]call.ModuleRuntime {
		m, _ := rc.store.Model()
		mods := []*model.Module{m.Modules["m-t"], m.Modules["m-sdk"]}
		rts, err := rc.ModuleRuntime(t.Context(), mods)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]call.ModuleRuntime{"m-t": rts[0], "m-sdk": rts[1]}
	}
	refuse := `modules:
  - {id: m-t, driver_id: drv-t, running: true, settings: {refuse_start: true}}
  - {id: m-sdk, driver_id: drv-sdk, running: true, uri: "http://127.0.0.1:1", settings: {poll_seconds: -1}}`
	apply(t, rc.store, refuse)
	reasons := map[string]string{"m-t": "refusing to start", "m-sdk": `"poll_seconds": -1 is below the minimum 1`}
	testutil.Eventually(t, 10*time.Second, "both refusals in the module reads", func() bool {
		for id, rt := range read() {
			if !rt.HasRuntimeError || rt.ErrorTimestamp == nil || !strings.HasPrefix(rt.RuntimeError, updateRefused) ||
				!strings.Contains(rt.RuntimeError, reasons[id]) {
				return false
			}
		}
		return true
	})
	if rt := read()["m-t"]; !rt.Connected || !rc.started("m-t") || !rc.started("m-sdk") {
		t.Fatalf("a module whose update was refused: connected %v, running %v %v; want it running, its connected status standing",
			rt.Connected, rc.started("m-t"), rc.started("m-sdk"))
	}

	apply(t, rc.store, `modules:
  - {id: m-t, driver_id: drv-t, running: true, settings: {a: 2}}
  - {id: m-sdk, driver_id: drv-sdk, running: true, uri: "http://127.0.0.1:1", settings: {poll_seconds: 6}}`)
	testutil.Eventually(t, 10*time.Second, "the refusals cleared by accepted updates", func() bool {
		for _, rt := range read() {
			if rt.HasRuntimeError || rt.RuntimeError != "" || rt.ErrorTimestamp != nil {
				return false
			}
		}
		return true
	})

	// Refused again, then stopped: the refusal leaves with it.
	apply(t, rc.store, refuse)
	testutil.Eventually(t, 10*time.Second, "m-t's refusal recorded again", func() bool { return read()["m-t"].HasRuntimeError })
	apply(t, rc.store, `modules: [{id: m-t, driver_id: drv-t, running: false, settings: {refuse_start: true}}]`)
	testutil.Eventually(t, 10*time.Second, "m-t's refusal forgotten once it stopped", func() bool {
		rc.state.mu.Lock()
		defer rc.state.mu.Unlock()
		_, ok := rc.state.errs["m-t"]
		return !ok
	})
}

// A refused update's words reach module reads without the module's protected values: the
// testdriver's refusal quotes its whole settings.
func TestRefusedUpdateIsScrubbed(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	const secret = "hunter2-pass"
	module := func(settings string) string {
		return `modules: [{id: m-t, driver_id: drv-t, running: true, settings: ` + settings +
			`, protected_settings: [{level: never_displayed, settings: {password: "` + secret + `"}}]}]`
	}
	rc := newSealedRealCore(t, k, "drivers: [{id: drv-t, module_name: Test, role: service, binary: %[1]q}]\n"+module("{a: 1}"), nil)
	testutil.Eventually(t, 10*time.Second, "m-t started", func() bool { return rc.started("m-t") })
	apply(t, rc.store, module("{refuse_start: true}"))
	var rec string
	testutil.Eventually(t, 10*time.Second, "the refusal recorded", func() bool {
		rc.state.mu.Lock()
		defer rc.state.mu.Unlock()
		rec = rc.state.errs["m-t"].Error
		return rec != ""
	})
	if strings.Contains(rec, secret) || !strings.Contains(rec, "[redacted]") || !strings.HasPrefix(rec, updateRefused) {
		t.Fatalf("recorded refusal %q; want it without the password", rec)
	}
}
