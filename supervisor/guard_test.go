package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

const refusedMsg = "driver process acted as a module it does not host: refused"

// raised runs fn on mod and returns the error the driver raised ("" if none).
func (f *fixture) raised(t *testing.T, mod, fn string, args ...any) string {
	t.Helper()
	resp, err := f.execErr(context.Background(), mod, fn, args...)
	if err != nil {
		t.Fatalf("exec %s.%s: %v", mod, fn, err)
	}
	if resp.Error == nil {
		return ""
	}
	return resp.Error.Message
}

// A hostile driver process naming another process's module (or one nobody runs) as the caller of
// its host calls is refused, on every host call that names a caller, before the call reaches the
// engine; one WARN per process and module says so. Its own modules' calls, and calls that
// merely target the other module, pass.
func TestHostCallsOnlyAsOwnModules(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.start(t, testModule("mod-victim", `{}`))
	hostile := copyBinary(t, f.binary)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.sup.Start(ctx, hostile, testModule("mod-evil", `{}`)); err != nil {
		t.Fatal(err)
	}
	f.exec(t, "mod-victim", "set", "power", "on")

	for _, victim := range []string{"mod-victim", "mod-nobody"} {
		for _, c := range []struct {
			fn   string
			args []any
		}{
			{"set", []any{"power", "forged"}},
			{"save", []any{"injected", map[string]int{"x": 1}}},
			{"log", []any{"forged line"}},
			{"publish", []any{"chan-1", "forged"}},
			{"get", []any{"mod-victim", "power"}},
			{"call", []any{"mod-victim", "echo", []any{"hi"}}},
			{"subscribe", []any{"mod-victim", "power", 1}},
			{"monitor", []any{"chan-1", 1}},
		} {
			msg := f.raised(t, "mod-evil", "as", victim, c.fn, c.args)
			if !strings.Contains(msg, "PermissionDenied") || !strings.Contains(msg, victim) {
				t.Errorf("%s as %s: raised %q, want a PermissionDenied naming the module", c.fn, victim, msg)
			}
		}
		got := f.exec(t, "mod-evil", "as", victim, "mux_subscribe", []any{"mod-victim", "power"})
		var ev struct {
			Accepted bool
			Code     int
			Class    string
		}
		if err := json.Unmarshal([]byte(got), &ev); err != nil || ev.Accepted || ev.Code != 403 || ev.Class != "AccessDenied" {
			t.Errorf("subscription on the stream as %s: %s, want refused 403 AccessDenied", victim, got)
		}
	}
	if v, _ := f.host.statusOf("mod-victim", "power"); v != `"on"` {
		t.Errorf("victim's status = %s, want \"on\"", v)
	}
	f.host.mu.Lock()
	saved, injected := f.host.settings["mod-victim/injected"]
	f.host.mu.Unlock()
	if injected {
		t.Errorf("setting saved into the victim: %s", saved)
	}
	for _, victim := range []string{"mod-victim", "mod-nobody"} {
		n := 0
		for _, e := range findLogs(f.logs, refusedMsg) {
			if e["module"] == victim && e["driver"] == hostile {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d refusal WARNs for %s, want 1 (once per process and module)", n, victim)
		}
	}

	// Its own module, targeting the victim: allowed.
	f.exec(t, "mod-evil", "set", "power", "mine")
	if got := f.exec(t, "mod-evil", "get", "mod-victim", "power"); got != `"on"` {
		t.Errorf("own module reading the victim: %s", got)
	}
	if got := f.exec(t, "mod-evil", "call", "mod-victim", "echo", []any{"hi"}); got != `["hi"]` {
		t.Errorf("own module calling the victim: %s", got)
	}
	got := f.exec(t, "mod-evil", "mux_subscribe", "mod-victim", "power")
	if !strings.Contains(got, `"accepted":true`) {
		t.Errorf("own subscription on the stream: %s", got)
	}

	// A new module name on every call: refused each time, logged for maxWarned modules, then once.
	for i := range 2 * maxWarned {
		if msg := f.raised(t, "mod-evil", "as", fmt.Sprint("mod-ghost-", i), "set", []any{"x", 1}); !strings.Contains(msg, "PermissionDenied") {
			t.Fatalf("ghost %d: raised %q", i, msg)
		}
	}
	if n := len(findLogs(f.logs, refusedMsg)); n != maxWarned {
		t.Errorf("%d refusal WARNs for %d module names, want %d", n, 2*maxWarned+2, maxWarned)
	}
	if n := len(findLogs(f.logs, "driver process keeps acting as modules it does not host: further refusals are not logged")); n != 1 {
		t.Errorf("%d lines saying further refusals are not logged, want 1", n)
	}
}

// A module's status set during its Start (OnLoad) lands; once it stopped, a last status from its
// process is dropped without an error, and its other calls are refused without a WARN.
func TestHostCallsAroundStartAndStop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.start(t, testModule("mod-a", `{"statuses_on_start": {"connected": true}, "statuses_in_start": true}`))
	if v, _ := f.host.statusOf("mod-a", "connected"); v != "true" {
		t.Fatalf("status set during start: %q", v)
	}
	f.start(t, testModule("mod-b", `{}`))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.sup.Stop(ctx, "mod-b"); err != nil {
		t.Fatal(err)
	}
	if msg := f.raised(t, "mod-a", "as", "mod-b", "set", []any{"connected", false}); msg != "" {
		t.Errorf("last status of a stopped module: raised %q, want it dropped quietly", msg)
	}
	if _, ok := f.host.statusOf("mod-b", "connected"); ok {
		t.Error("the stopped module's status was written")
	}
	if msg := f.raised(t, "mod-a", "as", "mod-b", "save", []any{"x", 1}); !strings.Contains(msg, "no longer runs") {
		t.Errorf("save by a stopped module: raised %q", msg)
	}
	if n := len(findLogs(f.logs, refusedMsg)); n != 0 {
		t.Errorf("%d refusal WARNs for a module the process hosted", n)
	}

	// Started again in the same process: its own again.
	f.start(t, testModule("mod-b", `{}`))
	f.exec(t, "mod-b", "set", "connected", true)
	if v, _ := f.host.statusOf("mod-b", "connected"); v != "true" {
		t.Errorf("status of the module started again: %q", v)
	}
}
