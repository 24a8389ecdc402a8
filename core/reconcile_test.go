package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/supervisor"
)

// fakeSup records what the reconciler asks of the supervisor.
type fakeSup struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeSup) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeSup) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	slices.Sort(out)
	return out
}

func (f *fakeSup) Start(_ context.Context, binary string, m *proto.Module) error {
	f.record("start %s %s %s", m.Id, binary, m.SettingsJson)
	return nil
}
func (f *fakeSup) Move(_ context.Context, binary string, m *proto.Module) error {
	f.record("move %s %s", m.Id, binary)
	return nil
}
func (f *fakeSup) Update(_ context.Context, m *proto.Module) error {
	f.record("update %s %s", m.Id, m.SettingsJson)
	return nil
}
func (f *fakeSup) Stop(_ context.Context, id string) error { f.record("stop %s", id); return nil }
func (f *fakeSup) Exec(context.Context, *proto.ExecRequest) (*proto.ExecResponse, error) {
	return &proto.ExecResponse{ResultJson: []byte("true"), Code: 200}, nil
}
func (f *fakeSup) Metadata(context.Context, string) ([]byte, error) {
	return []byte(`{"functions":{}}`), nil
}
func (f *fakeSup) Loaded() map[string][]string { return nil }
func (f *fakeSup) DriverStatus(string) (supervisor.DriverStatus, bool) {
	return supervisor.DriverStatus{}, false
}
func (f *fakeSup) Drivers() []supervisor.DriverStatus { return nil }
func (f *fakeSup) Kill(string) error                  { return nil }

// fakeState keeps lookups and metadata in memory.
type fakeState struct {
	mu      sync.Mutex
	lookups map[string]map[string]string
	meta    map[string]string
	pubs    []string
}

func (s *fakeState) SetStatus(context.Context, string, string, []byte) (bool, error) {
	return true, nil
}
func (s *fakeState) ClearStatus(context.Context, string) error                 { return nil }
func (s *fakeState) Status(context.Context, string) (map[string]string, error) { return nil, nil }
func (s *fakeState) StatusValue(context.Context, string, string) ([]byte, bool, error) {
	return nil, false, nil
}
func (s *fakeState) SetLookup(_ context.Context, id string, e map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups[id] = maps.Clone(e)
	return nil
}
func (s *fakeState) DeleteLookup(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.lookups, id)
	return nil
}
func (s *fakeState) Lookup(_ context.Context, id string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.lookups[id]), nil
}
func (s *fakeState) ResolveModule(context.Context, string, string, int) (string, error) {
	return "", nil
}
func (s *fakeState) SetMetadata(_ context.Context, id string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.meta[id] = string(b)
	return nil
}
func (s *fakeState) Metadata(_ context.Context, id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []byte(s.meta[id]), nil
}
func (s *fakeState) Publish(_ context.Context, ch string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pubs = append(s.pubs, ch+" "+string(msg))
	return nil
}
func (s *fakeState) Subscribe(string, func([]byte), ...state.SubOption) *state.Subscription {
	return nil
}
func (s *fakeState) OnReconnect(func()) func() { return func() {} }

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

func apply(t *testing.T, store *model.Memory, yaml string) {
	t.Helper()
	f, err := model.ParseFile([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

// The reconciler starts what should run with merged settings, updates settings changes in
// place, moves modules to a new binary, stops what should not run, and keeps lookups true.
func TestReconcileDecisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := model.NewMemory()
	apply(t, store, baseModel)
	sup := &fakeSup{}
	st := &fakeState{lookups: map[string]map[string]string{}, meta: map[string]string{}}
	c, err := New(Config{NodeID: "n1", Store: store, State: st},
		func(proto.HostServer, func(context.Context, string)) (Supervisor, error) { return sup, nil })
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		change string
		want   []string
	}{
		{"first pass", "", []string{`start m1 /bin/d1 {"a":1}`, `start m2 /bin/d1 {"a":2}`}},
		{"nothing changed", "", nil},
		{"settings change", `modules: [{id: m1, driver_id: drv-d, running: true, notes: lobby, settings: {b: 3}}]`,
			[]string{`update m1 {"a":1,"b":3}`}},
		{"new binary", `drivers: [{id: drv-d, module_name: Display, role: device, binary: /bin/d2, settings: {a: 1}}]`,
			[]string{"move m1 /bin/d2", "move m2 /bin/d2"}},
		{"stopped", `modules: [{id: m2, driver_id: drv-d, running: false, settings: {a: 2}}]`, []string{"stop m2"}},
		{"started", `modules: [{id: m3, driver_id: drv-d, running: true}]`, []string{`start m3 /bin/d2 {"a":1}`}},
	}
	for _, s := range steps {
		if s.change != "" {
			apply(t, store, s.change)
		}
		c.reconcile(ctx)
		if got := sup.take(); !slices.Equal(got, s.want) {
			t.Fatalf("%s: supervisor calls %q, want %q", s.name, got, s.want)
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
	if len(st.pubs) != 1 || st.pubs[0] != "engine/system ready" {
		t.Fatalf("published %v; want one ready", st.pubs)
	}
}

// Exec through core maps the driver's refusals and failures to the error kinds httpapi needs.
func TestExecLocalRequiresARunningModule(t *testing.T) {
	t.Parallel()
	store := model.NewMemory()
	apply(t, store, baseModel)
	c, _ := New(Config{NodeID: "n1", Store: store, State: &fakeState{lookups: map[string]map[string]string{}, meta: map[string]string{}}},
		func(proto.HostServer, func(context.Context, string)) (Supervisor, error) { return &fakeSup{}, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := c.ExecLocal(ctx, "m1", "power", nil, "", ""); err == nil {
		t.Fatal("exec before the module started succeeded")
	}
	c.reconcile(ctx)
	if res, code, err := c.ExecLocal(ctx, "m1", "power", nil, "", ""); err != nil || code != 200 || string(res) != "true" {
		t.Fatalf("exec = %s %d %v", res, code, err)
	}
	if _, _, err := c.ExecLocal(ctx, "ghost", "power", nil, "", ""); err == nil {
		t.Fatal("exec on an unknown module succeeded")
	}
}

// conflictPeers always answers that another node hosts the module.
type conflictPeers struct{ calls int }

func (p *conflictPeers) Exec(context.Context, string, string, string, json.RawMessage, string, string) (json.RawMessage, int, error) {
	p.calls++
	return nil, 0, errkind.Wrap(errkind.Conflict, nil, "module is hosted by node n3")
}

// While nodes disagree on where a module lives, a client gets a retryable 503, never the 409 of
// the node-to-node route.
func TestExecWhileModuleMovesIsUnavailable(t *testing.T) {
	t.Parallel()
	c := &Core{cfg: Config{NodeID: "n1", Peers: &conflictPeers{}}, log: hclog.NewNullLogger()}
	c.cfg.Cluster = fakeCluster{nodes: []raftfsm.Node{{ID: "n1", Up: true}, {ID: "n2", HTTPAddr: "n2:80", Up: true}}}
	var mod string
	for i := 0; ; i++ { // a module id the ring gives to n2
		mod = fmt.Sprintf("m%d", i)
		c.refreshView()
		if owner, _ := c.Owner(mod); owner == "n2" {
			break
		}
	}
	_, _, err := c.Exec(context.Background(), mod, "power", nil, "", "")
	if !errors.Is(err, errkind.Unavailable) || errors.Is(err, errkind.Conflict) {
		t.Fatalf("exec while moving: %v; want Unavailable and not Conflict", err)
	}
	if n := c.cfg.Peers.(*conflictPeers).calls; n != 2 {
		t.Fatalf("peer called %d times, want 2 (one retry)", n)
	}
}

type fakeCluster struct{ nodes []raftfsm.Node }

func (f fakeCluster) Nodes() []raftfsm.Node                              { return f.nodes }
func (f fakeCluster) Epoch() uint64                                      { return 1 }
func (f fakeCluster) IsLeader() bool                                     { return false }
func (f fakeCluster) Leader() (string, string)                           { return "", "" }
func (f fakeCluster) SetNodeReady(context.Context, string, uint64) error { return nil }
func (f fakeCluster) CaughtUp() bool                                     { return true }
