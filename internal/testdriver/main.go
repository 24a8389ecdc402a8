// Command testdriver is a driver binary for the engine's own tests. It implements plugin.Driver
// directly on plugin/proto (not through sdk) so the supervisor and the wire can be tested on
// their own. Functions (positional JSON arguments):
//
//	echo(args...)            returns its argument array
//	sleep(ms)                sleeps, honouring the call's deadline
//	slow(ms)                 sets status "busy" to true through the host, then sleeps like sleep
//	hang(ms)                 sleeps, deaf to the deadline (a stuck driver function)
//	panic()                  panics in the handler, which crashes the process
//	exit(code)               exits the process with code
//	fail()                   returns a driver error (class RuntimeError, code 500)
//	busy(ms)                 returns a busy device's error (class Busy, code 503) with the
//	                         retry hint ms
//	leak(as)                 logs the module's whole settings JSON (an hclog line naming the
//	                         module, a plain stderr line, and a debug line while debug is on)
//	                         and returns a driver error quoting it (a careless driver: the
//	                         engine must hide its protected values); with as, the hclog line
//	                         and the debug line name module as instead ("" : the hclog line
//	                         names none), as a driver sharing a connection between modules may
//	refuse(input, note)      returns a driver error (class ArgumentError, code 400) quoting its
//	                         input and the module's settings JSON, not note (a careless driver
//	                         that echoes input beside its settings: the engine must hide both,
//	                         right guess or wrong, in a module with protected values)
//	pid()                    the process id
//	env(name)                the value of an environment variable in the driver process
//	settings()               the module's settings JSON
//	big(n)                   a JSON string of n bytes
//	set(name, value)         Host.SetStatus (value null deletes)
//	get(module, name)        Host.GetStatus
//	call(module, fn, args)   Host.Exec on another module
//	call_b64(module, fn, b64) Host.Exec on another module with the arguments b64 encodes (standard
//	                         base64): bytes no JSON argument can carry, such as invalid UTF-8
//	log(msg)                 Host.Log, only while debug is on
//	save(name, value)        Host.SaveSetting
//	publish(channel, msg)    Host.Publish
//	subscribe(module, name, n)  Host.Subscribe, returns the first n values
//	monitor(channel, n)      Host.Monitor, returns the first n messages
//	flood(name, n, p)        n Host.SetStatus of status name, values 1..n, as fast as the host
//	                         answers (no coalescing: a misbehaving driver); with p > 1, p
//	                         writers at once, writer i setting name<i>; returns n
//	hold(module, prefix, n)  opens n subscriptions (statuses prefix0…) and keeps them open;
//	                         returns how many opened, or the first refusal
//	release()                ends every subscription hold opened; returns how many
//	call_flood(module, fn, n) n Host.Exec of fn on module, one after another; returns the
//	                         counts of answers by class ("" for success)
//	as(module, fn, args)     runs function fn with args as if it were module's: its host calls
//	                         name module as the caller (a hostile driver acting as another
//	                         driver's module)
//	mux_subscribe(module, name)  opens a subscription on the Subscriptions stream and returns
//	                         its first event ({"accepted":true} or its error, code and class)
//	support_only()           returns its name; listed under the support security level
//	admin_only()             returns its name; listed under the administrator security level
//	updates()                {"updates": n, "control_system": …}: how many Update calls this
//	                         process had for the module, and the control system it runs with
//
// A module whose settings hold "statuses_on_start" (an object: status name → value) sets those
// statuses through the host right after its start, as a device driver sets "connected" and
// what it reads from the device; with "statuses_in_start": true it sets them before its start
// returns (an OnLoad that sets statuses). One whose settings hold "refuse_start": true fails its start
// with an error quoting its whole settings JSON (a careless driver). One whose settings hold
// "hang_start_ms": n sleeps n ms in its Start (and Update), deaf to the call's deadline (an OnLoad
// stuck on its device).
//
// Environment: TESTDRIVER_HANG_INFO=1 makes Info hang forever (a hung process for the probe);
// TESTDRIVER_CRASH_ON_START=1 exits at once with status 2 (a crash loop);
// TESTDRIVER_NO_HEARTBEAT=1 serves without Heartbeat, as a driver built before it did;
// TESTDRIVER_LISTEN=host:port listens there before serving and exits with status 3 when it
// cannot (a driver whose main takes something exclusive, which its spare cannot take too).
package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	grpcmd "google.golang.org/grpc/metadata"

	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Name: "testdriver", Output: os.Stderr, JSONFormat: true, Level: hclog.Debug})
	if os.Getenv("TESTDRIVER_CRASH_ON_START") == "1" {
		logger.Error("crashing on start as asked")
		os.Exit(2)
	}
	// A driver whose main takes a fixed listening port before Serve: its second process (a
	// spare) cannot start beside the first.
	if addr := os.Getenv("TESTDRIVER_LISTEN"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testdriver:", err)
			os.Exit(3)
		}
		defer ln.Close()
	}
	d := &driver{modules: map[string]*proto.Module{}, debug: map[string]bool{}, log: logger}
	if os.Getenv("TESTDRIVER_NO_HEARTBEAT") == "1" {
		serveWithoutHeartbeat(d, logger)
		return
	}
	plugin.Serve(d, logger)
}

type driver struct {
	log     hclog.Logger
	mu      sync.Mutex
	host    proto.HostClient
	modules map[string]*proto.Module
	debug   map[string]bool
	held    map[string][]context.CancelFunc // by module: subscriptions hold keeps open
	updates map[string]int                  // by module: Update calls (updates.go)
}

func (d *driver) Connect(host proto.HostClient) {
	d.mu.Lock()
	d.host = host
	d.mu.Unlock()
}

func (d *driver) Start(_ context.Context, r *proto.StartRequest) (*proto.Empty, error) {
	if r.GetModule().GetId() == "" {
		return nil, errors.New("testdriver: start without a module id")
	}
	d.mu.Lock()
	d.modules[r.Module.Id] = r.Module
	host := d.host
	d.mu.Unlock()
	var settings struct {
		Statuses map[string]json.RawMessage `json:"statuses_on_start"`
		Refuse   bool                       `json:"refuse_start"`
		Quoting  string                     `json:"refuse_start_quoting"` // another module's settings, as a shared connection's login could
		InStart  bool                       `json:"statuses_in_start"`
		HangMs   int                        `json:"hang_start_ms"`
	}
	if json.Unmarshal(r.Module.SettingsJson, &settings) == nil && settings.Refuse {
		if other := d.moduleOf(settings.Quoting); other != nil {
			return nil, fmt.Errorf("refusing to start: login with %s refused", other.SettingsJson)
		}
		return nil, fmt.Errorf("refusing to start with settings %s", r.Module.SettingsJson)
	}
	time.Sleep(time.Duration(settings.HangMs) * time.Millisecond)
	if len(settings.Statuses) > 0 && host != nil {
		if settings.InStart {
			if err := setStatuses(host, r.Module.Id, settings.Statuses); err != nil {
				return nil, err
			}
		} else {
			go func() {
				if err := setStatuses(host, r.Module.Id, settings.Statuses); err != nil {
					fmt.Fprintf(os.Stderr, "testdriver: %v\n", err)
				}
			}()
		}
	}
	return &proto.Empty{}, nil
}

// moduleOf is the module id this process started, nil for none.
func (d *driver) moduleOf(id string) *proto.Module {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.modules[id]
}

// setStatuses sets a module's statuses_on_start after its start, one call at a time, as an SDK
// driver's outbox sends what a module sets while it loads.
func setStatuses(host proto.HostClient, id string, statuses map[string]json.RawMessage) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, v := range statuses {
		if _, err := host.SetStatus(ctx, &proto.SetStatusRequest{ModuleId: id, Name: name, ValueJson: v}); err != nil {
			return fmt.Errorf("status %s of %s: %w", name, id, err)
		}
	}
	return nil
}

func (d *driver) Update(ctx context.Context, r *proto.StartRequest) (*proto.Empty, error) {
	d.countUpdate(r.GetModule().GetId()) // updates.go
	return d.Start(ctx, r)
}

func (d *driver) Stop(_ context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	d.onStop(r.ModuleId) // unload.go
	d.mu.Lock()
	delete(d.modules, r.ModuleId)
	delete(d.debug, r.ModuleId)
	d.mu.Unlock()
	return &proto.Empty{}, nil
}

func (d *driver) Debug(_ context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	d.mu.Lock()
	d.debug[r.ModuleId] = true
	d.mu.Unlock()
	return &proto.Empty{}, nil
}

func (d *driver) Ignore(_ context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	d.mu.Lock()
	delete(d.debug, r.ModuleId)
	d.mu.Unlock()
	return &proto.Empty{}, nil
}

// metadata declares the functions the engine's end-to-end tests call through the REST API, which
// checks calls against it before they reach the driver.
// metadata lists every function with the engine's schema form (its pre-check binds against it),
// and two functions behind security levels for the clearance tests.
const metadata = `{
  "interface": {
    "echo": {"value": {"title": "any", "default": null}},
    "sleep": {"ms": {"type": "integer", "title": "int"}},
    "slow": {"ms": {"type": "integer", "title": "int"}},
    "hang": {"ms": {"type": "integer", "title": "int"}},
    "panic": {},
    "exit": {"code": {"type": "integer", "title": "int", "default": 0}},
    "fail": {},
    "busy": {"ms": {"type": "integer", "title": "int"}},
    "leak": {"as": {"title": "any", "default": null}},
    "refuse": {"input": {"title": "any"}, "note": {"title": "any", "default": null}},
    "pid": {},
    "env": {"name": {"type": "string", "title": "string"}},
    "settings": {},
    "big": {"n": {"type": "integer", "title": "int"}},
    "set": {"name": {"type": "string", "title": "string"}, "value": {"title": "any", "default": null}},
    "get": {"module": {"type": "string", "title": "string"}, "name": {"type": "string", "title": "string"}},
    "call": {"module": {"type": "string", "title": "string"}, "fn": {"type": "string", "title": "string"}, "args": {"title": "any", "default": []}},
    "call_b64": {"module": {"type": "string", "title": "string"}, "fn": {"type": "string", "title": "string"}, "b64": {"type": "string", "title": "string"}},
    "log": {"msg": {"type": "string", "title": "string"}, "level": {"type": "string", "title": "string", "default": "info"}},
    "save": {"name": {"type": "string", "title": "string"}, "value": {"title": "any"}},
    "publish": {"channel": {"type": "string", "title": "string"}, "msg": {"type": "string", "title": "string"}},
    "subscribe": {"module": {"type": "string", "title": "string"}, "name": {"type": "string", "title": "string"}, "n": {"type": "integer", "title": "int"}},
    "monitor": {"channel": {"type": "string", "title": "string"}, "n": {"type": "integer", "title": "int"}},
    "flood": {"name": {"type": "string", "title": "string"}, "n": {"type": "integer", "title": "int"}, "p": {"type": "integer", "title": "int", "default": 1}},
    "long_line": {"how": {"type": "string", "title": "string"}, "pad": {"type": "integer", "title": "int"}, "text": {"type": "string", "title": "string"}},
    "fill": {"prefix": {"type": "string", "title": "string"}, "n": {"type": "integer", "title": "int"}, "size": {"type": "integer", "title": "int"}},
    "hold": {"module": {"type": "string", "title": "string"}, "prefix": {"type": "string", "title": "string"}, "n": {"type": "integer", "title": "int"}},
    "release": {},
    "call_flood": {"module": {"type": "string", "title": "string"}, "fn": {"type": "string", "title": "string"}, "n": {"type": "integer", "title": "int"}},
    "as": {"module": {"type": "string", "title": "string"}, "fn": {"type": "string", "title": "string"}, "args": {"title": "any", "default": []}},
    "mux_subscribe": {"module": {"type": "string", "title": "string"}, "name": {"type": "string", "title": "string"}},
    "support_only": {},
    "admin_only": {},
    "updates": {}
  },
  "implements": [], "requirements": {},
  "security": {"support": ["support_only"], "administrator": ["admin_only"]},
  "versions": {"driver": "testdriver"}
}`

func (d *driver) Metadata(context.Context, *proto.Empty) (*proto.MetadataResponse, error) {
	return &proto.MetadataResponse{Json: []byte(metadata)}, nil
}

func (d *driver) Info(ctx context.Context, _ *proto.Empty) (*proto.InfoResponse, error) {
	if os.Getenv("TESTDRIVER_HANG_INFO") == "1" {
		select {} // deliberately deaf to ctx: a hung process does not honour deadlines
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, 0, len(d.modules))
	for id := range d.modules {
		ids = append(ids, id)
	}
	return &proto.InfoResponse{ModuleIds: ids}, nil
}

func (d *driver) Terminate(context.Context, *proto.Empty) (*proto.Empty, error) {
	d.mu.Lock()
	d.modules = map[string]*proto.Module{}
	d.debug = map[string]bool{}
	d.mu.Unlock()
	return &proto.Empty{}, nil
}

func (d *driver) Exec(ctx context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
	d.mu.Lock()
	mod, ok := d.modules[r.ModuleId]
	host := d.host
	debug := d.debug[r.ModuleId]
	d.mu.Unlock()
	if !ok {
		return raise(404, "NotFound", "module %q is not running", r.ModuleId), nil
	}
	d.awaitStop(mod, r.Function) // unload.go
	var args []json.RawMessage
	if len(r.ArgsJson) > 0 {
		if err := json.Unmarshal(r.ArgsJson, &args); err != nil {
			return raise(400, "ArgumentError", "arguments must be a JSON array: %v", err), nil
		}
	}
	result, err := d.run(ctx, host, mod, debug, r, args)
	if err != nil {
		var de *driverErr
		if errors.As(err, &de) {
			return de.resp, nil
		}
		return raise(500, "RuntimeError", "%v", err), nil
	}
	return &proto.ExecResponse{ResultJson: result, Code: 200}, nil
}

type driverErr struct{ resp *proto.ExecResponse }

func (e *driverErr) Error() string { return e.resp.Error.Message }

func raise(code int32, class, format string, args ...any) *proto.ExecResponse {
	return &proto.ExecResponse{ResultJson: []byte("null"), Code: code, Error: &proto.ExecError{
		Class: class, Message: fmt.Sprintf(format, args...), Backtrace: []string{"testdriver/main.go"},
	}}
}

func (d *driver) run(ctx context.Context, host proto.HostClient, mod *proto.Module, debug bool,
	r *proto.ExecRequest, args []json.RawMessage) ([]byte, error) {
	str := func(i int) string {
		var s string
		if i < len(args) {
			_ = json.Unmarshal(args[i], &s)
		}
		return s
	}
	num := func(i int) int {
		var n int
		if i < len(args) {
			_ = json.Unmarshal(args[i], &n)
		}
		return n
	}
	raw := func(i int) []byte {
		if i < len(args) {
			return args[i]
		}
		return []byte("null")
	}
	switch r.Function {
	case "echo":
		if len(r.ArgsJson) == 0 {
			return []byte("[]"), nil
		}
		return r.ArgsJson, nil
	case "slow":
		if _, err := host.SetStatus(ctx, &proto.SetStatusRequest{ModuleId: mod.Id, Name: "busy", ValueJson: []byte("true")}); err != nil {
			return nil, err
		}
		fallthrough
	case "sleep":
		select {
		case <-time.After(time.Duration(num(0)) * time.Millisecond):
			return []byte("null"), nil
		case <-ctx.Done():
			return nil, &driverErr{raise(504, "Timeout", "sleep interrupted: %v", ctx.Err())}
		}
	case "hang":
		time.Sleep(time.Duration(num(0)) * time.Millisecond)
		return []byte("null"), nil
	case "panic":
		panic("testdriver: panic requested")
	case "exit":
		os.Exit(num(0))
	case "fail":
		return nil, &driverErr{raise(500, "RuntimeError", "failure requested")}
	case "leak":
		as := mod.Id
		if string(raw(0)) != "null" {
			as = str(0)
		}
		if as == "" {
			d.log.Info("leaking settings", "settings", string(mod.SettingsJson))
		} else {
			d.log.Info("leaking settings", "module", as, "settings", string(mod.SettingsJson))
		}
		fmt.Fprintf(os.Stderr, "plain settings %s\n", mod.SettingsJson) // a line naming no module
		if debug || as != mod.Id {
			if _, err := host.Log(ctx, &proto.LogRequest{ModuleId: as, Level: "info", Message: "settings " + string(mod.SettingsJson)}); err != nil {
				return nil, err
			}
		}
		return nil, &driverErr{raise(500, "LeakError", "refused with settings %s", mod.SettingsJson)}
	case "refuse":
		return nil, &driverErr{raise(400, "ArgumentError", "input %s refused with settings %s", raw(0), mod.SettingsJson)}
	case "busy":
		resp := raise(503, "Busy", "busy for %d ms", num(0))
		resp.Error.RetryAfterMs = int64(num(0))
		return nil, &driverErr{resp}
	case "support_only", "admin_only":
		return json.Marshal(r.Function)
	case "env":
		return json.Marshal(os.Getenv(str(0)))
	case "pid":
		return json.Marshal(os.Getpid())
	case "updates":
		return d.updatesOf(mod)
	case "settings":
		if len(mod.SettingsJson) == 0 {
			return []byte("{}"), nil
		}
		return mod.SettingsJson, nil
	case "big":
		return json.Marshal(strings.Repeat("x", num(0)))
	case "set":
		v := raw(1)
		_, err := host.SetStatus(ctx, &proto.SetStatusRequest{ModuleId: mod.Id, Name: str(0), ValueJson: v, Delete: string(v) == "null"})
		return []byte("null"), err
	case "get":
		resp, err := host.GetStatus(ctx, &proto.GetStatusRequest{FromModule: mod.Id, Target: &proto.Target{ModuleId: str(0)}, Name: str(1)})
		if err != nil {
			return nil, err
		}
		if !resp.Found {
			return []byte("null"), nil
		}
		return resp.ValueJson, nil
	case "call", "call_b64":
		argsJSON := raw(2)
		if r.Function == "call_b64" {
			var err error
			if argsJSON, err = base64.StdEncoding.DecodeString(str(2)); err != nil {
				return nil, &driverErr{raise(400, "ArgumentError", "call_b64: %v", err)}
			}
		}
		resp, err := host.Exec(ctx, &proto.HostExecRequest{FromModule: mod.Id, Target: &proto.Target{ModuleId: str(0)},
			Function: str(1), ArgsJson: argsJSON, UserId: r.UserId, RequestId: r.RequestId})
		if err != nil {
			return nil, err
		}
		if resp.Error != nil {
			return nil, &driverErr{resp}
		}
		return resp.ResultJson, nil
	case "log":
		if debug {
			level := cmp.Or(str(1), "info") // a level a driver should not send, for the host to judge
			_, err := host.Log(ctx, &proto.LogRequest{ModuleId: mod.Id, Level: level, Message: str(0)})
			return []byte("true"), err
		}
		return []byte("false"), nil
	case "save":
		_, err := host.SaveSetting(ctx, &proto.SaveSettingRequest{ModuleId: mod.Id, Name: str(0), ValueJson: raw(1)})
		return []byte("null"), err
	case "publish":
		_, err := host.Publish(ctx, &proto.PublishRequest{FromModule: mod.Id, Channel: str(0), Message: []byte(str(1))})
		return []byte("null"), err
	case "subscribe":
		stream, err := host.Subscribe(ctx, &proto.SubscribeRequest{FromModule: mod.Id, Target: &proto.Target{ModuleId: str(0)}, Name: str(1)})
		if err != nil {
			return nil, err
		}
		var values []json.RawMessage
		for len(values) < num(2) {
			v, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			values = append(values, v.ValueJson)
		}
		return json.Marshal(values)
	case "monitor":
		stream, err := host.Monitor(ctx, &proto.MonitorRequest{FromModule: mod.Id, Channel: str(0)})
		if err != nil {
			return nil, err
		}
		var msgs []string
		for len(msgs) < num(1) {
			m, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, string(m.Message))
		}
		return json.Marshal(msgs)
	case "as":
		var inner []json.RawMessage
		if err := json.Unmarshal(raw(2), &inner); err != nil {
			return nil, &driverErr{raise(400, "ArgumentError", "as: args must be a JSON array: %v", err)}
		}
		return d.run(ctx, host, &proto.Module{Id: str(0)}, true,
			&proto.ExecRequest{ModuleId: str(0), Function: str(1), ArgsJson: raw(2), UserId: r.UserId, RequestId: r.RequestId}, inner)
	case "mux_subscribe":
		return muxSubscribe(ctx, host, mod.Id, str(0), str(1))
	case "long_line": // pad x's then text on one line: "log" as an hclog line, "print" on os.Stderr
		line := strings.Repeat("x", num(1)) + str(2)
		if str(0) == "log" {
			d.log.Info(line)
		} else {
			fmt.Fprintln(os.Stderr, line)
		}
		return []byte("null"), nil
	case "fill": // fill.go
		return fill(ctx, host, mod.Id, str(0), num(1), num(2))
	case "flood":
		return flood(ctx, host, mod.Id, str(0), num(1), max(num(2), 1))
	case "hold":
		return d.hold(host, mod.Id, str(0), str(1), num(2))
	case "release":
		d.mu.Lock()
		held := d.held[mod.Id]
		delete(d.held, mod.Id)
		d.mu.Unlock()
		for _, cancel := range held {
			cancel()
		}
		return json.Marshal(len(held))
	case "call_flood":
		classes := map[string]int{}
		for range num(2) {
			resp, err := host.Exec(ctx, &proto.HostExecRequest{FromModule: mod.Id, Target: &proto.Target{ModuleId: str(0)}, Function: str(1)})
			if err != nil {
				return nil, err
			}
			classes[resp.GetError().GetClass()]++
		}
		return json.Marshal(classes)
	}
	return nil, &driverErr{raise(400, "NoMethodError", "no function %q", r.Function)}
}

// flood sets status name n times from p writers at once (each its own status when p > 1).
func flood(ctx context.Context, host proto.HostClient, id, name string, n, p int) ([]byte, error) {
	errs := make(chan error, p)
	for w := range p {
		status := name
		if p > 1 {
			status = fmt.Sprint(name, w)
		}
		go func() {
			var err error
			for i := w; i < n && err == nil; i += p {
				_, err = host.SetStatus(ctx, &proto.SetStatusRequest{ModuleId: id, Name: status, ValueJson: fmt.Appendf(nil, "%d", i+1)})
			}
			errs <- err
		}()
	}
	var first error
	for range p {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return json.Marshal(n)
}

// hold opens n subscriptions that outlive the call, each read on its own goroutine as the SDK
// does, until release. A refusal ends the call with the host's error as the driver sees it.
func (d *driver) hold(host proto.HostClient, from, module, prefix string, n int) ([]byte, error) {
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		stream, err := host.Subscribe(ctx, &proto.SubscribeRequest{FromModule: from, Target: &proto.Target{ModuleId: module}, Name: fmt.Sprint(prefix, i)})
		if err == nil {
			// The host sends the stream's header once it accepted the subscription; a refusal
			// ends the stream without one.
			var md grpcmd.MD
			if md, err = stream.Header(); err == nil && md == nil {
				_, err = stream.Recv()
			}
		}
		if err == nil {
			go func() {
				for {
					if _, err := stream.Recv(); err != nil {
						return
					}
				}
			}()
		}
		d.mu.Lock()
		if d.held == nil {
			d.held = map[string][]context.CancelFunc{}
		}
		d.held[from] = append(d.held[from], cancel)
		d.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return json.Marshal(n)
}

// muxSubscribe opens one subscription on a Subscriptions stream and returns its first event.
func muxSubscribe(ctx context.Context, host proto.HostClient, from, module, name string) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := host.Subscriptions(ctx)
	if err != nil {
		return nil, err
	}
	err = stream.Send(&proto.SubscriptionControl{Id: 1, Subscribe: &proto.SubscribeRequest{FromModule: from,
		Target: &proto.Target{ModuleId: module}, Name: name}})
	if err != nil {
		return nil, err
	}
	ev, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"accepted": ev.Accepted, "error": ev.Error, "code": ev.Code, "class": ev.Class})
}
