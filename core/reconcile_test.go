package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
)

const baseModel = `
drivers:
  - {id: drv-d, module_name: Display, role: device, binary: /bin/d1, settings: {a: 1}}
modules:
  - {id: m1, driver_id: drv-d, running: true, notes: lobby}
  - {id: m2, driver_id: drv-d, running: true, settings: {a: 2}}
  - {id: m3, driver_id: drv-d}
systems:
  - {id: s1, name: S, modules: [m1, m2, m3]}
`

// The reconciler starts what should run with merged settings, updates settings changes in
// place, moves modules to a new binary, stops what should not run, and keeps lookups true.
func TestReconcileDecisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := model.NewMemory()
	apply(t, store, baseModel)
	sup := &fakeSup{}
	st := newFakeState()
	c, err := New(Config{NodeID: "n1", Store: store, State: st},
		func(_ proto.HostServer, onStart func(context.Context, string)) (Supervisor, error) {
			sup.onStart = onStart
			return sup, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	// hosted is what the state store is told this node hosts after each step: what it writes
	// back after a Redis loss.
	steps := []struct {
		name   string
		change string
		want   []string
		hosted []string
	}{
		{"first pass", "", []string{`start m1 /bin/d1 {"a":1}`, `start m2 /bin/d1 {"a":2}`}, []string{"m1", "m2"}},
		{"nothing changed", "", nil, []string{"m1", "m2"}},
		{"settings change", `modules: [{id: m1, driver_id: drv-d, running: true, notes: lobby, settings: {b: 3}}]`,
			[]string{`update m1 {"a":1,"b":3}`}, []string{"m1", "m2"}},
		{"new binary", `drivers: [{id: drv-d, module_name: Display, role: device, binary: /bin/d2, settings: {a: 1}}]`,
			[]string{"move m1 /bin/d2", "move m2 /bin/d2"}, []string{"m1", "m2"}},
		{"stopped", `modules: [{id: m2, driver_id: drv-d, running: false, settings: {a: 2}}]`, []string{"stop m2"}, []string{"m1"}},
		{"started", `modules: [{id: m3, driver_id: drv-d, running: true}]`, []string{`start m3 /bin/d2 {"a":1}`}, []string{"m1", "m3"}},
	}
	for _, s := range steps {
		if s.change != "" {
			apply(t, store, s.change)
		}
		c.reconcile(ctx)
		if got := sup.take(); !slices.Equal(got, s.want) {
			t.Fatalf("%s: supervisor calls %q, want %q", s.name, got, s.want)
		}
		if mods, systems := st.share(); !slices.Equal(mods, s.hosted) || !slices.Equal(systems, []string{"s1"}) {
			t.Fatalf("%s: hosting modules %q and systems %q, want %q and [s1]", s.name, mods, systems, s.hosted)
		}
	}
	if !c.Ready() {
		t.Fatal("not ready after reconciling")
	}
	if got := st.lookups["s1"]; got["Display/1"] != "m1" || got["Display/2"] != "m2" || got["Display/3"] != "m3" {
		t.Fatalf("lookup = %v", got)
	}
	var meta map[string]json.RawMessage
	if err := json.Unmarshal([]byte(st.meta["m1"]), &meta); err != nil || string(meta["notes"]) != `"lobby"` {
		t.Fatalf("metadata of m1 = %s", st.meta["m1"])
	}
	// Removing the system deletes its lookup.
	if err := store.Update(ctx, func(m *model.Model) (*model.Model, error) {
		next := m.Clone()
		delete(next.Systems, "s1")
		return next, nil
	}); err != nil {
		t.Fatal(err)
	}
	c.reconcile(ctx)
	if _, ok := st.lookups["s1"]; ok {
		t.Fatal("lookup of a removed system is still there")
	}
	if _, systems := st.share(); len(systems) != 0 {
		t.Fatalf("still owning systems %q after the system was removed", systems)
	}
	if pubs := st.published(); len(pubs) != 1 || pubs[0] != "engine/system ready" {
		t.Fatalf("published %v; want one ready", pubs)
	}
}

// A module whose start failed is still the supervisor's (it starts it again with its driver's
// next process): once the module should not run, the supervisor is told to let it go.
func TestFailedStartIsStoppedWhenUnwanted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := model.NewMemory()
	apply(t, store, baseModel)
	sup := &fakeSup{startErr: map[string]error{"m2": errors.New("OnLoad: bad settings")}}
	c, err := New(Config{NodeID: "n1", Store: store, State: newFakeState()},
		func(proto.HostServer, func(context.Context, string)) (Supervisor, error) { return sup, nil })
	if err != nil {
		t.Fatal(err)
	}
	c.reconcile(ctx)
	if got := sup.take(); !slices.Contains(got, `start m2 /bin/d1 {"a":2}`) {
		t.Fatalf("supervisor calls %q", got)
	}
	apply(t, store, `modules: [{id: m2, driver_id: drv-d, running: false, settings: {a: 2}}]`)
	c.reconcile(ctx)
	if got := sup.take(); !slices.Equal(got, []string{"stop m2"}) {
		t.Fatalf("supervisor calls %q after the failed module was stopped, want [stop m2]", got)
	}
}

// A start that keeps failing the same way is retried every pass but logged at ERROR once and
// written to Redis once (again only after rerecordAfter); a different failure is news again.
func TestRepeatedStartFailureLoggedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := model.NewMemory()
	apply(t, store, baseModel)
	var logs bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Error})
	sup := &fakeSup{startErr: map[string]error{"m2": errors.New("OnLoad: bad settings")}}
	st := newFakeState()
	c, err := New(Config{NodeID: "n1", Store: store, State: st, Logger: log},
		func(proto.HostServer, func(context.Context, string)) (Supervisor, error) { return sup, nil })
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.reconcile(ctx)
	}
	if starts := strings.Count(strings.Join(sup.take(), "\n"), "start m2 "); starts != 3 {
		t.Fatalf("%d starts of m2 in 3 passes; want 3 (a failed start is retried every pass)", starts)
	}
	if n := strings.Count(logs.String(), "starting module failed"); n != 1 {
		t.Fatalf("logged %d times at ERROR in 3 passes; want once:\n%s", n, logs.String())
	}
	if st.errWrites != 1 {
		t.Fatalf("the same failure written to Redis %d times in 3 passes; want once", st.errWrites)
	}
	sup.mu.Lock()
	sup.startErr["m2"] = errors.New("OnLoad: another reason")
	sup.mu.Unlock()
	c.reconcile(ctx)
	if n := strings.Count(logs.String(), "starting module failed"); n != 2 {
		t.Fatalf("a new failure logged %d times in all; want 2:\n%s", n, logs.String())
	}
	if st.errWrites != 2 || st.errs["m2"].Error != "OnLoad: another reason" {
		t.Fatalf("a new failure: %d writes, recorded %q; want it written", st.errWrites, st.errs["m2"].Error)
	}
}

// An update the driver took is what the node compares the next model with, even when writing the
// module's metadata failed: a change made and undone meanwhile still reaches the driver.
func TestUpdateTakenDespiteAMetadataFailure(t *testing.T) {
	t.Parallel()
	tc := newTestCore(t, baseModel, nil)
	ctx := t.Context()
	tc.reconcile(ctx)
	tc.sup.take()
	tc.state.mu.Lock()
	tc.state.setMetaErr = errkind.New(errkind.Unavailable, "redis unavailable")
	tc.state.mu.Unlock()
	for _, a := range []string{"3", "2"} {
		apply(t, tc.store, `modules: [{id: m2, driver_id: drv-d, running: true, settings: {a: `+a+`}}]`)
		tc.reconcile(ctx)
		if got := tc.sup.take(); !slices.Equal(got, []string{`update m2 {"a":` + a + `}`}) {
			t.Fatalf("supervisor calls %q for a = %s; want its update", got, a)
		}
	}
}
