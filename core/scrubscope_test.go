package core

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestScrubAnyModuleFollowsTheValues: a line scrubbed with every module's values (how the
// supervisor scrubs driver log and debug lines, whatever module they name) hides a value the
// moment a module has it — a new module's, a changed one — though the index of every value was
// built before; a value a module no longer has stays hidden while its driver may still quote it
// and is forgotten with it.
func TestScrubAnyModuleFollowsTheValues(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	tc := sealedCore(t, k, `
drivers: [{id: drv-d, module_name: Gate, role: device, binary: /bin/d}]
modules: [{id: m1, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {pin: alpha-secret}}]}]
`, func(*fakeSup) {})
	ctx := t.Context()
	const line = "alpha-secret beta-secret delta-secret"
	if got := tc.Scrub("", line); got != "[redacted] beta-secret delta-secret" {
		t.Fatalf("with m1's pin: %q", got)
	}
	// The line names m1, but m2's value is hidden too, and a module named by nobody has them all.
	apply(t, tc.store, `modules: [{id: m2, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {pin: beta-secret}}]}]`)
	tc.reconcile(ctx)
	if got := tc.Scrub("", line); got != "[redacted] [redacted] delta-secret" {
		t.Errorf("once m2 has its pin: %q", got)
	}
	apply(t, tc.store, `modules: [{id: m1, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {pin: delta-secret}}]}]`)
	tc.reconcile(ctx)
	if got := tc.Scrub("", line); got != "[redacted] [redacted] [redacted]" {
		t.Errorf("once m1's pin changed (the old one still quoted by its driver): %q", got)
	}
	if _, again := tc.checkLeft("m1", leftGen(t, tc.Core, "m1"), false); again {
		t.Fatal("m1's old pin kept with no execute of it")
	}
	if got := tc.Scrub("", line); got != "alpha-secret [redacted] [redacted]" {
		t.Errorf("once m1's old pin is forgotten: %q", got)
	}
}

// TestStartFailureHidesEveryModulesValues: a driver process holds the values of all its modules,
// and a start that fails for one of them can quote another's (one connection shared by both: the
// second module's login refused while the first one starts). Its failure was scrubbed of the
// starting module's own values only, and m1 has none: m2's password went, in m1's failure, to
// every user's module read and node status and to the node's log. A failed start, update or move
// is scrubbed of every value the node knows, as the driver's log lines are; nobody's arguments
// shape it, so that is no oracle (an execute's error, which its caller's arguments can steer,
// keeps to its own module's values: scrub.go).
func TestStartFailureHidesEveryModulesValues(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	const secret = "m2-password-7731"
	tc := sealedCore(t, k, `
drivers: [{id: drv-d, module_name: Gate, role: device, binary: /bin/d}]
modules:
  - {id: m2, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {password: "`+secret+`"}}]}
`, func(*fakeSup) {})
	tc.sup.mu.Lock()
	tc.sup.startErr = map[string]error{"m1": errors.New("gateway refused login with password " + secret)}
	tc.sup.mu.Unlock()
	apply(t, tc.store, `modules: [{id: m1, driver_id: drv-d, running: true}]`)
	tc.reconcile(t.Context())
	rec := tc.state.errs["m1"].Error
	if strings.Contains(rec, secret) || !strings.Contains(rec, "password [redacted]") {
		t.Fatalf("m1's recorded start failure: %q", rec)
	}
	st, err := tc.NodeStatus(auth.WithCaller(t.Context(), auth.Caller{UserID: "u", Clearance: auth.ClearanceUser}))
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := json.Marshal(st); strings.Contains(string(doc), secret) {
		t.Fatalf("a user's node status: %s", doc)
	}
	if got := tc.Scrub("m1", "as m1: "+secret); strings.Contains(got, secret) {
		t.Fatalf("a supervisor's line about m1 (its start failure, logged): %q", got)
	}
}

// TestScrubOwnAndEveryValueInOnePass: a module's own value inside another module's longer one
// ("pass-1234" in "xpass-1234y") is hidden with it in one pass, longest first: hidden first on
// its own, it left the longer value's ends in clear ("x[redacted]y").
func TestScrubOwnAndEveryValueInOnePass(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	tc := sealedCore(t, k, `
drivers: [{id: drv-d, module_name: Gate, role: device, binary: /bin/d}]
modules:
  - {id: m1, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {pin: pass-1234}}]}
  - {id: m2, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {pin: xpass-1234y}}]}
`, func(*fakeSup) {})
	if got := tc.Scrub("m1", "as m1: xpass-1234y and pass-1234"); got != "as m1: [redacted] and [redacted]" {
		t.Fatalf("scrubbed: %q", got)
	}
}
