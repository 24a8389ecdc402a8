package core

import (
	"testing"

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
