package core

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/state"
)

// A failing start is recorded with the time failures began (kept by later retries), shown by
// ModuleRuntime while the module runs, and forgotten once it starts; connected follows the
// module's connected status only while it runs.
func TestModuleRuntimeShowsStartFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFakeState()
	sup := &fakeSup{startErr: map[string]error{"m2": errors.New("OnLoad: bad settings")}}
	c, store := runtimeCore(t, st, sup)
	c.reconcile(ctx)
	m, _ := store.Model()
	mods := []*model.Module{m.Modules["m1"], m.Modules["m2"], m.Modules["m3"]}
	rts, err := c.ModuleRuntime(ctx, mods)
	if err != nil {
		t.Fatal(err)
	}
	if rts[0].HasRuntimeError || rts[0].ErrorTimestamp != nil || !rts[0].Connected || rts[0].CoreNode != "n1" {
		t.Fatalf("m1 (started): %+v", rts[0])
	}
	if !rts[1].HasRuntimeError || rts[1].ErrorTimestamp == nil || *rts[1].ErrorTimestamp == 0 {
		t.Fatalf("m2 (start fails): %+v", rts[1])
	}
	first := *rts[1].ErrorTimestamp
	if st.errs["m2"].At.IsZero() {
		t.Fatal("no failure time recorded")
	}
	began := st.errs["m2"].At
	c.reconcile(ctx) // fails again: the time failures began stays
	if got := st.errs["m2"].At; !got.Equal(began) {
		t.Fatalf("a retry moved the failure's start from %v to %v", began, got)
	}

	_, _ = st.SetStatus(ctx, "m1", "connected", []byte("false"))
	_, _ = st.SetStatus(ctx, "m3", "connected", []byte("false"))
	sup.mu.Lock()
	delete(sup.startErr, "m2")
	sup.mu.Unlock()
	c.reconcile(ctx)
	rts, err = c.ModuleRuntime(ctx, mods)
	if err != nil {
		t.Fatal(err)
	}
	if rts[1].HasRuntimeError || rts[1].ErrorTimestamp != nil {
		t.Fatalf("m2 after its start succeeded (failing since %d): %+v", first, rts[1])
	}
	if _, ok := st.errs["m2"]; ok {
		t.Fatal("the failure record outlived the successful start")
	}
	if rts[0].Connected || !rts[2].Connected {
		t.Fatalf("connected: m1 (running, connected false) %v, m3 (stopped) %v", rts[0].Connected, rts[2].Connected)
	}
}

// A record another node left (the module has moved since) is not the current owner's: ignored.
func TestModuleRuntimeIgnoresFormerOwnersRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFakeState()
	c, store := runtimeCore(t, st, &fakeSup{})
	c.reconcile(ctx)
	st.errs["m1"] = state.ModuleError{Node: "n0", At: time.Now(), Error: "OnLoad: bad settings"}
	m, _ := store.Model()
	rts, err := c.ModuleRuntime(ctx, []*model.Module{m.Modules["m1"]})
	if err != nil {
		t.Fatal(err)
	}
	if rts[0].HasRuntimeError {
		t.Fatalf("a former owner's record counted: %+v", rts[0])
	}
}

// runtimeCore is node n1 alone running baseModel on sup, with its Redis state in st.
func runtimeCore(t *testing.T, st *fakeState, sup *fakeSup) (*Core, *model.Memory) {
	t.Helper()
	store := model.NewMemory()
	apply(t, store, baseModel)
	c, err := New(Config{NodeID: "n1", Store: store, State: st, Logger: hclog.NewNullLogger()},
		func(proto.HostServer, func(context.Context, string)) (Supervisor, error) { return sup, nil })
	if err != nil {
		t.Fatal(err)
	}
	return c, store
}

// A module whose driver has not built is not started; it is recorded as such (not as a runtime
// error) with the reason, and forgotten once it starts on another driver, or is stopped.
func TestModuleRuntimeShowsDriverNotBuilt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFakeState()
	c, store := runtimeCore(t, st, &fakeSup{})
	// This node has no builder: a repository driver has no binary here.
	apply(t, store, `
repositories: [{id: repo-1, uri: /srv/repo}]
drivers: [{id: drv-r, module_name: Display, role: device, repository_id: repo-1, path: drivers/d}]
modules: [{id: m4, driver_id: drv-r, running: true}, {id: m5, driver_id: drv-r, running: true}]
`)
	read := func() []call.ModuleRuntime {
		t.Helper()
		c.reconcile(ctx)
		m, _ := store.Model()
		rts, err := c.ModuleRuntime(ctx, []*model.Module{m.Modules["m4"], m.Modules["m5"]})
		if err != nil {
			t.Fatal(err)
		}
		return rts
	}
	rts := read()
	if !rts[0].DriverNotBuilt || rts[0].HasRuntimeError || rts[0].ErrorTimestamp != nil || !strings.Contains(rts[0].RuntimeError, "no builder") {
		t.Fatalf("m4 (driver not built): %+v", rts[0])
	}
	apply(t, store, `modules: [{id: m4, driver_id: drv-d, running: true}, {id: m5, driver_id: drv-r, running: false}]`)
	rts = read()
	if rts[0].DriverNotBuilt || rts[0].RuntimeError != "" || rts[1].DriverNotBuilt || rts[1].RuntimeError != "" {
		t.Fatalf("m4 started on a built driver, m5 stopped: %+v", rts)
	}
	if len(st.errs) != 0 {
		t.Fatalf("records left: %v", st.errs)
	}
}
