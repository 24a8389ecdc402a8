package core

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/supervisor"
)

// runtimeOf is the module read's runtime fields of module id of store, read by c.
func runtimeOf(t *testing.T, c *Core, store *model.Memory, id string) call.ModuleRuntime {
	t.Helper()
	m, _ := store.Model()
	rts, err := c.ModuleRuntime(t.Context(), []*model.Module{m.Modules[id]})
	if err != nil {
		t.Fatal(err)
	}
	return rts[0]
}

func (rc *realCore) runtimeOf(t *testing.T, id string) call.ModuleRuntime {
	t.Helper()
	return runtimeOf(t, rc.Core, rc.store, id)
}

// record is what Redis holds of module id's failure: what a read on any other node shows.
func (rc *realCore) record(id string) (state.ModuleError, bool) {
	rc.state.mu.Lock()
	defer rc.state.mu.Unlock()
	e, ok := rc.state.errs[id]
	return e, ok
}

// stableSoon is a supervisor whose processes are stable after stableAfter, and that relaunches
// within a fifth of a second: a crash loop's episode ends within a test's patience.
func stableSoon(c *supervisor.Config) {
	c.StableAfter, c.BackoffMax = stableAfter, 200*time.Millisecond
}

const stableAfter = 2 * time.Second

// A module whose driver process dies some time after its start (a crash loop after the start)
// reads not connected, with why, both here and in Redis for the other nodes, within a few
// seconds; while a relaunched process runs it between crashes, it reads connected with a note
// of the restarts (has_runtime_error); once a process has run StableAfter, it reads all fine and
// the record is gone.
func TestDriverCrashAfterStartReadsNotConnected(t *testing.T) {
	t.Parallel()
	bad := testutil.BuildBinary(t, "internal/baddriver")
	crashing := filepath.Join(t.TempDir(), "crashing")
	testutil.WriteFile(t, crashing, "")
	rc := newRealCoreWith(t, Config{}, `drivers: [{id: drv-t, module_name: Test, role: service, binary: %[1]q}]`, nil, stableSoon)
	apply(t, rc.store, fmt.Sprintf(`
drivers: [{id: drv-bad, module_name: Bad, role: service, binary: %q}]
modules: [{id: m-late, driver_id: drv-bad, running: true, settings: {mode: crash_later, crash_after_ms: 600, crash_while: %q}}]
`, bad, crashing))
	testutil.Eventually(t, 10*time.Second, "m-late started", func() bool { return rc.started("m-late") })

	var rt call.ModuleRuntime
	testutil.Eventually(t, 5*time.Second, "m-late read as not connected with the reason", func() bool {
		rt = rc.runtimeOf(t, "m-late")
		return !rt.Connected
	})
	if !rt.HasRuntimeError || rt.ErrorTimestamp == nil || !strings.HasPrefix(rt.RuntimeError, "driver process is ") ||
		!strings.Contains(rt.RuntimeError, "exit status 9") {
		t.Fatalf("m-late while its driver crash-loops: %+v", rt)
	}
	var e state.ModuleError
	testutil.Eventually(t, 5*time.Second, "the record in Redis, for the other nodes", func() bool {
		var ok bool
		e, ok = rc.record("m-late")
		return ok
	})
	if e.Node != "n1" || !strings.Contains(e.Error, "exit status 9") || e.Build || e.Update || !e.Hung.IsZero() {
		t.Fatalf("the record other nodes read: %+v", e)
	}

	// Up between two crashes: it runs, but a read says it keeps restarting, here and in the
	// record the other nodes read.
	const note = "driver process restarted "
	testutil.Eventually(t, 10*time.Second, "m-late up between crashes, with the restart note", func() bool {
		rt = rc.runtimeOf(t, "m-late")
		e, _ = rc.record("m-late")
		return rt.Connected && strings.HasPrefix(rt.RuntimeError, note) && strings.HasPrefix(e.Error, note)
	})
	if !rt.HasRuntimeError || rt.ErrorTimestamp == nil || !strings.Contains(rt.RuntimeError, "(last: exit status 9); running again since ") ||
		e.StableAt.IsZero() || e.Node != "n1" {
		t.Fatalf("m-late up between crashes: read %+v, record %+v", rt, e)
	}

	// The next process lives: once it has run StableAfter, the module reads all fine and the
	// record is gone.
	if err := os.Remove(crashing); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "m-late connected again, its record gone", func() bool {
		_, recorded := rc.record("m-late")
		rt = rc.runtimeOf(t, "m-late")
		return rt.Connected && !rt.HasRuntimeError && rt.RuntimeError == "" && !recorded
	})
	if _, err := rc.sup.Exec(t.Context(), &proto.ExecRequest{ModuleId: "m-late", Function: "echo", ArgsJson: []byte("[1]")}); err != nil {
		t.Fatalf("m-late after it recovered: %v", err)
	}
}

// A process that crash-loops at launch after its module ran restarts many times, but Redis gets
// one write when it goes down and one when it turns to crash-looping, not one per restart; the
// first process that starts the module again turns it to a restart note, which lapses once that
// process has run StableAfter.
func TestDriverCrashLoopRecordsOncePerEpisode(t *testing.T) {
	t.Parallel()
	bad := testutil.BuildBinary(t, "internal/baddriver")
	dir := t.TempDir()
	noLaunch := filepath.Join(dir, "no-launch")
	wrapper := filepath.Join(dir, "bad-launch")
	testutil.WriteFile(t, wrapper, fmt.Sprintf("#!/bin/sh\n[ -e %q ] && exit 3\nexec %q\n", noLaunch, bad))
	if err := os.Chmod(wrapper, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := newRealCoreWith(t, Config{}, `drivers: [{id: drv-t, module_name: Test, role: service, binary: %[1]q}]`, nil, stableSoon)
	apply(t, rc.store, fmt.Sprintf(`
drivers: [{id: drv-bad, module_name: Bad, role: service, binary: %q}]
modules: [{id: m-bad, driver_id: drv-bad, running: true}]
`, wrapper))
	testutil.Eventually(t, 10*time.Second, "m-bad started", func() bool { return rc.started("m-bad") })

	testutil.WriteFile(t, noLaunch, "")
	rc.state.mu.Lock()
	before := rc.state.errWrites
	rc.state.mu.Unlock()
	_, _ = rc.sup.Exec(t.Context(), &proto.ExecRequest{ModuleId: "m-bad", Function: "crash", ArgsJson: []byte("[9]")})
	const restarts = 6
	testutil.Eventually(t, 15*time.Second, fmt.Sprintf("%d restarts", restarts), func() bool {
		st, _ := rc.sup.DriverStatus(wrapper)
		return st.RestartCount >= restarts
	})
	rt := rc.runtimeOf(t, "m-bad")
	e, _ := rc.record("m-bad")
	rc.state.mu.Lock()
	writes := rc.state.errWrites - before
	rc.state.mu.Unlock()
	const want = "driver process is crash-looping (5 restarts): "
	if rt.Connected || !strings.HasPrefix(rt.RuntimeError, want) || !strings.HasPrefix(e.Error, want) || e.Node != "n1" {
		t.Fatalf("m-bad crash-looping: read %+v, record %+v; want not connected, %q…", rt, e, want)
	}
	if writes != 2 {
		t.Fatalf("%d record writes for one episode of %d restarts, want 2 (down, crash-looping)", writes, restarts)
	}

	if err := os.Remove(noLaunch); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "m-bad connected again, its record gone", func() bool {
		_, recorded := rc.record("m-bad")
		rt = rc.runtimeOf(t, "m-bad")
		return rt.Connected && !rt.HasRuntimeError && !recorded
	})
}

// drainDowns writes what writeDowns would, here and now.
func drainDowns(ctx context.Context, c *Core) {
	c.mu.Lock()
	ids := c.downPending
	c.downPending = nil
	c.mu.Unlock()
	for id := range ids {
		c.writeDown(ctx, id)
	}
}

// Down is recorded once per episode and per change to crash-looping, for the running modules of
// that binary only; the first relaunch that starts them clears it, and so does a move of the
// module to a new binary (the record is of the process it left).
func TestProcessDownEpisodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := newFakeState()
	c, store := runtimeCore(t, st, &fakeSup{})
	c.reconcile(ctx)
	read := func(id string) call.ModuleRuntime { t.Helper(); return runtimeOf(t, c, store, id) }
	down := func(binary string, s string, restarts int) {
		c.OnProcessState(binary, []string{"m1", "m3"}, supervisor.ProcessState{State: s, Restarts: restarts, Reason: "exit status 9"})
		drainDowns(ctx, c)
	}

	down("/bin/other", supervisor.StateRestarting, 1) // not the binary m1 runs on
	if len(st.errs) != 0 || !read("m1").Connected {
		t.Fatalf("another binary's exit recorded: %v", st.errs)
	}
	down("/bin/d1", supervisor.StateRestarting, 1)
	e, ok := st.errs["m1"]
	if rt := read("m1"); !ok || e.Error != "driver process is restarting (1 restart): exit status 9" || e.Node != "n1" ||
		rt.Connected || rt.RuntimeError != e.Error || !rt.HasRuntimeError {
		t.Fatalf("m1 down: record %+v, read %+v", e, rt)
	}
	if _, ok := st.errs["m3"]; ok {
		t.Fatal("m3, not running, recorded")
	}
	status, err := c.NodeStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f := status.(map[string]any)["failures"].([]ModuleStatus); len(f) != 1 || f[0].ID != "m1" || f[0].Error != e.Error {
		t.Fatalf("the node status's failures: %+v", f)
	}
	writes := st.errWrites
	down("/bin/d1", supervisor.StateRestarting, 2)
	down("/bin/d1", supervisor.StateRestarting, 3)
	if st.errWrites != writes {
		t.Fatalf("%d writes for restarts of one episode", st.errWrites-writes)
	}
	down("/bin/d1", supervisor.StateCrashloop, 5)
	if got := st.errs["m1"]; st.errWrites != writes+1 || got.Error != "driver process is crash-looping (5 restarts): exit status 9" || !got.At.Equal(e.At) {
		t.Fatalf("turned crash-looping: %d writes, record %+v (episode began %v)", st.errWrites-writes, got, e.At)
	}
	// A reconcile pass leaves the record alone: no other record of the module (a last good
	// build's) clears it to have it written again.
	c.reconcile(ctx)
	drainDowns(ctx, c)
	if got, ok := st.errs["m1"]; !ok || st.errWrites != writes+1 || got.Error != "driver process is crash-looping (5 restarts): exit status 9" {
		t.Fatalf("after a pass: %d writes, record %+v (present: %v)", st.errWrites-writes, got, ok)
	}

	// Up again after the restarts: one write turns the record to a restart note; the module runs,
	// so it reads connected, with the note.
	c.OnProcessState("/bin/d1", []string{"m1"}, supervisor.ProcessState{State: supervisor.StateRunning, Restarts: 5,
		Reason: "exit status 9", StableAt: time.Now().Add(time.Hour)})
	drainDowns(ctx, c)
	got, rt := st.errs["m1"], read("m1")
	if st.errWrites != writes+2 || !got.At.Equal(e.At) || got.StableAt.IsZero() || !rt.Connected || !rt.HasRuntimeError ||
		!strings.HasPrefix(rt.RuntimeError, "driver process restarted 5 times (last: exit status 9); running again since ") ||
		rt.RuntimeError != got.Error {
		t.Fatalf("m1 up after restarts: %d writes, record %+v, read %+v", st.errWrites-writes, got, rt)
	}
	// The process has run StableAfter: the note lapses, here and in the record, without a write;
	// the next pass clears the record.
	past := time.Now().Add(-time.Second)
	c.mu.Lock()
	c.modules["m1"].down.stableAt = past
	c.mu.Unlock()
	got.StableAt = past
	st.errs["m1"] = got
	if rt := read("m1"); !rt.Connected || rt.HasRuntimeError || rt.RuntimeError != "" || st.errWrites != writes+2 {
		t.Fatalf("m1 stable again: read %+v", rt)
	}
	c.rerecordDowns()
	drainDowns(ctx, c)
	if _, ok := st.errs["m1"]; ok {
		t.Fatalf("m1 stable again: the lapsed note still recorded: %+v", st.errs["m1"])
	}

	down("/bin/d1", supervisor.StateRunning, 0)
	if _, ok := st.errs["m1"]; ok || !read("m1").Connected {
		t.Fatalf("m1 restarted: record %+v, read %+v", st.errs["m1"], read("m1"))
	}

	// Down again, then moved to a new binary by the pass: the record of the old process goes.
	down("/bin/d1", supervisor.StateRestarting, 1)
	if _, ok := st.errs["m1"]; !ok {
		t.Fatal("a new episode not recorded")
	}
	apply(t, store, `drivers: [{id: drv-d, module_name: Display, role: device, binary: /bin/d2, settings: {a: 1}}]`)
	c.reconcile(ctx)
	drainDowns(ctx, c)
	if _, ok := st.errs["m1"]; ok || !read("m1").Connected {
		t.Fatalf("m1 moved to a new binary: record %+v, read %+v", st.errs["m1"], read("m1"))
	}
}

// Why a process ended names no module, but may quote what it printed: every protected value this
// node knows is hidden in the record and the read, for the user role reads runtime_error.
func TestProcessDownHidesProtectedValues(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := newFakeState()
	c, store := runtimeCore(t, st, &fakeSup{})
	c.reconcile(ctx)
	c.setSecrets("m2", []string{"hunter2-secret"}, model.LevelAdmin)
	c.OnProcessState("/bin/d1", []string{"m1"}, supervisor.ProcessState{State: supervisor.StateRestarting, Restarts: 1,
		Reason: "plugin: Unrecognized remote plugin message: password=hunter2-secret"})
	drainDowns(ctx, c)
	rt := runtimeOf(t, c, store, "m1")
	if e := st.errs["m1"]; strings.Contains(e.Error, "hunter2") || strings.Contains(rt.RuntimeError, "hunter2") ||
		!strings.Contains(e.Error, "password=") || rt.Connected {
		t.Fatalf("record %q, read %+v: want m2's protected value hidden", e.Error, rt)
	}
	// Up again: the restart note quotes the same reason, hidden alike.
	c.OnProcessState("/bin/d1", []string{"m1"}, supervisor.ProcessState{State: supervisor.StateRunning, Restarts: 1,
		Reason: "plugin: Unrecognized remote plugin message: password=hunter2-secret", StableAt: time.Now().Add(time.Hour)})
	drainDowns(ctx, c)
	rt = runtimeOf(t, c, store, "m1")
	if e := st.errs["m1"]; strings.Contains(e.Error, "hunter2") || strings.Contains(rt.RuntimeError, "hunter2") ||
		!strings.Contains(e.Error, "driver process restarted 1 time (last: ") || !rt.HasRuntimeError {
		t.Fatalf("restart note %q, read %+v: want m2's protected value hidden", e.Error, rt)
	}
}
