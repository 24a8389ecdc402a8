package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
)

// fakeEngine stands in for the engine core: one system "sys-1" with Display_1 (mod-1) and
// Display_2 (mod-2), and an empty system "sys-empty". It resolves targets as the core does, and
// records every execute; what the core decides (clearance, argument binding, routing) is the
// core's to test. Here the question is whether HTTP reaches it and its answers reach HTTP.
type fakeEngine struct {
	mu       sync.Mutex
	systems  map[string]map[string]string // sys -> "Name/N" -> module id
	state    map[string]map[string]string
	fns      []call.Function
	levels   map[string]string // function -> security level, for the listing
	execFn   func(ctx context.Context, req call.Request) (call.Result, error)
	calls    []call.Request
	readers  []auth.Caller // callers of State and StateValue
	started  []string
	stopped  []string
	panicky  bool
	startErr error
	debugFn  func(ctx context.Context, moduleID string, fn func(level, msg string)) (func(), error)
	failing  map[string]int64 // module id -> epoch seconds its start has been failing since
	rtErr    error            // ModuleRuntime fails with it (Redis away)

	// Node
	ready     bool
	notMember error // NotMember, and Cluster's answer
	killed    []string
}

func newFakeEngine() *fakeEngine {
	schema := func(s string) json.RawMessage { return json.RawMessage(s) }
	return &fakeEngine{
		systems: map[string]map[string]string{
			"sys-1":     {"Display/1": "mod-1", "Display/2": "mod-2"},
			"sys-empty": {},
		},
		state: map[string]map[string]string{
			"mod-1": {"power": "true", "input": `"hdmi"`, "broken": `{not json`},
		},
		fns: []call.Function{
			{Name: "volume", Params: []call.Param{
				{Name: "level", Schema: schema(`{"type": "integer", "title": "int", "minimum": 0}`)},
				{Name: "ramp", Schema: schema(`{"type":"boolean","title":"bool","default":false}`)}}},
			{Name: "power", Params: []call.Param{{Name: "state", Schema: schema(`{"type": "boolean", "title": "bool"}`)}}},
			{Name: "legacy", Params: []call.Param{{Name: "b"}, {Name: "a"}}},
			{Name: "reboot"},
			{Name: "factory_reset"},
		},
		levels: map[string]string{"reboot": "support", "factory_reset": "administrator"},
		ready:  true,
	}
}

func (f *fakeEngine) Resolve(_ context.Context, t call.Target) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicky {
		panic("resolver exploded")
	}
	if t.ModuleID != "" {
		return t.ModuleID, nil
	}
	index := max(t.Index, 1)
	m, ok := f.systems[t.SystemID]
	if !ok {
		return "", errkind.Wrap(errkind.SystemNotFound, nil, "could not find system %s", t.SystemID)
	}
	id, ok := m[fmt.Sprintf("%s/%d", t.Name, index)]
	if !ok {
		return "", errkind.Wrap(errkind.NotFound, nil, "could not find module %s_%d in system %s", t.Name, index, t.SystemID)
	}
	return id, nil
}

func (f *fakeEngine) Execute(ctx context.Context, req call.Request) (call.Result, error) {
	id, err := f.Resolve(ctx, req.Target)
	if err != nil {
		return call.Result{}, err
	}
	f.mu.Lock()
	req.Target.ModuleID = id
	f.calls = append(f.calls, req)
	h := f.execFn
	f.mu.Unlock()
	if h != nil {
		res, err := h(ctx, req)
		res.ModuleID = id
		return res, err
	}
	return call.Result{ModuleID: id, Value: json.RawMessage(`{"ok": true}`), Code: 200}, nil
}

func (f *fakeEngine) lastCall(t *testing.T) call.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("the engine was not called")
	}
	return f.calls[len(f.calls)-1]
}

// callOf is the last call of function fn (tests name functions after themselves to tell their
// calls apart on a shared engine).
func (f *fakeEngine) callOf(t *testing.T, fn string) call.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].Function == fn {
			return f.calls[i]
		}
	}
	t.Fatalf("the engine was not called for %s", fn)
	return call.Request{}
}

func (f *fakeEngine) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeEngine) Functions(ctx context.Context, t call.Target, c auth.Caller) ([]call.Function, error) {
	id, err := f.Resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	if id == "mod-2" {
		return nil, errkind.Wrap(errkind.NotFound, nil, "could not find module mod-2: it has no metadata (never started?)")
	}
	var out []call.Function
	for _, fn := range f.fns {
		if auth.Allowed(f.levels[fn.Name], c.Clearance) {
			fn.Security = f.levels[fn.Name]
			out = append(out, fn)
		}
	}
	return out, nil
}

// State resolves the target as the core does and records who read; whether the caller may read a
// protected module is the core's decision (package core and e2e test it).
func (f *fakeEngine) State(ctx context.Context, t call.Target, c auth.Caller) (map[string]string, error) {
	moduleID, err := f.Resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readers = append(f.readers, c)
	if moduleID == "mod-gone" {
		return nil, errkind.Wrap(errkind.NotFound, nil, "module %s does not exist", moduleID)
	}
	return f.state[moduleID], nil
}

func (f *fakeEngine) StateValue(ctx context.Context, t call.Target, c auth.Caller, name string) (json.RawMessage, bool, error) {
	moduleID, err := f.Resolve(ctx, t)
	if err != nil {
		return nil, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readers = append(f.readers, c)
	v, ok := f.state[moduleID][name]
	return json.RawMessage(v), ok, nil
}

// lastReader is the caller of the last state read.
func (f *fakeEngine) lastReader(t *testing.T) auth.Caller {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.readers) == 0 {
		t.Fatal("no state was read")
	}
	return f.readers[len(f.readers)-1]
}

func (f *fakeEngine) Types(_ context.Context, sys string) (map[string]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.systems[sys]
	if !ok {
		return nil, errkind.Wrap(errkind.NotFound, nil, "system %s", sys)
	}
	out := map[string]int{}
	for k := range m {
		out[strings.Split(k, "/")[0]]++
	}
	return out, nil
}

func (f *fakeEngine) StartModule(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return f.startErr
	}
	f.started = append(f.started, id)
	return nil
}

func (f *fakeEngine) StopModule(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == "mod-gone" {
		return errkind.Wrap(errkind.NotFound, nil, "module %s does not exist", id)
	}
	f.stopped = append(f.stopped, id)
	return nil
}

// ModuleRuntime: every module hosted by "node-1", connected unless its connected status is false.
func (f *fakeEngine) ModuleRuntime(_ context.Context, mods []*model.Module) ([]call.ModuleRuntime, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rtErr != nil {
		return nil, f.rtErr
	}
	out := make([]call.ModuleRuntime, len(mods))
	for i, m := range mods {
		out[i] = call.ModuleRuntime{CoreNode: "node-1", Connected: f.state[m.ID]["connected"] != "false"}
		if at, ok := f.failing[m.ID]; ok {
			out[i].HasRuntimeError, out[i].ErrorTimestamp = true, &at
		}
	}
	return out, nil
}

func (f *fakeEngine) Debug(ctx context.Context, moduleID string, fn func(level, msg string)) (func(), error) {
	f.mu.Lock()
	h := f.debugFn
	f.mu.Unlock()
	if h == nil {
		return nil, errkind.New(errkind.Unavailable, "no debugging in this fake")
	}
	return h(ctx, moduleID, fn)
}

func (f *fakeEngine) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeEngine) NotMember() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notMember
}

func (f *fakeEngine) NodeStatus(context.Context) (any, error) {
	return map[string]any{"drivers": []string{"drv/display"}, "build_failures": []string{}}, nil
}

func (f *fakeEngine) ClusterStatus(ctx context.Context) (any, error) {
	st, _ := f.NodeStatus(ctx)
	return map[string]any{"nodes": []any{map[string]any{"node": "n1", "state": "up", "status": st}}}, nil
}

func (f *fakeEngine) Loaded() map[string][]string {
	return map[string][]string{"drv/display": {"mod-1"}}
}

func (f *fakeEngine) DriverStatus(key string) (any, bool) {
	if key != "drv/display" && key != "drivers+hello_1234567_linux-amd64" {
		return nil, false
	}
	return map[string]any{"running": true, "pid": 42, "state": "running"}, true
}

func (f *fakeEngine) KillDriver(key string) error {
	if key != "drv/display" {
		return errkind.Wrap(errkind.NotFound, nil, "driver %s not loaded", key)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.killed = append(f.killed, key)
	return nil
}

func (f *fakeEngine) Cluster(context.Context) (any, error) {
	if err := f.NotMember(); err != nil {
		return nil, err
	}
	return nil, errkind.New(errkind.NotFound, "this node is not part of a cluster")
}

func (f *fakeEngine) Pull(_ context.Context, id string) (any, error) {
	return map[string]string{"pulled": id}, nil
}

func (f *fakeEngine) Recompile(_ context.Context, id string) (any, error) {
	return map[string]string{"recompiled": id}, nil
}

// fakeAuth authenticates with fn; nil fn is --auth none.
type fakeAuth struct {
	fn func(r *http.Request) (auth.Caller, error)
}

func (a fakeAuth) Authenticate(r *http.Request) (auth.Caller, error) {
	if a.fn == nil {
		return auth.Caller{UserID: r.Header.Get(auth.UserIDHeader), Clearance: auth.ClearanceAdmin, Node: true}, nil
	}
	return a.fn(r)
}

func (a fakeAuth) Disabled() bool { return a.fn == nil }

// keysAuth is --auth keys with the API keys of keysYAML (an --api-keys file) and HS256 bearer
// tokens signed with testSecret.
func keysAuth(t *testing.T, keysYAML string) *auth.Authenticator {
	t.Helper()
	keys, err := auth.ParseAPIKeys([]byte(keysYAML))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewJWTVerifier(auth.JWTConfig{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{APIKeys: keys, JWT: v})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// as authenticates every request as a caller of clearance c.
func as(c auth.Clearance) func(*Config) {
	return func(cfg *Config) {
		cfg.Auth = fakeAuth{fn: func(*http.Request) (auth.Caller, error) { return auth.Caller{UserID: "u-1", Clearance: c}, nil }}
	}
}

// harness is a server over the fake engine; mutate cfg through opts before it is built.
type harness struct {
	eng *fakeEngine
	srv *Server
	h   http.Handler
}

func newHarness(t *testing.T, opts ...func(*Config)) *harness {
	t.Helper()
	hs := &harness{eng: newFakeEngine()}
	cfg := Config{
		Logger: hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Debug}),
		Engine: hs.eng,
		Node:   hs.eng,
		Auth:   fakeAuth{},
	}
	for _, o := range opts {
		o(&cfg)
	}
	hs.srv = New(cfg)
	hs.h = hs.srv.Handler()
	return hs
}

// do runs one request through the handler and returns status, body and the recorder.
func (hs *harness) do(t *testing.T, method, path, body string, hdr ...string) (int, string, *httptest.ResponseRecorder) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := newRequest(method, path, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec
}

// testHost is the Host of the tests' requests: a --auth none node (the harness's default) answers
// only a loopback one (checkHost).
const testHost = "127.0.0.1"

// newRequest is httptest.NewRequest addressed to testHost.
func newRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = testHost
	return r
}

// testWriter sends log output to t.Log so it shows only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func serve(hs *harness, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, r)
	return rec
}
