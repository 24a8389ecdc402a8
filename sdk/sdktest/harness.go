package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

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
	// Logic modules: the module runs in the fake host's system (id SystemID), whose module_info
	// lists the mocks (Harness.Mock) and the module itself, as the engine sends it.
	Logic bool
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
	mocks  map[string]int   // name -> count
	own    sdk.SystemModule // what the driver under test reports in a system's module_info
	closer func()
	device *Device
	http   *HTTPServer
	logs   *logCapture
}

// New starts the driver's runtime and connects it to a fake host over an in-process gRPC
// connection (the Driver and Host services of the engine's wire, with their message limits).
// Everything is torn down when the test ends. The driver's log lines go to the test log, which
// go test shows only for a failing test (or with -v), one line each as "level: message k=v".
func New[D sdk.Driver](t testing.TB, factory func() D, opts ...sdk.Option) *Harness {
	t.Helper()
	capture := &logCapture{changed: make(chan struct{})}
	lw := &testWriter{t: t, line: capture.line}
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
	conn, stop, err := serve(rt, host)
	if err != nil {
		_ = rt.Close()
		t.Fatalf("sdktest: %v", err)
	}
	client := plugin.NewClient(conn)
	h := &Harness{t: t, rt: rt, Host: host, Client: client, mocks: map[string]int{}, User: "user-test", logs: capture}
	h.closer = func() {
		_ = rt.Close()
		stop()
		lw.close()
	}
	t.Cleanup(h.Close)
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := client.Init(ctx); err != nil {
		t.Fatalf("sdktest: init: %v", err)
	}
	host.onSave = h.applySaved
	own := h.Metadata()
	h.own = sdk.SystemModule{Implements: own.Implements, Functions: own.Interface.Keys()}
	host.mu.Lock()
	host.driver = func(ctx context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
		return client.Exec(ctx, r)
	}
	host.mu.Unlock()
	return h
}

// serve runs the fake host's Host service and the runtime's Driver service on one in-memory
// gRPC server and dials it; stop closes both ends.
func serve(rt driverrt.Runtime, host *Host) (conn *grpc.ClientConn, stop func(), err error) {
	lis := bufconn.Listen(1 << 20)
	conn, err = grpc.NewClient("passthrough:///sdktest", append(plugin.DialOptions(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		return nil, nil, fmt.Errorf("dial the in-process server: %w", err)
	}
	srv := grpc.NewServer(plugin.ServerOptions(nil)...)
	proto.RegisterHostServer(srv, host)
	plugin.RegisterInProcess(srv, rt, conn)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis) // ends with Stop
	}()
	return conn, func() {
		_ = conn.Close()
		srv.Stop()
		<-done
	}, nil
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
		pm.ControlSystemJson = h.systemJSON()
	}
	h.mu.Lock()
	h.cur = m
	h.mu.Unlock()
	return pm
}

// systemJSON is the control system a logic module under test gets: the fake host's system with
// its module_info, each mock with the interfaces it declared and the functions it answers, and
// the modules of the driver under test with what its metadata reports.
func (h *Harness) systemJSON() []byte {
	h.Host.mu.Lock()
	entries := slices.Clone(h.Host.system)
	h.Host.mu.Unlock()
	sys := sdk.ControlSystem{ID: SystemID, Name: "Test system", Timezone: "UTC"}
	count := map[string]int{}
	for _, e := range entries {
		sys.Modules = append(sys.Modules, e.id)
		count[e.name]++
		mi := sdk.SystemModule{ID: e.id, Name: e.name, Index: count[e.name]}
		if e.mock != nil {
			mi.Implements, mi.Functions = e.mock.implements(), e.mock.functions()
		} else {
			mi.Implements, mi.Functions = h.own.Implements, h.own.Functions
		}
		sys.ModuleInfo = append(sys.ModuleInfo, mi)
	}
	b, _ := json.Marshal(sys) // strings and ints only: it encodes
	return b
}

// Start starts (or, if running, updates) the module under test and waits for OnLoad. An OnLoad
// that fails fails the test; TryStart expects it.
func (h *Harness) Start(m Module) {
	h.t.Helper()
	if err := h.TryStart(m); err != nil {
		h.t.Fatalf("sdktest: start: %v", err)
	}
}

// TryStart is Start returning the error the engine would get: why OnLoad failed (the module is
// then not running, and an exec answers 503 with the same error until an update loads it).
func (h *Harness) TryStart(m Module) error {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	if _, err := h.Client.Start(ctx, &proto.StartRequest{Module: h.protoModule(m)}); err != nil {
		return errors.New(status.Convert(err).Message())
	}
	return nil
}

// Update sends a new configuration for the module under test.
func (h *Harness) Update(m Module) {
	h.t.Helper()
	if err := h.TryUpdate(m); err != nil {
		h.t.Fatalf("sdktest: update: %v", err)
	}
}

// TryUpdate sends a new configuration and returns the driver's refusal, if any (settings out of
// the declared type's range, say), where Update fails the test.
func (h *Harness) TryUpdate(m Module) error {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	if _, err := h.Client.Update(ctx, &proto.StartRequest{Module: h.protoModule(m)}); err != nil {
		return errors.New(status.Convert(err).Message())
	}
	return nil
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

// Result is the outcome of an exec, as the engine's caller would get it.
type Result struct {
	Value json.RawMessage // the function's result as JSON ("null" for a failure)
	Code  int             // HTTP-style: 200, or the failure's code
	// Err is nil on success, else an *sdk.Error: Status is Code, Kind the class, Err the message
	// and Backtrace the driver's (a panic's stack). Check it with errors.As, or read it with
	// Class and Message.
	Err error
}

// Decode decodes the result value into v.
func (r Result) Decode(v any) error { return json.Unmarshal(r.Value, v) }

// Class is the failure's error class ("Panic", "Abort", what an *sdk.Error chose), "" on
// success.
func (r Result) Class() string {
	if e := r.sdkErr(); e != nil {
		return e.Class()
	}
	return ""
}

// Message is the failure's message, "" on success.
func (r Result) Message() string {
	if r.Err == nil {
		return ""
	}
	return r.Err.Error()
}

// Backtrace is the failing driver's backtrace (a panic's stack, file:line per frame), if any.
func (r Result) Backtrace() []string {
	if e := r.sdkErr(); e != nil {
		return e.Backtrace
	}
	return nil
}

func (r Result) sdkErr() *sdk.Error {
	var e *sdk.Error
	if errors.As(r.Err, &e) {
		return e
	}
	return nil
}

// String shows the result in test failures.
func (r Result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%d %s: %s", r.Code, r.Class(), r.Message())
	}
	return fmt.Sprintf("%d %s", r.Code, r.Value)
}

func result(resp *proto.ExecResponse) Result {
	return Result{Value: resp.GetResultJson(), Code: int(resp.GetCode()), Err: driverrt.ExecError(resp)}
}

// Exec calls fn on the module under test with positional arguments.
func (h *Harness) Exec(fn string, args ...any) Result {
	h.t.Helper()
	if args == nil {
		args = []any{}
	}
	return h.ExecRaw(fn, h.argsJSON(args))
}

// ExecNamed calls fn with named arguments.
func (h *Harness) ExecNamed(fn string, args map[string]any) Result {
	h.t.Helper()
	return h.ExecRaw(fn, h.argsJSON(args))
}

// argsJSON is the JSON text of an exec's arguments.
func (h *Harness) argsJSON(args any) string {
	h.t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		h.t.Fatalf("sdktest: encode args: %v", err)
	}
	return string(b)
}

// ExecRaw calls fn with arguments given as JSON text, exactly as a host would.
func (h *Harness) ExecRaw(fn, args string) Result {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	resp, err := h.Client.Exec(ctx, protoExec(h.ModuleID(), fn, args, h.User))
	if err != nil {
		h.t.Fatalf("sdktest: exec %s: %v", fn, err)
	}
	return result(resp)
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
