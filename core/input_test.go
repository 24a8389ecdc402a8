package core

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/plugin/proto"
)

// TestInputChecksEveryWayIn: an execute with an identifier past 255 bytes, or arguments that are
// not UTF-8, is refused the same way — bad_request naming the identifier and its length, or
// parse_error with the offset — whether a client sent it (Execute), another node forwarded it
// (ExecuteHere) or a driver called another module (Host.Exec), for every role, and nothing
// reaches the driver. Drivers used to skip the REST and WebSocket checks: a driver could name a
// megabyte function or hand another driver invalid UTF-8.
func TestInputChecksEveryWayIn(t *testing.T) {
	t.Parallel()
	tc := runningRoom(t, nil)
	host := tc.Host()
	long := strings.Repeat("f", call.MaxIdentifierBytes+45)
	bySys := call.Target{SystemID: "sys-1", Name: "Display", Index: 1}
	byID := call.Target{ModuleID: "mod-1"}
	cases := []struct {
		name   string
		target call.Target
		fn     string
		args   string
		kind   error
		words  string
	}{
		{"long function", byID, long, `[true]`, call.ErrBadIdentifier, "the function name is 300 bytes long; an identifier may have at most 255 bytes"},
		{"long module id", call.Target{ModuleID: long}, "power", `[true]`, call.ErrBadIdentifier, "the module id is 300 bytes long"},
		{"long system id", call.Target{SystemID: long, Name: "Display"}, "power", `[true]`, call.ErrBadIdentifier, "the system id is 300 bytes long"},
		{"long module name", call.Target{SystemID: "sys-1", Name: long}, "power", `[true]`, call.ErrBadIdentifier, "the module is 300 bytes long"},
		{"function not UTF-8", bySys, "pow\xffer", `[true]`, call.ErrBadIdentifier, "the function name is not valid UTF-8"},
		{"arguments not UTF-8", bySys, "input", "[\"x\xffy\", 1]", errkind.Malformed, "arguments: invalid UTF-8 in string (JSON text must be UTF-8) at offset 3"},
	}
	ways := []struct {
		name string
		run  func(call.Request) error
	}{
		{"client", func(req call.Request) error { _, err := tc.Execute(t.Context(), req); return err }},
		{"forwarded", func(req call.Request) error { _, err := tc.ExecuteHere(t.Context(), req); return err }},
		{"driver", func(req call.Request) error {
			pt := &proto.Target{ModuleId: req.Target.ModuleID, SystemId: req.Target.SystemID, Name: req.Target.Name, Index: int32(req.Target.Index)}
			resp, err := host.Exec(t.Context(), &proto.HostExecRequest{FromModule: "mod-2", Target: pt, Function: req.Function, ArgsJson: req.Args})
			if err != nil || resp.Error == nil {
				t.Fatalf("driver call %s: %v %+v, want refused", req.Function, err, resp)
			}
			// The calling driver gets what a REST client would: the status and class of the kind.
			if resp.Code != 400 || resp.Error.Class != "BadRequest" {
				t.Errorf("driver call: code %d class %q, want 400 BadRequest", resp.Code, resp.Error.Class)
			}
			return errors.New(resp.Error.Message)
		}},
	}
	for _, c := range cases {
		for _, way := range ways {
			for _, clearance := range []auth.Clearance{auth.ClearanceUser, auth.ClearanceSupport, auth.ClearanceAdmin} {
				err := way.run(call.Request{Target: c.target, Function: c.fn, Args: json.RawMessage(c.args), Caller: user(clearance)})
				if err == nil || !strings.Contains(err.Error(), c.words) {
					t.Errorf("%s, %s, %s: %v, want %q", c.name, way.name, clearance, err, c.words)
				}
				if way.name != "driver" && !errors.Is(err, c.kind) {
					t.Errorf("%s, %s: %v is not a %v", c.name, way.name, err, c.kind)
				}
				if err != nil && strings.Contains(err.Error(), long) {
					t.Errorf("%s, %s: the refusal quotes the identifier", c.name, way.name)
				}
			}
		}
	}
	if ran := tc.sup.executed(); len(ran) != 0 {
		t.Fatalf("refused calls reached the driver: %v", ran)
	}
	// At the limit, and with UTF-8 arguments, the call runs.
	at := call.Target{SystemID: "sys-1", Name: "Display"}
	if _, err := tc.Execute(t.Context(), call.Request{Target: at, Function: "input", Args: json.RawMessage(`["café ✓", 1]`), Caller: user(auth.ClearanceUser)}); err != nil {
		t.Fatalf("UTF-8 arguments: %v", err)
	}
	_, err := tc.Execute(t.Context(), call.Request{Target: at, Function: strings.Repeat("f", call.MaxIdentifierBytes), Caller: user(auth.ClearanceUser)})
	if !errors.Is(err, ErrFunctionNotFound) {
		t.Fatalf("a 255-byte function name: %v, want function not found", err)
	}
}

// TestDriverStatusNamesBounded: the status names a driver sets, reads and subscribes to, and the
// module names it subscribes through, are bounded as a client's are (each is a Redis field or
// subscription and a log field), and nothing is written or watched for a refused one.
func TestDriverStatusNamesBounded(t *testing.T) {
	t.Parallel()
	w := &fakeWatcher{}
	tc := runningRoom(t, func(c *Config) { c.Watcher = w })
	host := tc.Host()
	long := strings.Repeat("s", call.MaxIdentifierBytes+1)
	_, err := host.SetStatus(t.Context(), &proto.SetStatusRequest{ModuleId: "mod-1", Name: long, ValueJson: []byte(`1`)})
	wantCode(t, err, codes.InvalidArgument, "mod-1", "a status name is 256 bytes long")
	if _, err := host.SetStatus(t.Context(), &proto.SetStatusRequest{ModuleId: "mod-1", Name: long[1:], ValueJson: []byte(`1`)}); err != nil {
		t.Fatalf("a 255-byte status name: %v", err)
	}
	for _, c := range []struct {
		target *proto.Target
		name   string
		words  string
	}{
		{&proto.Target{ModuleId: "mod-1"}, long, "the status name is 256 bytes long"},
		{&proto.Target{SystemId: "sys-1", Name: long}, "power", "the module is 256 bytes long"},
		{&proto.Target{SystemId: long, Name: "Display"}, "power", "the system id is 256 bytes long"},
		{&proto.Target{ModuleId: long}, "power", "the module id is 256 bytes long"},
	} {
		_, err := host.GetStatus(t.Context(), &proto.GetStatusRequest{FromModule: "mod-2", Target: c.target, Name: c.name})
		if !errors.Is(err, call.ErrBadIdentifier) || !strings.Contains(err.Error(), c.words) {
			t.Errorf("GetStatus %+v: %v, want %q", c.target, err, c.words)
		}
		stream := &streamOf{ctx: t.Context()}
		err = host.Subscribe(&proto.SubscribeRequest{FromModule: "mod-2", Target: c.target, Name: c.name}, stream)
		if !errors.Is(err, call.ErrBadIdentifier) || !strings.Contains(err.Error(), c.words) {
			t.Errorf("Subscribe %+v: %v, want %q", c.target, err, c.words)
		}
	}
	if watches, _, _ := w.snapshot(); len(watches) != 0 {
		t.Fatalf("refused subscriptions were watched: %d", len(watches))
	}
	tc.state.mu.Lock()
	_, written := tc.state.status["mod-1"][long]
	tc.state.mu.Unlock()
	if written {
		t.Fatal("a 256-byte status name was written")
	}
}

// TestInputCheckAllocatesNothing: the checks every execute passes cost a length compare per
// identifier and one UTF-8 scan of the arguments, and no allocation (the execute benchmark's
// budget, scripts/bench).
func TestInputCheckAllocatesNothing(t *testing.T) {
	// Not parallel: AllocsPerRun refuses to run beside other tests.
	req := call.Request{Target: call.Target{SystemID: "sys-1", Name: "Display", Index: 1}, Function: "input",
		Args: json.RawMessage(`["café ✓", {"a": [1, 2, 3]}]`)}
	if n := testing.AllocsPerRun(100, func() { _ = checkInput(req) }); n != 0 {
		t.Fatalf("checkInput allocates %v times", n)
	}
}
