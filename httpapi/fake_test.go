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
	"github.com/placeos-go/engine/errkind"
)

// displayMeta is metadata as a Go driver publishes it (PROTOCOL §4), with functions and
// parameters deliberately out of alphabetical order so that order bugs show.
const displayMeta = `{
  "interface": {
    "volume": {"level": {"type": "integer", "title": "int", "minimum": 0}, "ramp": {"type": "boolean", "title": "bool", "default": false}},
    "power": {"state": {"type": "boolean", "title": "bool"}},
    "input": {"name": {"type": "string", "title": "string"}, "extra": {"title": "any"}},
    "reboot": {},
    "factory_reset": {},
    "secret": {},
    "mix": {"gain": {"type": ["number", "null"], "title": "*float64", "default": 1.5}}
  },
  "functions": {"volume": {"level": ["int"], "ramp": ["bool", false]}},
  "implements": ["Powerable"],
  "security": {"support": ["reboot"], "administrator": ["factory_reset", "reboot"], "hidden": ["secret"]}
}`

// fakeModules is an in-memory engine: one system "sys-1" with Display_1 (mod-1, running),
// Display_2 (mod-2, never started: no metadata) and an empty system "sys-empty".
type fakeModules struct {
	mu       sync.Mutex
	systems  map[string]map[string]string // sys -> "Name/N" -> module id
	meta     map[string]string
	state    map[string]map[string]string
	execFn   func(ctx context.Context, moduleID, fn string, args json.RawMessage) (json.RawMessage, int, error)
	calls    []execCall
	started  []string
	stopped  []string
	panicky  bool
	startErr error
}

type execCall struct {
	ModuleID, Fn, Args, UserID, RequestID string
}

func newFakeModules() *fakeModules {
	return &fakeModules{
		systems: map[string]map[string]string{
			"sys-1":     {"Display/1": "mod-1", "Display/2": "mod-2"},
			"sys-empty": {},
		},
		meta: map[string]string{"mod-1": displayMeta},
		state: map[string]map[string]string{
			"mod-1": {"power": "true", "input": `"hdmi"`, "broken": `{not json`},
		},
	}
}

func (f *fakeModules) Resolve(_ context.Context, sys, name string, index int) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicky {
		panic("resolver exploded")
	}
	m, ok := f.systems[sys]
	if !ok {
		return "", errkind.Wrap(errkind.NotFound, nil, "no lookup for %s", sys)
	}
	id, ok := m[fmt.Sprintf("%s/%d", name, index)]
	if !ok {
		return "", errkind.Wrap(errkind.NotFound, nil, "no %s/%d in %s", name, index, sys)
	}
	return id, nil
}

func (f *fakeModules) Exec(ctx context.Context, moduleID, fn string, args json.RawMessage, userID, requestID string) (json.RawMessage, int, error) {
	f.mu.Lock()
	f.calls = append(f.calls, execCall{moduleID, fn, string(args), userID, requestID})
	h := f.execFn
	f.mu.Unlock()
	if h != nil {
		return h(ctx, moduleID, fn, args)
	}
	return json.RawMessage(`{"ok": true}`), 200, nil
}

func (f *fakeModules) lastCall(t *testing.T) execCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("driver was not called")
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeModules) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeModules) State(_ context.Context, moduleID string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if moduleID == "mod-gone" {
		return nil, errkind.Wrap(errkind.NotFound, nil, "module %s does not exist", moduleID)
	}
	return f.state[moduleID], nil
}

func (f *fakeModules) StateValue(_ context.Context, moduleID, name string) (json.RawMessage, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.state[moduleID][name]
	return json.RawMessage(v), ok, nil
}

func (f *fakeModules) Metadata(_ context.Context, moduleID string) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.meta[moduleID]
	if !ok {
		return nil, errkind.Wrap(errkind.NotFound, nil, "no interface/%s", moduleID)
	}
	return json.RawMessage(m), nil
}

func (f *fakeModules) Types(_ context.Context, sys string) (map[string]int, error) {
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

func (f *fakeModules) StartModule(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return f.startErr
	}
	f.started = append(f.started, id)
	return nil
}

func (f *fakeModules) StopModule(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == "mod-gone" {
		return errkind.Wrap(errkind.NotFound, nil, "module %s does not exist", id)
	}
	f.stopped = append(f.stopped, id)
	return nil
}

type fakeNode struct {
	mu     sync.Mutex
	ready  bool
	killed []string
}

func (n *fakeNode) Ready() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ready
}

func (n *fakeNode) NodeStatus(context.Context) (any, error) {
	return map[string]any{"drivers": []string{"drv/display"}, "build_failures": []string{}}, nil
}

func (n *fakeNode) Loaded() map[string][]string {
	return map[string][]string{"drv/display": {"mod-1"}}
}

func (n *fakeNode) DriverStatus(key string) (any, bool) {
	if key != "drv/display" {
		return nil, false
	}
	return map[string]any{"running": true, "pid": 42, "state": "running"}, true
}

func (n *fakeNode) KillDriver(key string) error {
	if key != "drv/display" {
		return errkind.Wrap(errkind.NotFound, nil, "driver %s not loaded", key)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.killed = append(n.killed, key)
	return nil
}

// harness is a server over fakes; mutate cfg through opts before it is built.
type harness struct {
	mods *fakeModules
	node *fakeNode
	srv  *Server
	h    http.Handler
}

func newHarness(t *testing.T, opts ...func(*Config)) *harness {
	t.Helper()
	hs := &harness{mods: newFakeModules(), node: &fakeNode{ready: true}}
	cfg := Config{
		Logger:  hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Debug}),
		Modules: hs.mods,
		Node:    hs.node,
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
	req := httptest.NewRequest(method, path, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec
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
