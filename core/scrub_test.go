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
	if !errors.As(err, &de) || de.Class != "AuthError" || de.Code != 401 || de.Message != "device refused password [redacted]" ||
		de.Backtrace[0] != "login([redacted])" || de.Backtrace[1] != "main" {
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
	return sealedCoreWith(t, Config{}, k, yaml, setup)
}

// sealedCoreWith is sealedCore with the settings of cfg that are not the test's own.
func sealedCoreWith(t *testing.T, cfg Config, k *model.Keyring, yaml string, setup func(*fakeSup)) *testCore {
	t.Helper()
	tc := &testCore{store: model.NewMemoryWithKeys(k), sup: &fakeSup{}, state: newFakeState()}
	apply(t, tc.store, yaml)
	setup(tc.sup)
	cfg.NodeID, cfg.Store, cfg.State, cfg.Secrets, cfg.Logger = "n1", tc.store, tc.state, k, hclog.NewNullLogger()
	c, err := New(cfg, func(proto.HostServer, func(context.Context, string)) (Supervisor, error) { return tc.sup, nil })
	if err != nil {
		t.Fatal(err)
	}
	tc.Core = c
	c.reconcile(t.Context())
	return tc
}

// TestEncodedSecretsAreScrubbed: a protected API key quoted URL-encoded (Go's HTTP client quotes
// the whole URL in its errors) or upper-cased (a device protocol) is hidden in a failed start
// (module reads), in the module's debug and log lines, in a line naming no module; an execute's
// error is hidden whole from a user (callError).
func TestEncodedSecretsAreScrubbed(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	const key = `Kx9/Tq+7 z&W!`
	const dial = `Get "http://10.0.0.5/status?key=Kx9%2FTq%2B7+z%26W%21": dial tcp 10.0.0.5:80: connection refused`
	tc := sealedCore(t, k, `
drivers: [{id: drv-d, module_name: Api, role: device, binary: /bin/d}]
modules:
  - {id: m1, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {api_key: "`+key+`"}}]}
  - {id: m2, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {api_key: "`+key+`"}}]}
`, func(sup *fakeSup) {
		sup.startErr = map[string]error{"m2": errors.New("OnLoad: " + dial)}
		sup.meta = `{"functions": {"fetch": {"path": ["string", "status"]}}}`
		sup.exec = func(context.Context, *proto.ExecRequest) (*proto.ExecResponse, error) {
			return &proto.ExecResponse{Code: 500, Error: &proto.ExecError{Class: "Error", Message: dial}}, nil
		}
	})
	if rec := tc.state.errs["m2"].Error; rec != `OnLoad: Get "http://10.0.0.5/status?key=[redacted]": dial tcp 10.0.0.5:80: connection refused` {
		t.Errorf("recorded start failure %q", rec)
	}
	for mod, line := range map[string]string{
		"m1": `fetching /keys/Kx9%2FTq+7%20z&W%21/state`, // url.PathEscape
		"":   `SEND KEY KX9/TQ+7 Z&W! ERR`,               // no module named; upper-cased by the device
	} {
		if got := tc.Scrub(mod, line); strings.Contains(strings.ToLower(got), "kx9") || !strings.Contains(got, "[redacted]") {
			t.Errorf("a line of module %q scrubbed to %q", mod, got)
		}
	}
	_, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: "m1"}, Function: "fetch", Args: json.RawMessage(`[]`),
		Caller: auth.Caller{UserID: "u", Clearance: auth.ClearanceUser}})
	var de *errkind.DriverError
	if !errors.As(err, &de) || de.Message != hiddenMessage {
		t.Errorf("an execute's error quoting the key URL-encoded, to a user: %v", err)
	}
}
