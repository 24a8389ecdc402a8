package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/metadata"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/driverrt"
)

// Timeout bounds every harness call and wait.
var Timeout = 5 * time.Second

// Module is the configuration a test starts a module with. Zero fields take defaults: ID
// "mod-test", Name "Test", Role "device".
type Module struct {
	ID, Name, Role string
	IP             string
	Port           int
	URI            string
	TLS, UDP       bool
	MakeBreak      bool
	Settings       any // encoded as the merged settings object
	// Logic modules: the module runs in the fake host's system (id SystemID).
	Logic bool
	// NoModuleInfo leaves module_info out of the control system JSON, as a host that does not
	// know the other modules' names and interfaces does: the system proxy then finds them by
	// probing (SystemProxy.All, SystemProxy.Implementing).
	NoModuleInfo bool
}

// Harness runs one driver in-process against a fake host.
type Harness struct {
	t      testing.TB
	rt     driverrt.Runtime
	Host   *Host
	Client *plugin.Client

	// User is the user id execs run as ("user-test" unless a test changes it).
	User string

	mu     sync.Mutex
	cur    Module
	mocks  map[string]int // name -> count
	closer func()
	device *Device
	http   *HTTPServer
	logs   *logCapture
}

// New starts the driver's runtime and connects it to a fake host over go-plugin's in-process
// gRPC connection. Everything is torn down when the test ends.
func New[D sdk.Driver](t testing.TB, factory func() D, opts ...sdk.Option) *Harness {
	t.Helper()
	lw := &testWriter{t: t, capture: &logCapture{changed: make(chan struct{})}}
	// Debug lines are captured (Logs, WaitLog); a test's own LogLevel option still wins.
	all := []any{sdk.LogLevel(hclog.Debug)}
	for _, o := range opts {
		all = append(all, o)
	}
	rt, err := driverrt.New(factory, lw, all...)
	if err != nil {
		t.Fatalf("sdktest: driver: %v", err)
	}
	host := NewHost()
	ps := map[string]goplugin.Plugin{plugin.Name: &plugin.DriverPlugin{Impl: rt, Host: host}}
	gc, gs := goplugin.TestPluginGRPCConn(t, false, ps)
	raw, err := gc.Dispense(plugin.Name)
	if err != nil {
		t.Fatalf("sdktest: dispense: %v", err)
	}
	client := raw.(*plugin.Client)
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := client.Init(ctx); err != nil {
		t.Fatalf("sdktest: init: %v", err)
	}
	h := &Harness{t: t, rt: rt, Host: host, Client: client, mocks: map[string]int{}, User: "user-test", logs: lw.capture}
	host.onSave = h.applySaved
	host.mu.Lock()
	host.driver = func(ctx context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
		return client.Exec(ctx, r)
	}
	host.mu.Unlock()
	h.closer = func() {
		_ = rt.Close()
		// Stop the server first: gc.Close's Shutdown RPC would otherwise stop it from a handler
		// goroutine, racing with this one inside go-plugin.
		gs.Stop()
		_ = gc.Close()
		lw.close()
	}
	t.Cleanup(h.Close)
	return h
}

// Close stops every module and the connection; New registers it with t.Cleanup.
func (h *Harness) Close() {
	h.mu.Lock()
	c := h.closer
	h.closer = nil
	h.mu.Unlock()
	if c != nil {
		c()
	}
}

func (h *Harness) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), Timeout)
}

// ModuleID is the id of the module under test.
func (h *Harness) ModuleID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur.ID
}

func (h *Harness) protoModule(m Module) *proto.Module {
	h.t.Helper()
	if m.ID == "" {
		m.ID = "mod-test"
	}
	if m.Name == "" {
		m.Name = "Test"
	}
	if m.Role == "" {
		m.Role = "device"
		if m.Logic {
			m.Role = "logic"
		}
	}
	h.mu.Lock()
	dev, srv := h.device, h.http
	h.mu.Unlock()
	if dev != nil && m.Port == 0 {
		m.IP, m.Port, m.UDP = "127.0.0.1", dev.Port(), dev.udp
	}
	if srv != nil && m.URI == "" {
		m.URI = srv.URL()
		if m.Role == "device" {
			m.Role = "service"
		}
	}
	settings := []byte("{}")
	if m.Settings != nil {
		b, err := json.Marshal(m.Settings)
		if err != nil {
			h.t.Fatalf("sdktest: settings: %v", err)
		}
		settings = b
	}
	pm := &proto.Module{Id: m.ID, DriverId: "driver-test", Name: m.Name, Role: m.Role, Ip: m.IP,
		Port: int32(m.Port), Tls: m.TLS, Udp: m.UDP, Makebreak: m.MakeBreak, Uri: m.URI, SettingsJson: settings}
	h.Host.addModule(entry{id: m.ID, name: m.Name})
	if m.Logic {
		h.Host.mu.Lock()
		sys := sdk.ControlSystem{ID: SystemID, Name: "Test system", Timezone: "UTC"}
		count := map[string]int{}
		for _, e := range h.Host.system {
			sys.Modules = append(sys.Modules, e.id)
			count[e.name]++
			mi := sdk.SystemModule{ID: e.id, Name: e.name, Index: count[e.name]}
			if e.mock != nil {
				mi.Implements = e.mock.implements()
			}
			if !m.NoModuleInfo {
				sys.ModuleInfo = append(sys.ModuleInfo, mi)
			}
		}
		h.Host.mu.Unlock()
		b, _ := json.Marshal(sys)
		pm.ControlSystemJson = b
	}
	h.mu.Lock()
	h.cur = m
	h.mu.Unlock()
	return pm
}

// Start starts (or, if running, updates) the module under test and waits for OnLoad.
func (h *Harness) Start(m Module) {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	if _, err := h.Client.Start(ctx, &proto.StartRequest{Module: h.protoModule(m)}); err != nil {
		h.t.Fatalf("sdktest: start: %v", err)
	}
}

// Update sends a new configuration for the module under test.
func (h *Harness) Update(m Module) {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	if _, err := h.Client.Update(ctx, &proto.StartRequest{Module: h.protoModule(m)}); err != nil {
		h.t.Fatalf("sdktest: update: %v", err)
	}
}

// Stop stops the module under test.
func (h *Harness) Stop() {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	if _, err := h.Client.Stop(ctx, &proto.ModuleRequest{ModuleId: h.ModuleID()}); err != nil {
		h.t.Fatalf("sdktest: stop: %v", err)
	}
}

// Debug turns on debug forwarding for the module under test.
func (h *Harness) Debug() {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	if _, err := h.Client.Debug(ctx, &proto.ModuleRequest{ModuleId: h.ModuleID()}); err != nil {
		h.t.Fatalf("sdktest: debug: %v", err)
	}
}

// Result is the outcome of an exec.
type Result struct {
	Value json.RawMessage
	Code  int
	Err   *proto.ExecError // nil on success
}

// Decode decodes the result value into v.
func (r Result) Decode(v any) error { return json.Unmarshal(r.Value, v) }

// String shows the result in test failures.
func (r Result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%d %s: %s", r.Code, r.Err.GetClass(), r.Err.GetMessage())
	}
	return fmt.Sprintf("%d %s", r.Code, r.Value)
}

// Exec calls fn on the module under test with positional arguments.
func (h *Harness) Exec(fn string, args ...any) Result {
	h.t.Helper()
	if args == nil {
		args = []any{}
	}
	b, err := json.Marshal(args)
	if err != nil {
		h.t.Fatalf("sdktest: encode args: %v", err)
	}
	return h.ExecRaw(fn, string(b))
}

// ExecNamed calls fn with named arguments.
func (h *Harness) ExecNamed(fn string, args map[string]any) Result {
	h.t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		h.t.Fatalf("sdktest: encode args: %v", err)
	}
	return h.ExecRaw(fn, string(b))
}

// ExecRaw calls fn with arguments given as JSON text, exactly as a host would.
func (h *Harness) ExecRaw(fn, args string) Result {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	resp, err := h.Client.Exec(ctx, &proto.ExecRequest{ModuleId: h.ModuleID(), Function: fn,
		ArgsJson: []byte(args), UserId: h.User, RequestId: "req-test"})
	if err != nil {
		h.t.Fatalf("sdktest: exec %s: %v", fn, err)
	}
	return Result{Value: resp.GetResultJson(), Code: int(resp.GetCode()), Err: resp.GetError()}
}

// Status returns the JSON of a status of the module under test, as the host has it.
func (h *Harness) Status(name string) (json.RawMessage, bool) {
	return h.Host.Status(h.ModuleID(), name)
}

// WaitStatus fails the test unless status name of the module under test becomes want (nil:
// absent) within Timeout.
func (h *Harness) WaitStatus(name string, want any) {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	if err := h.Host.WaitStatus(ctx, h.ModuleID(), name, want); err != nil {
		h.t.Fatal(err)
	}
}

// Mark returns a position in the host's status history for WaitChange.
func (h *Harness) Mark() int { return len(h.Host.History()) }

// WaitChange fails the test unless status name of the module under test is set to want (nil:
// deleted) after mark within Timeout, even if it has changed again since.
func (h *Harness) WaitChange(mark int, name string, want any) {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	if err := h.Host.WaitChange(ctx, h.ModuleID(), name, want, mark); err != nil {
		h.t.Fatal(err)
	}
}

// Mock adds a mock module named name to the system (Display_1, Display_2, … in order of calls).
func (h *Harness) Mock(name string) *Mock {
	h.mu.Lock()
	h.mocks[name]++
	n := h.mocks[name]
	h.mu.Unlock()
	m := &Mock{h: h.Host, ID: fmt.Sprintf("mod-%s-%d", strings.ToLower(name), n), Name: name, funcs: map[string]Func{}}
	h.Host.addModule(entry{id: m.ID, name: name, mock: m})
	return m
}

// Metadata returns the driver's metadata as the host receives it.
func (h *Harness) Metadata() *metadata.Metadata {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	resp, err := h.Client.Metadata(ctx, &proto.Empty{})
	if err != nil {
		h.t.Fatalf("sdktest: metadata: %v", err)
	}
	var m metadata.Metadata
	if err := json.Unmarshal(resp.GetJson(), &m); err != nil {
		h.t.Fatalf("sdktest: parse metadata: %v", err)
	}
	return &m
}

// testWriter sends the driver's log lines to the test log until the harness closes, after
// which testing.T must not be written to, and captures them.
type testWriter struct {
	mu      sync.Mutex
	t       testing.TB
	closed  bool
	capture *logCapture
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.capture.add(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
