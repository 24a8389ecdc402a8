package core

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/supervisor"
)

// The fakes stand in for core's collaborators through the interfaces in deps.go, so that core's
// own decisions can be tested without Redis, Raft or driver processes. The engine's real parts
// are tested together in e2e and cmd/engine.

// fakeSup records what the reconciler asks of the supervisor and answers executes with exec.
type fakeSup struct {
	// onStart is the core's OnModuleStart, called before every Start as the supervisor does
	// (nil: not called).
	onStart func(ctx context.Context, moduleID string)

	mu    sync.Mutex
	calls []string
	execs []*proto.ExecRequest
	meta  string // the metadata of every binary; `{"functions":{}}` when empty
	exec  func(ctx context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error)
	debug map[string]func(level, msg string)
	// startErr is what a Start of a module answers (its driver's OnLoad failed), by module id.
	startErr map[string]error
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

func (f *fakeSup) Start(ctx context.Context, binary string, m *proto.Module) error {
	if f.onStart != nil {
		f.onStart(ctx, m.Id)
	}
	f.record("start %s %s %s", m.Id, binary, m.SettingsJson)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.startErr[m.Id]
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
func (f *fakeSup) Exec(ctx context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error) {
	f.mu.Lock()
	f.execs = append(f.execs, req)
	h := f.exec
	f.mu.Unlock()
	if h != nil {
		return h(ctx, req)
	}
	return &proto.ExecResponse{ResultJson: []byte("true"), Code: 200}, nil
}

// executed lists the functions the driver ran, as "module.function(user)".
func (f *fakeSup) executed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.execs))
	for i, r := range f.execs {
		out[i] = fmt.Sprintf("%s.%s(%s)", r.ModuleId, r.Function, r.UserId)
	}
	return out
}

func (f *fakeSup) Metadata(context.Context, string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.meta == "" {
		return []byte(`{"functions":{}}`), nil
	}
	return []byte(f.meta), nil
}
func (f *fakeSup) Debug(moduleID string, fn func(level, msg string)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.debug == nil {
		f.debug = map[string]func(string, string){}
	}
	f.debug[moduleID] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.debug, moduleID)
	}
}
func (f *fakeSup) Loaded() map[string][]string { return nil }
func (f *fakeSup) DriverStatus(string) (supervisor.DriverStatus, bool) {
	return supervisor.DriverStatus{}, false
}
func (f *fakeSup) Drivers() []supervisor.DriverStatus { return nil }
func (f *fakeSup) Kill(string) error                  { return nil }
func (f *fakeSup) Reload(context.Context, string) (supervisor.Reload, error) {
	return supervisor.Reload{Result: supervisor.ReloadNotRunning}, nil
}
func (f *fakeSup) RunningSHA256(string) (string, bool) { return "", false }

// fakeState keeps statuses, lookups and metadata in memory, answering misses with
// errkind.NotFound as package state does.
type fakeState struct {
	mu         sync.Mutex
	lookups    map[string]map[string]string
	meta       map[string]string
	status     map[string]map[string]string
	pubs       []string
	hosted     map[string]bool // Host and Unhost
	cleared    []string        // ClearStatus calls, in order
	owned      []string        // the last OwnSystems, sorted
	subs       map[string][]func([]byte)
	metaErr    error // every Metadata read fails with it (Redis away)
	errs       map[string]state.ModuleError
	errWrites  int      // SetModuleError calls
	forgot     []string // ForgetModule calls that succeeded, in order
	forgetErr  error    // every ForgetModule fails with it (Redis away)
	setMetaErr error    // every SetMetadata fails with it
}

func newFakeState() *fakeState {
	return &fakeState{lookups: map[string]map[string]string{}, meta: map[string]string{},
		status: map[string]map[string]string{}, hosted: map[string]bool{}, errs: map[string]state.ModuleError{}}
}

func (s *fakeState) SetModuleError(_ context.Context, id string, e state.ModuleError) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errWrites++
	s.errs[id] = e
	return nil
}

func (s *fakeState) ClearModuleError(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.errs, id)
	return nil
}

func (s *fakeState) ModuleRuntime(_ context.Context, ids []string) ([]state.ModuleRuntime, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]state.ModuleRuntime, len(ids))
	for i, id := range ids {
		if v, ok := s.status[id]["connected"]; ok {
			out[i].Connected = []byte(v)
		}
		if e, ok := s.errs[id]; ok {
			out[i].Error = &e
		}
	}
	return out, nil
}

func (s *fakeState) Host(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hosted[id] = true
}
func (s *fakeState) Unhost(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.hosted, id)
}
func (s *fakeState) OwnSystems(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owned = slices.Sorted(slices.Values(ids))
}

// share is what the store was told this node hosts: modules and systems, each sorted.
func (s *fakeState) share() (modules, systems []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.hosted)), slices.Clone(s.owned)
}

func (s *fakeState) SetStatus(_ context.Context, mod, name string, v []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status[mod] == nil {
		s.status[mod] = map[string]string{}
	}
	s.status[mod][name] = string(v)
	return true, nil
}
func (s *fakeState) ClearStatus(_ context.Context, mod string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleared = append(s.cleared, mod)
	return nil
}
func (s *fakeState) ForgetModule(_ context.Context, mod string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forgetErr != nil {
		return 0, s.forgetErr
	}
	n := len(s.status[mod])
	if _, ok := s.meta[mod]; ok {
		n++
	}
	delete(s.status, mod)
	delete(s.meta, mod)
	delete(s.errs, mod)
	delete(s.hosted, mod)
	s.forgot = append(s.forgot, mod)
	return n, nil
}
func (s *fakeState) KeepCluster(context.Context, *state.ClusterRecord) ([]byte, bool, error) {
	return nil, false, nil
}

func (s *fakeState) KeyedIDs(context.Context) ([]string, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forgetErr != nil {
		return nil, nil, s.forgetErr
	}
	mods := map[string]bool{}
	for _, m := range []map[string]bool{keySet(s.status), keySet(s.meta), keySet(s.errs)} {
		maps.Copy(mods, m)
	}
	return slices.Sorted(maps.Keys(mods)), slices.Sorted(maps.Keys(s.lookups)), nil
}

func keySet[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

func (s *fakeState) Status(_ context.Context, mod string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.status[mod]), nil
}
func (s *fakeState) StatusValue(_ context.Context, mod, name string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.status[mod][name]
	return []byte(v), ok, nil
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
	l, ok := s.lookups[id]
	if !ok {
		return nil, errkind.Wrap(errkind.NotFound, nil, "no lookup of %s", id)
	}
	return maps.Clone(l), nil
}
func (s *fakeState) ResolveModule(ctx context.Context, sys, name string, index int) (string, error) {
	l, err := s.Lookup(ctx, sys)
	if err != nil {
		return "", err
	}
	id, ok := l[state.LookupField(name, index)]
	if !ok {
		return "", errkind.Wrap(errkind.NotFound, nil, "no %s_%d in %s", name, index, sys)
	}
	return id, nil
}
func (s *fakeState) SetMetadata(_ context.Context, id string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setMetaErr != nil {
		return s.setMetaErr
	}
	s.meta[id] = string(b)
	return nil
}
func (s *fakeState) Metadata(_ context.Context, id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.metaErr != nil {
		return nil, s.metaErr
	}
	m, ok := s.meta[id]
	if !ok {
		return nil, errkind.Wrap(errkind.NotFound, nil, "no interface/%s", id)
	}
	return []byte(m), nil
}
func (s *fakeState) Publish(_ context.Context, ch string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pubs = append(s.pubs, ch+" "+string(msg))
	return nil
}
func (s *fakeState) published() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pubs)
}
func (s *fakeState) Subscribe(ch string, fn func([]byte), _ ...state.SubOption) *state.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[string][]func([]byte){}
	}
	s.subs[ch] = append(s.subs[ch], fn)
	return nil
}

// deliver hands msg to the listeners of ch, as a message from Redis.
func (s *fakeState) deliver(ch string, msg []byte) {
	s.mu.Lock()
	fns := slices.Clone(s.subs[ch])
	s.mu.Unlock()
	for _, fn := range fns {
		fn(msg)
	}
}

// fakeCluster is a membership that tests change between reconcile passes.
type fakeCluster struct {
	mu       sync.Mutex
	nodes    []raftfsm.Node
	epoch    uint64
	leader   bool
	caughtUp bool
	leaderID string    // Leader's id ("": none)
	readied  []string  // "node@epoch" per SetNodeReady
	contact  time.Time // LeaderContact; zero: now
	// barrierErr fails Barrier (a leader in contact that has not brought this node up to date);
	// barriers counts the calls.
	barrierErr error
	barriers   int
}

func (f *fakeCluster) Nodes() []raftfsm.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.nodes)
}
func (f *fakeCluster) Epoch() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch
}
func (f *fakeCluster) IsLeader() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}
func (f *fakeCluster) Leader() (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaderID, ""
}
func (f *fakeCluster) Term() uint64 { return 1 }
func (f *fakeCluster) SetNodeReady(_ context.Context, id string, epoch uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readied = append(f.readied, fmt.Sprintf("%s@%d", id, epoch))
	for i := range f.nodes {
		if f.nodes[i].ID == id {
			f.nodes[i].ReadyEpoch = epoch
		}
	}
	return nil
}
func (f *fakeCluster) LeaderContact() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.contact.IsZero() {
		return time.Now()
	}
	return f.contact
}
func (f *fakeCluster) CutOffAfter() time.Duration { return 2 * time.Second }
func (f *fakeCluster) Barrier(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.barriers++
	return f.barrierErr
}
func (f *fakeCluster) CaughtUp() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caughtUp
}

// fakePeers records forwarded calls and answers them with exec.
type fakePeers struct {
	mu    sync.Mutex
	calls []string
	reqs  []call.Request
	exec  func(addr string, req call.Request) (call.Result, error)
	// execCtx, when set, answers instead of exec, with the call's context.
	execCtx func(ctx context.Context, req call.Request) (call.Result, error)
	// statusErr fails NodeStatus.
	statusErr error
}

func (p *fakePeers) Exec(ctx context.Context, addr string, req call.Request) (call.Result, error) {
	p.mu.Lock()
	p.calls = append(p.calls, addr+" "+req.Target.ModuleID+"."+req.Function)
	p.reqs = append(p.reqs, req)
	h, hc := p.exec, p.execCtx
	p.mu.Unlock()
	if hc != nil {
		return hc(ctx, req)
	}
	if h != nil {
		return h(addr, req)
	}
	return call.Result{ModuleID: req.Target.ModuleID, Value: json.RawMessage(`"remote"`), Code: 200}, nil
}
func (p *fakePeers) Debug(context.Context, string, string, func(level, msg string)) (func(), error) {
	return func() {}, nil
}

// NodeStatus answers status, or fails with statusErr, and records the address asked.
func (p *fakePeers) NodeStatus(_ context.Context, addr string) (json.RawMessage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, addr+" status")
	if p.statusErr != nil {
		return nil, p.statusErr
	}
	return json.RawMessage(`{"node":"remote"}`), nil
}

// fakeWatcher records watches; tests deliver values through the fn it kept.
type fakeWatcher struct {
	mu      sync.Mutex
	watches []string
	fns     []func([]byte)
	stopped int
}

func (w *fakeWatcher) add(desc string, fn func([]byte)) func() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watches = append(w.watches, desc)
	w.fns = append(w.fns, fn)
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.stopped++
	}
}
func (w *fakeWatcher) WatchModule(_ context.Context, mod, status string, fn func([]byte)) (func(), error) {
	return w.add("module "+mod+" "+status, fn), nil
}
func (w *fakeWatcher) WatchSystem(_ context.Context, sys, mod string, index int, status string, fn func([]byte)) (func(), error) {
	return w.add(fmt.Sprintf("system %s %s_%d %s", sys, mod, index, status), fn), nil
}
func (w *fakeWatcher) snapshot() ([]string, []func([]byte), int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.watches), slices.Clone(w.fns), w.stopped
}

// testCore is a Core over fakes with the model of yaml applied.
type testCore struct {
	*Core
	store *model.Memory
	sup   *fakeSup
	state *fakeState
}

func newTestCore(t testing.TB, yaml string, mod func(*Config)) *testCore {
	t.Helper()
	tc := &testCore{store: model.NewMemory(), sup: &fakeSup{}, state: newFakeState()}
	if yaml != "" {
		apply(t, tc.store, yaml)
	}
	cfg := Config{NodeID: "n1", Store: tc.store, State: tc.state, Logger: hclog.NewNullLogger()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, func(proto.HostServer, func(context.Context, string)) (Supervisor, error) { return tc.sup, nil })
	if err != nil {
		t.Fatal(err)
	}
	tc.Core = c
	return tc
}

func apply(t testing.TB, store *model.Memory, yaml string) {
	t.Helper()
	f, err := model.ParseFile([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}
