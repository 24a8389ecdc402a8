package core

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/plugin/proto"
)

// protectedModel has a protected module of each kind of name: mod-l is "_Logic" by its custom
// name, mod-t "_Trigger" by its driver's module_name; mod-1 is a plain Display. sys-1 names them.
const protectedModel = `
drivers:
  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}
  - {id: drv-t, module_name: _Trigger, role: logic, binary: /bin/trigger}
modules:
  - {id: mod-1, driver_id: drv-d, running: true}
  - {id: mod-l, driver_id: drv-d, custom_name: _Logic, running: true}
  - {id: mod-t, driver_id: drv-t, control_system_id: sys-1, running: true}
systems:
  - {id: sys-1, name: Room, modules: [mod-1, mod-l, mod-t]}
`

func protectedRoom(t *testing.T) *testCore {
	t.Helper()
	tc := newTestCore(t, protectedModel, nil)
	tc.sup.meta = displayMeta
	tc.reconcile(t.Context())
	for _, id := range []string{"mod-1", "mod-l", "mod-t"} {
		if _, err := tc.state.SetStatus(t.Context(), id, "power", []byte("true")); err != nil {
			t.Fatal(err)
		}
	}
	return tc
}

// TestStatusOfUnknownModule: a status read by the id of a module the model lacks is not found
// (404), whatever Redis holds under that id.
func TestStatusOfUnknownModule(t *testing.T) {
	t.Parallel()
	tc := protectedRoom(t)
	ctx := t.Context()
	if _, err := tc.cfg.State.SetStatus(ctx, "mod-gone", "power", []byte("true")); err != nil {
		t.Fatal(err)
	}
	admin := user(auth.ClearanceAdmin)
	if _, err := tc.State(ctx, call.Target{ModuleID: "mod-gone"}, admin); !errors.Is(err, ErrModuleNotFound) {
		t.Fatalf("state of an unknown module: %v, want module not found", err)
	}
	if _, _, err := tc.StateValue(ctx, call.Target{ModuleID: "mod-gone"}, admin, "power"); !errors.Is(err, ErrModuleNotFound) {
		t.Fatalf("status of an unknown module: %v, want module not found", err)
	}
	if st, err := tc.State(ctx, call.Target{ModuleID: "mod-1"}, admin); err != nil || st["power"] != "true" {
		t.Fatalf("state of a known module: %v %v", st, err)
	}
}

// TestProtectedModules: PlaceOS's rule for _-prefixed modules (docs/protocol.md §8.3) on every way
// into a module — execute, status hash, one status, function listing — by system and name and by
// module id, by the module's resolved name (custom_name, else the driver's module_name): support,
// admin and a driver's own calls pass; a user is refused before anything runs or is read.
func TestProtectedModules(t *testing.T) {
	t.Parallel()
	tc := protectedRoom(t)
	ctx := t.Context()
	targets := map[string]call.Target{
		"_Logic by system":   {SystemID: "sys-1", Name: "_Logic", Index: 1},
		"_Logic by id":       {ModuleID: "mod-l"},
		"_Trigger by system": {SystemID: "sys-1", Name: "_Trigger"},
		"_Trigger by id":     {ModuleID: "mod-t"},
		"Display by system":  {SystemID: "sys-1", Name: "Display"},
		"Display by id":      {ModuleID: "mod-1"},
	}
	ways := map[string]func(call.Target, auth.Caller) error{
		"execute": func(t call.Target, c auth.Caller) error {
			_, err := tc.Execute(ctx, call.Request{Target: t, Function: "power", Args: json.RawMessage(`[true]`), Caller: c})
			return err
		},
		"state": func(t call.Target, c auth.Caller) error {
			st, err := tc.State(ctx, t, c)
			if err == nil && st["power"] != "true" {
				return errors.New("no state read")
			}
			return err
		},
		"status": func(t call.Target, c auth.Caller) error {
			v, ok, err := tc.StateValue(ctx, t, c, "power")
			if err == nil && (!ok || string(v) != "true") {
				return errors.New("no status read")
			}
			return err
		},
		"functions": func(t call.Target, c auth.Caller) error {
			fns, err := tc.Functions(ctx, t, c)
			if err == nil && len(fns) == 0 {
				return errors.New("no functions listed")
			}
			return err
		},
	}
	for _, clearance := range allClearances {
		for tname, target := range targets {
			protected := strings.HasPrefix(tname, "_")
			for wname, way := range ways {
				before := len(tc.sup.executed())
				err := way(target, user(clearance))
				ran := len(tc.sup.executed()) > before
				refused := protected && clearance == auth.ClearanceUser
				switch {
				case refused && !errors.Is(err, ErrAccessDenied):
					t.Errorf("%s: %s of %s: %v, want access denied", clearance, wname, tname, err)
				case refused && ran:
					t.Errorf("%s: %s of %s reached the driver", clearance, wname, tname)
				case refused:
					p := errkind.Classify(err)
					if p.Status != 403 || p.Code != errkind.CodeAccessDenied || !strings.HasPrefix(p.Message, "attempted to access protected module _") {
						t.Errorf("%s: %s of %s: %+v", clearance, wname, tname, p)
					}
				case err != nil:
					t.Errorf("%s: %s of %s: %v", clearance, wname, tname, err)
				}
			}
		}
	}
}

var allClearances = []auth.Clearance{auth.ClearanceUser, auth.ClearanceSupport, auth.ClearanceAdmin, auth.ClearanceInternal}

// TestProtectedNameBeforeLookup: by system and name, the name is judged before anything is looked
// up, so a user learns nothing of which protected modules a system has (as for a WebSocket bind);
// a support caller gets the ordinary not-found.
func TestProtectedNameBeforeLookup(t *testing.T) {
	t.Parallel()
	tc := protectedRoom(t)
	ghost := call.Target{SystemID: "sys-1", Name: "_Ghost"}
	if _, err := tc.State(t.Context(), ghost, user(auth.ClearanceUser)); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("user, missing protected module: %v", err)
	}
	if _, err := tc.State(t.Context(), call.Target{SystemID: "sys-nope", Name: "_Ghost"}, user(auth.ClearanceUser)); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("user, missing system: %v", err)
	}
	if _, err := tc.State(t.Context(), ghost, user(auth.ClearanceSupport)); errkind.Classify(err).Code != errkind.CodeModuleNotFound {
		t.Fatalf("support, missing protected module: %v", err)
	}
	// By id, a refusal still names the module it resolved to (for the error body).
	res, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: "mod-l"}, Function: "power", Args: json.RawMessage(`[true]`)})
	if !errors.Is(err, ErrAccessDenied) || res.ModuleID != "mod-l" {
		t.Fatalf("by id: %+v %v", res, err)
	}
}

// TestProtectedDriverToDriver: a driver's call to a protected module acts for the caller it serves
// (the same execute path): a user's execute cannot reach _Logic through a driver; the driver's
// own call (no user) can.
func TestProtectedDriverToDriver(t *testing.T) {
	t.Parallel()
	tc := protectedRoom(t)
	host := tc.Host()
	nested := make(chan *proto.ExecResponse, 1)
	tc.sup.exec = func(ctx context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error) {
		if req.ModuleId == "mod-1" && req.Function == "input" {
			resp, err := host.Exec(ctx, &proto.HostExecRequest{FromModule: "mod-1", Target: &proto.Target{SystemId: "sys-1", Name: "_Logic", Index: 1},
				Function: "power", ArgsJson: []byte(`[true]`), UserId: req.UserId, RequestId: req.RequestId})
			if err != nil {
				return nil, err
			}
			nested <- resp
		}
		return &proto.ExecResponse{ResultJson: []byte("true"), Code: 200}, nil
	}
	for _, c := range []auth.Caller{user(auth.ClearanceUser), user(auth.ClearanceSupport)} {
		if _, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "input",
			Args: json.RawMessage(`["hdmi", 1]`), Caller: c, RequestID: "rid-" + c.UserID}); err != nil {
			t.Fatal(err)
		}
		resp := <-nested
		if c.Clearance == auth.ClearanceUser && (resp.Code != 403 || resp.Error == nil || !strings.Contains(resp.Error.Message, "protected module _Logic")) {
			t.Fatalf("user through a driver: %+v", resp)
		}
		if c.Clearance == auth.ClearanceSupport && resp.Error != nil {
			t.Fatalf("support through a driver: %+v", resp)
		}
	}
	own, err := host.Exec(t.Context(), &proto.HostExecRequest{FromModule: "mod-1", Target: &proto.Target{ModuleId: "mod-l"},
		Function: "power", ArgsJson: []byte(`[true]`)})
	if err != nil || own.Error != nil {
		t.Fatalf("the driver's own call: %+v %v", own, err)
	}
}

// TestProtectedForwarded: the owner of a module applies the rule again to a forwarded call, by its
// own model's name for the module id.
func TestProtectedForwarded(t *testing.T) {
	t.Parallel()
	tc := protectedRoom(t)
	_, err := tc.ExecuteHere(t.Context(), call.Request{Target: call.Target{ModuleID: "mod-t"}, Function: "power",
		Args: json.RawMessage(`[true]`), Caller: auth.Caller{UserID: "u", Clearance: auth.ClearanceUser, Node: true}})
	if !errors.Is(err, ErrAccessDenied) || len(tc.sup.executed()) != 0 {
		t.Fatalf("forwarded for a user: %v, %d ran", err, len(tc.sup.executed()))
	}
	if _, err := tc.ExecuteHere(t.Context(), call.Request{Target: call.Target{ModuleID: "mod-t"}, Function: "power",
		Args: json.RawMessage(`[true]`), Caller: auth.Caller{Clearance: auth.ClearanceInternal, Node: true}}); err != nil {
		t.Fatalf("forwarded for a driver's own call: %v", err)
	}
}

// TestStartStopMissingModule: start and stop are client routes about a module: a missing one is
// module_not_found, as on every other module route (not the management API's not_found).
func TestStartStopMissingModule(t *testing.T) {
	t.Parallel()
	tc := protectedRoom(t)
	for _, set := range []func(context.Context, string) error{tc.StartModule, tc.StopModule} {
		err := set(t.Context(), "mod-ghost")
		if p := errkind.Classify(err); p.Status != 404 || p.Name != "module_not_found" || p.Message != "could not find module mod-ghost" {
			t.Fatalf("%+v", p)
		}
	}
}

// TestNodeStatusHidesProtectedFailures: the node status lists every module this node holds, but a
// protected module's failure (its driver's words of a failed start) only to a caller who may read
// its state: support and above, a driver's own read, another node asking for itself (it acts as
// admin). A user, and a context naming no caller, see the module without its error and not among
// the failures, and as running when the model says it runs — its start failing here made it
// "running": false, which told them as much as the error; a plain module's failure is everyone's
// to read (docs/protocol.md §8.3).
func TestNodeStatusHidesProtectedFailures(t *testing.T) {
	t.Parallel()
	tc := newTestCore(t, protectedModel, nil)
	tc.sup.meta = displayMeta
	tc.sup.startErr = map[string]error{
		"mod-1": errors.New("OnLoad: display-words"),
		"mod-l": errors.New("OnLoad: logic-words"),
		"mod-t": errors.New("OnLoad: trigger-words"),
	}
	tc.reconcile(t.Context())
	words := map[string]string{"mod-1": "display-words", "mod-l": "logic-words", "mod-t": "trigger-words"}
	ctxs := map[string]context.Context{
		"no caller": t.Context(),
		"user":      auth.WithCaller(t.Context(), user(auth.ClearanceUser)),
		"support":   auth.WithCaller(t.Context(), user(auth.ClearanceSupport)),
		"admin":     auth.WithCaller(t.Context(), user(auth.ClearanceAdmin)),
		"internal":  auth.WithCaller(t.Context(), auth.Caller{Clearance: auth.ClearanceInternal}),
	}
	for name, ctx := range ctxs {
		st, err := tc.NodeStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		doc := st.(map[string]any)
		modules, failures := doc["modules"].([]ModuleStatus), doc["failures"].([]ModuleStatus)
		cleared := name != "user" && name != "no caller"
		for id, w := range words {
			protected := id != "mod-1"
			want := !protected || cleared
			var listed, failing bool
			for _, ms := range modules {
				if ms.ID == id {
					listed = true
					if strings.Contains(ms.Error, w) != want {
						t.Errorf("%s: modules entry of %s has error %q; want its words shown: %v", name, id, ms.Error, want)
					}
					// Whether it runs here is its state too: its start failed, so it does not,
					// which a caller who may not read its state is not told (the model's
					// running, which every module read shows, stands in).
					if ms.Running != !want || !ms.Since.IsZero() && !want {
						t.Errorf("%s: modules entry of %s says running %v since %v; want running %v", name, id, ms.Running, ms.Since, !want)
					}
				}
			}
			for _, ms := range failures {
				failing = failing || ms.ID == id
			}
			if !listed || failing != want {
				t.Errorf("%s: %s listed %v, among the failures %v; want listed, failing %v", name, id, listed, failing, want)
			}
		}
		raw, _ := json.Marshal(st)
		if !cleared && (strings.Contains(string(raw), "logic-words") || strings.Contains(string(raw), "trigger-words")) {
			t.Errorf("%s: the node status tells a protected module's failure: %s", name, raw)
		}
	}
}
