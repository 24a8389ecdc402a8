package core

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/raftfsm"
)

// TestLeavingModuleKeepsItsSecrets: a module that leaves this node — stopped, or deleted — keeps
// its protected values hidden while its driver still speaks of it (red team 12, finding 1). An
// execute in flight that fails after the stop quoting the admin-level password reaches a user
// only as the fixed hidden message and an admin with the value hidden, and the OnUnload's log line
// quoting it is hidden in the engine's log and in a debug stream. A real testdriver process,
// kept alive by a module that stays.
func TestLeavingModuleKeepsItsSecrets(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	const pw = "731946-pw"
	var logs testutil.LockedBuffer
	rc := newSealedRealCore(t, k, `
drivers:
  - {id: drv-t, module_name: Test, role: service, binary: %[1]q}
modules:
  - {id: m-keep, driver_id: drv-t, running: true}
  - {id: m-stop, driver_id: drv-t, running: true, settings: {log_on_stop: true, hold_until_stop: refuse},
     protected_settings: [{level: admin, settings: {password: "`+pw+`"}}]}
  - {id: m-del, driver_id: drv-t, running: true, settings: {log_on_stop: true, hold_until_stop: refuse},
     protected_settings: [{level: admin, settings: {password: "`+pw+`"}}]}
`, &logs)
	ctx := t.Context()
	for _, id := range []string{"m-keep", "m-stop", "m-del"} {
		testutil.Eventually(t, 15*time.Second, id+" started", func() bool { return rc.started(id) })
	}
	for id, leave := range map[string]func() error{
		"m-stop": func() error { return rc.store.SetRunning(ctx, "m-stop", false) },
		"m-del":  func() error { return rc.store.Delete(ctx, model.KindModule, "m-del") },
	} {
		leaveWhileCalled(t, rc, &logs, id, pw, leave)
	}
	if strings.Contains(logs.String(), pw) {
		t.Fatalf("the engine's log holds the password:\n%s", logs.Tail(4000))
	}
}

// leaveWhileCalled makes module id leave (leave) while a user's and an admin's call of it are
// held by its driver until its stop, and checks what each caller, the engine's log and a debug
// stream of it see.
func leaveWhileCalled(t *testing.T, rc *realCore, logs *testutil.LockedBuffer, id, pw string, leave func() error) {
	t.Helper()
	ctx := t.Context()
	var mu sync.Mutex
	var debug []string
	cancel, err := rc.Debug(ctx, id, func(_, msg string) {
		mu.Lock()
		debug = append(debug, msg)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	admin := auth.Caller{UserID: "root", Clearance: auth.ClearanceAdmin}
	user := auth.Caller{UserID: "alice", Clearance: auth.ClearanceUser}
	exec := func(c auth.Caller, fn, args string) (call.Result, error) {
		return rc.Execute(ctx, call.Request{Target: call.Target{ModuleID: id}, Function: fn, Args: json.RawMessage(args), Caller: c})
	}
	testutil.Eventually(t, 5*time.Second, id+"'s debug on in its driver", func() bool {
		res, err := exec(admin, "log", `["probe"]`)
		return err == nil && string(res.Value) == "true"
	})

	errs := map[auth.Clearance]chan error{}
	for _, c := range []auth.Caller{user, admin} {
		ch := make(chan error, 1)
		errs[c.Clearance] = ch
		go func() {
			_, err := exec(c, "refuse", `["x"]`)
			ch <- err
		}()
	}
	testutil.Eventually(t, 10*time.Second, "both calls of "+id+" held by its driver", func() bool {
		n := 0
		for _, e := range logs.Entries("module", id) {
			if e["@message"] == "call waits for the module's stop" {
				n++
			}
		}
		return n == 2
	})
	if err := leave(); err != nil {
		t.Fatal(err)
	}

	for c, want := range map[auth.Clearance]string{auth.ClearanceUser: hiddenMessage, auth.ClearanceAdmin: "[redacted]"} {
		var err error
		select {
		case err = <-errs[c]:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s's call of %s did not end", c, id)
		}
		var de *errkind.DriverError
		if !errors.As(err, &de) || de.Class != "ArgumentError" || strings.Contains(de.Message, pw) || !strings.Contains(de.Message, want) ||
			strings.Contains(strings.Join(de.Backtrace, " "), pw) {
			t.Errorf("%s's call of %s, failing after its stop: %v (%#v); want the driver's error with %q", c, id, err, de, want)
		}
	}
	if rc.started(id) {
		t.Fatalf("%s runs after it left", id)
	}

	const unload = "logging out of the device with settings "
	testutil.Eventually(t, 10*time.Second, id+"'s OnUnload line in the engine's log and its debug stream", func() bool {
		mu.Lock()
		defer mu.Unlock()
		inDebug := false
		for _, l := range debug {
			inDebug = inDebug || strings.HasPrefix(l, unload)
		}
		inLog := false
		for _, e := range logs.Entries("module", id) {
			msg, _ := e["@message"].(string)
			inLog = inLog || strings.HasPrefix(msg, unload)
		}
		return inDebug && inLog
	})
	mu.Lock()
	defer mu.Unlock()
	for _, l := range debug {
		if strings.HasPrefix(l, unload) && (strings.Contains(l, pw) || !strings.Contains(l, "[redacted]")) {
			t.Errorf("%s's debug stream: %q", id, l)
		}
	}
	for _, e := range logs.Entries("module", id) {
		if msg, _ := e["@message"].(string); strings.HasPrefix(msg, unload) && (strings.Contains(msg, pw) || !strings.Contains(msg, "[redacted]")) {
			t.Errorf("%s's OnUnload in the engine's log: %q", id, msg)
		}
	}
}

// TestUnknownModuleFailsClosed: the driver's words about a module this node does not know (it
// left long ago, or never ran here) reach only an admin, with the values of every module this
// node knows hidden; a module that left keeps its values and level until they are forgotten,
// also when a module of the same id comes back with others meanwhile, and they are not forgotten
// while an execute of it runs here.
func TestUnknownModuleFailsClosed(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	tc := sealedCore(t, k, `
drivers: [{id: drv-d, module_name: Gate, role: device, binary: /bin/d}]
modules:
  - {id: m1, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {pin: alpha-secret}}]}
  - {id: m2, driver_id: drv-d, running: true, protected_settings: [{level: support, settings: {pin: beta-secret}}]}
`, func(*fakeSup) {})
	ctx := t.Context()
	said := func() error {
		return &errkind.DriverError{Class: "AuthError", Code: 401, Message: "refused alpha-secret, beta-secret, gamma-secret"}
	}
	words := func(id string, c auth.Clearance) string {
		var de *errkind.DriverError
		if !errors.As(tc.callError(id, auth.Caller{UserID: "u", Clearance: c}, said()), &de) || de.Class != "AuthError" || de.Code != 401 {
			t.Fatalf("%s as %s: the driver's error lost its class or code", id, c)
		}
		return de.Message
	}
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	check("unknown module, user", words("gone", auth.ClearanceUser), hiddenMessage)
	check("unknown module, support", words("gone", auth.ClearanceSupport), hiddenMessage)
	check("unknown module, admin", words("gone", auth.ClearanceAdmin), "refused [redacted], [redacted], gamma-secret")
	check("a line of an unknown module", tc.Scrub("gone", "alpha-secret beta-secret"), "[redacted] [redacted]")

	// m1 leaves, and comes back with a support-level value of its own: both hidden, and its
	// words still only an admin's until what it left is forgotten.
	if err := tc.store.SetRunning(ctx, "m1", false); err != nil {
		t.Fatal(err)
	}
	tc.reconcile(ctx)
	check("m1 stopped, support", words("m1", auth.ClearanceSupport), hiddenMessage)
	check("m1 stopped, admin", words("m1", auth.ClearanceAdmin), "refused [redacted], beta-secret, gamma-secret")
	apply(t, tc.store, `modules: [{id: m1, driver_id: drv-d, running: true, protected_settings: [{level: support, settings: {pin: gamma-secret}}]}]`)
	tc.reconcile(ctx)
	if !tc.started("m1") {
		t.Fatal("m1 did not start again")
	}
	check("m1 back, support", words("m1", auth.ClearanceSupport), hiddenMessage)
	// Its old and new values hidden, and m2's too (every value the node knows, as its driver
	// may quote any of them).
	check("a line of m1 back", tc.Scrub("m1", "alpha-secret gamma-secret beta-secret"), "[redacted] [redacted] [redacted]")

	gen := leftGen(t, tc.Core, "m1")
	tc.calls.enter("m1", "r1", auth.Caller{UserID: "u"})
	if busy, again := tc.checkLeft("m1", gen, false); !busy || !again {
		t.Error("m1's old values forgotten while an execute of it runs")
	}
	tc.calls.leave("m1", "r1", auth.Caller{UserID: "u"})
	if busy, again := tc.checkLeft("m1", gen, true); busy || !again {
		t.Error("m1's old values forgotten at once after its last execute ended")
	}
	check("m1 back, its execute just ended, support", words("m1", auth.ClearanceSupport), hiddenMessage)
	if _, again := tc.checkLeft("m1", gen, false); again {
		t.Error("m1's old values kept after its executes ended")
	}
	check("m1 back, its old values forgotten, support", words("m1", auth.ClearanceSupport), "refused alpha-secret, beta-secret, [redacted]")
}

// TestChangedSecretStaysHidden: a module whose password changed keeps the old one hidden in its
// driver's lines as long as a module that left would (its driver ran on it until the update
// took), and only as long.
func TestChangedSecretStaysHidden(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	tc := sealedCore(t, k, `
drivers: [{id: drv-d, module_name: Gate, role: device, binary: /bin/d}]
modules: [{id: m1, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {pin: alpha-secret}}]}]
`, func(*fakeSup) {})
	ctx := t.Context()
	apply(t, tc.store, `modules: [{id: m1, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {pin: delta-secret}}]}]`)
	tc.reconcile(ctx)
	if got := tc.Scrub("m1", "alpha-secret delta-secret"); got != "[redacted] [redacted]" {
		t.Errorf("a line of m1 after its pin changed: %q", got)
	}
	gen := leftGen(t, tc.Core, "m1")
	if _, again := tc.checkLeft("m1", gen, false); again {
		t.Fatal("m1's old pin kept with no execute of it")
	}
	if got := tc.Scrub("m1", "alpha-secret delta-secret"); got != "alpha-secret [redacted]" {
		t.Errorf("a line of m1 once its old pin is forgotten: %q", got)
	}
}

// leftGen is the generation of what module id left behind on c.
func leftGen(t *testing.T, c *Core, id string) uint64 {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left[id] == nil {
		t.Fatalf("nothing kept of %s's values", id)
	}
	return c.left[id].gen
}

// TestMovedModuleKeepsItsSecrets: a module placed on another node (its node's labels no longer
// match its constraint) stops here, and the execute of it in flight here, failing after the stop
// quoting its admin-level PIN, reaches a user only as the fixed hidden message.
func TestMovedModuleKeepsItsSecrets(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	site := func(s string) placement.Labels { return placement.Labels{"site": s} }
	cl := &fakeCluster{epoch: 1, caughtUp: true, leader: true, nodes: []raftfsm.Node{
		{ID: "n1", RaftAddr: "n1:7000", Up: true, Labels: site("a")},
		{ID: "n2", RaftAddr: "n2:7000", Up: true, Labels: site("b")},
	}}
	held, release := make(chan struct{}), make(chan struct{})
	tc := sealedCoreWith(t, Config{Cluster: cl, Peers: &fakePeers{}}, k, `
drivers: [{id: drv-d, module_name: Gate, role: device, binary: /bin/d}]
modules: [{id: m1, driver_id: drv-d, running: true, placement: {site: a}, protected_settings: [{level: admin, settings: {pin: alpha-secret}}]}]
`, func(sup *fakeSup) {
		sup.meta = `{"functions": {"open": {}}}`
		sup.exec = func(context.Context, *proto.ExecRequest) (*proto.ExecResponse, error) {
			close(held)
			<-release
			return &proto.ExecResponse{Code: 401, Error: &proto.ExecError{Class: "AuthError", Message: "refused alpha-secret"}}, nil
		}
	})
	if !tc.started("m1") {
		t.Fatal("m1 did not start on n1")
	}
	errc := make(chan error, 1)
	go func() {
		_, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: "m1"}, Function: "open", Args: json.RawMessage(`[]`),
			Caller: auth.Caller{UserID: "alice", Clearance: auth.ClearanceUser}})
		errc <- err
	}()
	<-held
	cl.mu.Lock()
	cl.nodes[0].Labels, cl.nodes[1].Labels = site("b"), site("a")
	cl.epoch++
	cl.mu.Unlock()
	tc.reconcile(t.Context())
	if owner, _ := tc.Owner("m1"); owner != "n2" || tc.started("m1") {
		t.Fatalf("m1 owned by %q, started here %v; want it moved to n2", owner, tc.started("m1"))
	}
	close(release)
	var de *errkind.DriverError
	if err := <-errc; !errors.As(err, &de) || de.Message != hiddenMessage || de.Class != "AuthError" {
		t.Fatalf("the user's call of m1 in flight while it moved away: %v", err)
	}
}
