package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/raftfsm"
)

// displayMeta is metadata as a Go driver publishes it (docs/protocol.md §4), with functions and
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

const roomModel = `
drivers:
  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}
modules:
  - {id: mod-1, driver_id: drv-d, running: true}
  - {id: mod-2, driver_id: drv-d, running: true}
  - {id: mod-off, driver_id: drv-d}
systems:
  - {id: sys-1, name: Room, modules: [mod-1, mod-2]}
  - {id: sys-empty, name: Empty}
`

// runningRoom is a core that runs mod-1 and mod-2 of roomModel with displayMeta.
func runningRoom(t *testing.T, mod func(*Config)) *testCore {
	t.Helper()
	tc := newTestCore(t, roomModel, mod)
	tc.sup.meta = displayMeta
	tc.reconcile(t.Context())
	return tc
}

func user(c auth.Clearance) auth.Caller { return auth.Caller{UserID: "u-" + c.String(), Clearance: c} }

// TestExecuteClearance is the rule of docs/protocol.md §8 on the one execute path: unlisted
// functions are open, "support" needs support, "administrator" admin, any other level nobody
// but a driver acting on its own. A refused call never reaches the driver.
func TestExecuteClearance(t *testing.T) {
	t.Parallel()
	tc := runningRoom(t, nil)
	fns := map[string]string{"power": "[true]", "reboot": "", "factory_reset": "", "secret": ""}
	// reboot is listed under support first: the first level naming a function governs it.
	allowed := map[auth.Clearance][]string{
		auth.ClearanceUser:     {"power"},
		auth.ClearanceSupport:  {"power", "reboot"},
		auth.ClearanceAdmin:    {"factory_reset", "power", "reboot"},
		auth.ClearanceInternal: {"factory_reset", "power", "reboot", "secret"},
	}
	for clearance, want := range allowed {
		var got []string
		for fn, args := range fns {
			before := len(tc.sup.executed())
			_, err := tc.Execute(t.Context(), call.Request{
				Target: call.Target{SystemID: "sys-1", Name: "Display", Index: 1}, Function: fn,
				Args: json.RawMessage(args), Caller: user(clearance),
			})
			ran := len(tc.sup.executed()) > before
			switch {
			case err == nil && ran:
				got = append(got, fn)
			case errors.Is(err, ErrAccessDenied) && !ran:
				if p := errkind.Classify(err); p.Status != 403 || !strings.Contains(p.Message, fn) {
					t.Errorf("%s calling %s: %+v", clearance, fn, p)
				}
			default:
				t.Errorf("%s calling %s: err %v, driver ran: %v", clearance, fn, err, ran)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s may call %v, want %v", clearance, got, want)
		}
	}
}

// TestExecuteUnknownFunctionHint: a function that is not there is answered with the name it was
// probably meant to be and the functions the caller may call, never one above its clearance.
func TestExecuteUnknownFunctionHint(t *testing.T) {
	t.Parallel()
	tc := runningRoom(t, nil)
	for _, tt := range []struct {
		fn        string
		clearance auth.Clearance
		want      string
	}{
		{"Power", auth.ClearanceUser, "could not find function Power (did you mean power? function names are snake_case; functions: volume, power, input, mix)"},
		{"volumes", auth.ClearanceUser, "could not find function volumes (did you mean volume? functions: volume, power, input, mix)"},
		{"FactoryReset", auth.ClearanceUser, "could not find function FactoryReset (functions: volume, power, input, mix)"},
		{"FactoryReset", auth.ClearanceAdmin, "could not find function FactoryReset (did you mean factory_reset? function names are snake_case; functions: volume, power, input, reboot, factory_reset, mix)"},
	} {
		_, err := tc.Execute(t.Context(), call.Request{
			Target: call.Target{ModuleID: "mod-1"}, Function: tt.fn, Args: json.RawMessage(`[]`), Caller: user(tt.clearance),
		})
		if !errors.Is(err, ErrFunctionNotFound) || err.Error() != tt.want {
			t.Errorf("%s as %s:\n got %v\nwant %s", tt.fn, tt.clearance, err, tt.want)
		}
	}
}

// TestExecuteChecksArguments: calls the driver would refuse are refused before it, with the
// parameter named.
func TestExecuteChecksArguments(t *testing.T) {
	t.Parallel()
	tc := runningRoom(t, nil)
	tests := []struct {
		fn, args string
		kind     error
		msg      string
	}{
		{"power", ``, errkind.BadRequest, "missing argument 'state' for 'power'"},
		{"power", `[true, 1]`, errkind.BadRequest, "wrong number of arguments for 'power' (given 2, expected 1)"},
		{"power", `["on"]`, errkind.BadRequest, "argument 'state' for 'power' must be boolean, got string"},
		{"power", `{"state": true, "extra": 1}`, errkind.BadRequest, "unknown argument 'extra' for 'power'"},
		{"power", `{"state": tru}`, errkind.Malformed, "arguments: invalid character '}' in literal true (expecting 'e') at offset 13"},
		{"power", `[tru`, errkind.Malformed, "arguments: unexpected end of JSON input at offset 4"},
		{"power", `"on"`, errkind.BadRequest, "arguments must be a JSON array or object"},
		{"volume", `[1.5]`, errkind.BadRequest, "argument 'level' for 'volume' must be integer, got number"},
		{"nope", `[]`, errkind.BadRequest, "could not find function nope"},
	}
	for _, tt := range tests {
		_, err := tc.Execute(t.Context(), call.Request{
			Target: call.Target{ModuleID: "mod-1"}, Function: tt.fn, Args: json.RawMessage(tt.args), Caller: user(auth.ClearanceAdmin),
		})
		if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s(%s): %v, want %v with %q", tt.fn, tt.args, err, tt.kind, tt.msg)
		}
	}
	// What does bind reaches the driver as given: positional, named, defaults left out, nulls
	// for nullable parameters, anything for untyped ones.
	for _, ok := range []struct{ fn, args string }{
		{"power", `[false]`}, {"power", `{"state": true}`}, {"volume", `[10]`}, {"volume", `{"level": 3, "ramp": true}`},
		{"mix", ``}, {"mix", `[null]`}, {"mix", `[2]`}, {"input", `["hdmi", {"any": ["thing"]}]`},
	} {
		if _, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: ok.fn,
			Args: json.RawMessage(ok.args), Caller: user(auth.ClearanceUser)}); err != nil {
			t.Errorf("%s(%s): %v", ok.fn, ok.args, err)
		}
	}
	if got := tc.sup.executed(); len(got) != 8 {
		t.Fatalf("the driver ran %d calls, want the 8 that bind: %v", len(got), got)
	}
}

// TestExecuteResolves: a place in a system or a module id; a missing system is told from a
// missing module, and the model stands in for a lookup Redis lost.
func TestExecuteResolves(t *testing.T) {
	t.Parallel()
	tc := runningRoom(t, nil)
	exec := func(target call.Target) (call.Result, error) {
		return tc.Execute(t.Context(), call.Request{Target: target, Function: "power", Args: json.RawMessage(`[true]`)})
	}
	if res, err := exec(call.Target{SystemID: "sys-1", Name: "Display", Index: 2}); err != nil || res.ModuleID != "mod-2" || string(res.Value) != "true" || res.Code != 200 {
		t.Fatalf("Display_2: %+v %v", res, err)
	}
	if res, err := exec(call.Target{SystemID: "sys-1", Name: "Display"}); err != nil || res.ModuleID != "mod-1" {
		t.Fatalf("index 0 means 1: %+v %v", res, err)
	}
	for _, tt := range []struct {
		target call.Target
		code   errkind.Code
		msg    string
	}{
		{call.Target{SystemID: "sys-nope", Name: "Display"}, errkind.CodeSystemNotFound, "could not find system sys-nope"},
		{call.Target{SystemID: "sys-1", Name: "Display", Index: 3}, errkind.CodeModuleNotFound, "could not find module Display_3 in system sys-1"},
		{call.Target{SystemID: "sys-empty", Name: "Display"}, errkind.CodeModuleNotFound, "could not find module Display_1 in system sys-empty"},
		{call.Target{ModuleID: "mod-ghost"}, errkind.CodeModuleNotFound, "could not find module mod-ghost"},
		{call.Target{ModuleID: "mod-off"}, errkind.CodeModuleNotFound, "mod-off"},
	} {
		_, err := exec(tt.target)
		if p := errkind.Classify(err); p.Code != tt.code || !strings.Contains(p.Message, tt.msg) {
			t.Errorf("%+v: %+v, want %v with %q", tt.target, p, tt.code, tt.msg)
		}
	}
	// Redis lost the lookup (a restart): the model answers until the owner writes it again.
	if err := tc.state.DeleteLookup(t.Context(), "sys-1"); err != nil {
		t.Fatal(err)
	}
	if res, err := exec(call.Target{SystemID: "sys-1", Name: "Display", Index: 2}); err != nil || res.ModuleID != "mod-2" {
		t.Fatalf("from the model: %+v %v", res, err)
	}
}

// TestExecuteDeadline: one deadline, the engine's or the caller's shorter one, reaches the
// driver; a driver that does not answer in time is a timeout, not a hang.
func TestExecuteDeadline(t *testing.T) {
	t.Parallel()
	tc := runningRoom(t, func(c *Config) { c.ExecTimeout = 300 * time.Millisecond })
	deadlines := make(chan time.Duration, 4)
	tc.sup.exec = func(ctx context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("no deadline")
		}
		deadlines <- time.Until(dl)
		<-ctx.Done()
		return nil, fmt.Errorf("exec: %w", ctx.Err())
	}
	for _, tt := range []struct {
		asked, max time.Duration
	}{
		{0, 300 * time.Millisecond},                    // the engine's
		{50 * time.Millisecond, 50 * time.Millisecond}, // shorter: the caller's
		{time.Hour, 300 * time.Millisecond},            // longer: capped
	} {
		_, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "reboot",
			Caller: user(auth.ClearanceAdmin), Timeout: tt.asked})
		if p := errkind.Classify(err); p.Status != 504 || !strings.Contains(p.Message, "reboot did not answer within") {
			t.Fatalf("asked %s: %+v", tt.asked, p)
		}
		if got := <-deadlines; got > tt.max || got <= 0 {
			t.Fatalf("asked %s: the driver had %s, want at most %s", tt.asked, got, tt.max)
		}
	}
}

// TestExecuteDriverAnswers: results pass through raw with the driver's code; what the driver
// raised keeps its class, message and backtrace; a driver's own 400 is bad input that keeps its
// class too.
func TestExecuteDriverAnswers(t *testing.T) {
	t.Parallel()
	tc := runningRoom(t, nil)
	answers := map[string]*proto.ExecResponse{
		"power":  {ResultJson: []byte(`{"on": true}`), Code: 202},
		"reboot": {Code: 500, Error: &proto.ExecError{Class: "IOError", Message: "socket closed", Backtrace: []string{"display.go:10"}}},
		"input":  {Code: 400, Error: &proto.ExecError{Class: "ArgumentError", Message: "no such input"}},
		"mix":    {Code: 0},
	}
	tc.sup.exec = func(_ context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error) {
		return answers[req.Function], nil
	}
	exec := func(fn, args string) (call.Result, error) {
		return tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: fn,
			Args: json.RawMessage(args), Caller: user(auth.ClearanceAdmin)})
	}
	if res, err := exec("power", `[true]`); err != nil || string(res.Value) != `{"on": true}` || res.Code != 202 {
		t.Fatalf("power: %+v %v", res, err)
	}
	_, err := exec("reboot", ``)
	var de *errkind.DriverError
	if !errors.As(err, &de) || de.Class != "IOError" || de.Message != "socket closed" || len(de.Backtrace) != 1 {
		t.Fatalf("reboot: %v", err)
	}
	_, err = exec("input", `["x", 1]`)
	if p := errkind.Classify(err); !errors.As(err, &de) || de.Class != "ArgumentError" || p.Status != 400 || p.Name != "bad_request" {
		t.Fatalf("input: %v", err)
	}
	if res, err := exec("mix", ``); err != nil || string(res.Value) != "null" || res.Code != 200 {
		t.Fatalf("an empty answer: %+v %v", res, err)
	}
}

// twoNodes is a cluster of n1 (this core) and n2, and a module the ring gives to n2.
func twoNodes(t *testing.T, peers *fakePeers) (*testCore, string) {
	t.Helper()
	cl := &fakeCluster{epoch: 1, caughtUp: true, nodes: []raftfsm.Node{{ID: "n1", RaftAddr: "n1:7000", Up: true}, {ID: "n2", RaftAddr: "n2:7000", Up: true}}}
	var mods strings.Builder
	for i := range 20 {
		fmt.Fprintf(&mods, "  - {id: mod-%d, driver_id: drv-d, running: true}\n", i)
	}
	tc := newTestCore(t, "drivers:\n  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}\nmodules:\n"+mods.String(),
		func(c *Config) { c.Cluster, c.Peers = cl, peers })
	tc.sup.meta = displayMeta
	tc.reconcile(t.Context())
	for i := range 20 {
		id := fmt.Sprintf("mod-%d", i)
		if owner, _ := tc.Owner(id); owner == "n2" {
			if err := tc.state.SetMetadata(t.Context(), id, []byte(displayMeta)); err != nil {
				t.Fatal(err)
			}
			return tc, id
		}
	}
	t.Fatal("the ring gave n2 none of 20 modules")
	return nil, ""
}

// TestExecuteForwardsToTheOwner: a module hosted elsewhere is checked here and run there, for the
// same caller, request id and deadline; a node that is not the owner never forwards a forwarded
// call again.
func TestExecuteForwardsToTheOwner(t *testing.T) {
	t.Parallel()
	peers := &fakePeers{}
	tc, mod := twoNodes(t, peers)
	caller := user(auth.ClearanceSupport)
	res, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: mod}, Function: "reboot",
		Caller: caller, RequestID: "rid-1", Timeout: time.Second})
	if err != nil || string(res.Value) != `"remote"` || res.ModuleID != mod {
		t.Fatalf("forwarded: %+v %v", res, err)
	}
	if len(peers.reqs) != 1 || peers.calls[0] != "n2:7000 "+mod+".reboot" || peers.reqs[0].Caller != caller || peers.reqs[0].RequestID != "rid-1" {
		t.Fatalf("forwarded %v %+v", peers.calls, peers.reqs)
	}
	if len(tc.sup.executed()) != 0 {
		t.Fatal("a module of n2 ran here")
	}
	// The check happens before forwarding: a user cannot reach a support function elsewhere.
	if _, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: mod}, Function: "reboot", Caller: user(auth.ClearanceUser)}); !errors.Is(err, ErrAccessDenied) || len(peers.reqs) != 1 {
		t.Fatalf("user: %v after %d forwards", err, len(peers.reqs))
	}
	// A forwarded call for a module this node does not host answers 409 with the owner.
	_, err = tc.ExecuteHere(t.Context(), call.Request{Target: call.Target{ModuleID: mod}, Function: "power", Args: json.RawMessage(`[true]`), Caller: caller})
	var nh *NotHostedError
	if !errors.As(err, &nh) || nh.Owner != "n2" || errkind.Classify(err).Status != 409 || len(peers.reqs) != 1 {
		t.Fatalf("ExecuteHere of a foreign module: %v", err)
	}
}

// TestForwardedTimeoutToldOnce: the owner's answer that the call ran out of time, arriving as
// this node's own deadline passes, is the caller's answer as the owner worded it; it is not
// prefixed with the same words again (a rolling-upgrade drill logged "power did not answer
// within 5s: power did not answer within 5s: …"). A deadline this node noticed itself still
// names the function.
func TestForwardedTimeoutToldOnce(t *testing.T) {
	t.Parallel()
	const owners = "power did not answer within 200ms: context deadline exceeded"
	peers := &fakePeers{execCtx: func(ctx context.Context, req call.Request) (call.Result, error) {
		<-ctx.Done()
		return call.Result{}, errkind.FromProblem(http.StatusGatewayTimeout, "", owners, "", nil, 0)
	}}
	tc, mod := twoNodes(t, peers)
	req := call.Request{Target: call.Target{ModuleID: mod}, Function: "power", Args: json.RawMessage(`[true]`), Timeout: 200 * time.Millisecond}
	_, err := tc.Execute(t.Context(), req)
	if p := errkind.Classify(err); p.Status != 504 || p.Message != owners {
		t.Fatalf("the owner's timeout: %d %q, want 504 %q", p.Status, p.Message, owners)
	}
	peers.execCtx = func(ctx context.Context, req call.Request) (call.Result, error) {
		<-ctx.Done()
		return call.Result{}, errkind.Wrap(errkind.Timeout, ctx.Err(), "node n2:7000 did not answer in time")
	}
	_, err = tc.Execute(t.Context(), req)
	if p := errkind.Classify(err); p.Status != 504 || !strings.HasPrefix(p.Message, "power did not answer within 200ms: node n2:7000 did not answer in time") {
		t.Fatalf("this node's own timeout: %d %q", p.Status, p.Message)
	}
}

// TestExecWhileModuleMovesIsUnavailable: while nodes disagree on where a module lives, a client
// gets a retryable 503 after one retry with a fresh ring, never the 409 of the node-to-node route.
func TestExecWhileModuleMovesIsUnavailable(t *testing.T) {
	t.Parallel()
	peers := &fakePeers{exec: func(string, call.Request) (call.Result, error) {
		return call.Result{}, errkind.Wrap(errkind.Conflict, nil, "module is hosted by node n3")
	}}
	tc, mod := twoNodes(t, peers)
	_, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: mod}, Function: "power", Args: json.RawMessage(`[true]`)})
	if !errors.Is(err, errkind.Unavailable) || errors.Is(err, errkind.Conflict) {
		t.Fatalf("exec while moving: %v; want Unavailable and not Conflict", err)
	}
	if len(peers.calls) != 2 {
		t.Fatalf("peer called %d times, want 2 (one retry)", len(peers.calls))
	}
	// The stale owner says no once, then the fresh ring finds the module: one retry is enough.
	first := true
	peers.exec = func(string, call.Request) (call.Result, error) {
		if first {
			first = false
			return call.Result{}, errkind.Wrap(errkind.Conflict, nil, "moved")
		}
		return call.Result{Value: json.RawMessage("1"), Code: 200}, nil
	}
	if res, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: mod}, Function: "power", Args: json.RawMessage(`[true]`)}); err != nil || string(res.Value) != "1" {
		t.Fatalf("after one retry: %+v %v", res, err)
	}
}

// TestExecuteNeedsARunningModule: a module that is not running here is unavailable or missing,
// never a hang.
func TestExecuteNeedsARunningModule(t *testing.T) {
	t.Parallel()
	tc := newTestCore(t, roomModel, nil)
	tc.sup.meta = displayMeta
	if err := tc.state.SetMetadata(t.Context(), "mod-1", []byte(displayMeta)); err != nil {
		t.Fatal(err)
	}
	_, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "reboot", Caller: user(auth.ClearanceAdmin)})
	if !errors.Is(err, ErrModuleStopped) || errkind.Classify(err).Status != 503 {
		t.Fatalf("before the first pass: %v", err)
	}
	tc.reconcile(t.Context())
	if _, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "reboot", Caller: user(auth.ClearanceAdmin)}); err != nil {
		t.Fatalf("after: %v", err)
	}
}
