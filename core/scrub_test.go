package core

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
)

// TestDriverWordsAreScrubbed: what a driver says about a module — a failed start (kept for module
// reads, the node's status and a call's 503), an execute's error message and backtrace, a call
// that fails in the supervisor — reaches nobody with one of the module's protected values in it,
// and keeps its kind and its class.
func TestDriverWordsAreScrubbed(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	const secret = "hunter2-pass"
	tc := sealedCore(t, k, `
drivers: [{id: drv-d, module_name: Display, role: device, binary: /bin/d}]
systems: [{id: sys-1, name: Room, modules: [m1]}]
modules: [{id: m1, driver_id: drv-d, running: true, protected_settings: [{level: never_displayed, settings: {password: "`+secret+`"}}]}]
`, func(sup *fakeSup) {
		sup.startErr = map[string]error{"m1": errors.New("OnLoad: login refused for " + secret)}
	})
	c := tc.Core
	ctx := t.Context()

	// A failed start: its record (module reads), the node's status, a call's 503.
	rec := tc.state.errs["m1"].Error
	if strings.Contains(rec, secret) || !strings.Contains(rec, "login refused for [redacted]") {
		t.Fatalf("recorded start failure %q", rec)
	}
	status, err := c.NodeStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := json.Marshal(status); strings.Contains(string(doc), secret) || !strings.Contains(string(doc), "[redacted]") ||
		!strings.Contains(string(doc), `"driver":"/bin/d"`) {
		t.Fatalf("node status shows %s (want the reason hidden and the driver that holds the module named)", doc)
	}
	admin := auth.Caller{UserID: "u", Clearance: auth.ClearanceAdmin}
	_, err = c.Execute(ctx, call.Request{Target: call.Target{ModuleID: "m1"}, Function: "power", Caller: admin})
	if err == nil || strings.Contains(err.Error(), secret) || !errors.Is(err, errkind.Unavailable) {
		t.Fatalf("a call of the module that did not start: %v", err)
	}

	// Started: what its driver answers a call with.
	tc.sup.mu.Lock()
	tc.sup.startErr = nil
	tc.sup.meta = `{"functions": {"power": {}}}`
	tc.sup.exec = func(_ context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
		return &proto.ExecResponse{Code: 401, Error: &proto.ExecError{Class: "AuthError",
			Message: "device refused password " + secret, Backtrace: []string{"login(" + secret + ")", "main"}}}, nil
	}
	tc.sup.mu.Unlock()
	c.reconcile(ctx)
	_, err = c.Execute(ctx, call.Request{Target: call.Target{ModuleID: "m1"}, Function: "power", Caller: admin})
	var de *errkind.DriverError
	if !errors.As(err, &de) || de.Class != "AuthError" || de.Code != 401 || de.Message != "[redacted]" ||
		de.Backtrace[0] != "[redacted]" || de.Backtrace[1] != "main" {
		t.Fatalf("the driver's error reached the caller as %#v (%v)", de, err)
	}

	// A call the supervisor fails with the driver's words.
	tc.sup.mu.Lock()
	tc.sup.exec = func(context.Context, *proto.ExecRequest) (*proto.ExecResponse, error) {
		return nil, errkind.Wrap(errkind.Unavailable, nil, "driver said %s", secret)
	}
	tc.sup.mu.Unlock()
	_, err = c.Execute(ctx, call.Request{Target: call.Target{ModuleID: "m1"}, Function: "power", Caller: admin})
	if err == nil || strings.Contains(err.Error(), secret) || !errors.Is(err, errkind.Unavailable) {
		t.Fatalf("a supervisor failure: %v", err)
	}
}

// sealedCore is a core over a store sealed with k holding yaml, after its first pass; setup sets
// the fake supervisor's behaviour before it.
func sealedCore(t *testing.T, k *model.Keyring, yaml string, setup func(*fakeSup)) *testCore {
	t.Helper()
	tc := &testCore{store: model.NewMemoryWithKeys(k), sup: &fakeSup{}, state: newFakeState()}
	apply(t, tc.store, yaml)
	setup(tc.sup)
	c, err := New(Config{NodeID: "n1", Store: tc.store, State: tc.state, Secrets: k, Logger: hclog.NewNullLogger()},
		func(proto.HostServer, func(context.Context, string)) (Supervisor, error) { return tc.sup, nil })
	if err != nil {
		t.Fatal(err)
	}
	tc.Core = c
	c.reconcile(t.Context())
	return tc
}
