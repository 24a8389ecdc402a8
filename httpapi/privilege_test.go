package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/model"
)

// TestStartStopNeedSupport: starting or stopping a module writes the model every node acts on, so
// it needs support or admin, as PlaceOS asks (docs/protocol.md §8.3); a user is refused before the
// engine is asked.
func TestStartStopNeedSupport(t *testing.T) {
	t.Parallel()
	for _, c := range []auth.Clearance{auth.ClearanceUser, auth.ClearanceSupport, auth.ClearanceAdmin} {
		hs := newHarness(t, as(c))
		for _, op := range []string{"start", "stop"} {
			code, body, _ := hs.do(t, http.MethodPost, base+"/modules/mod-1/"+op, "")
			want := http.StatusOK
			if c == auth.ClearanceUser {
				want = http.StatusForbidden
			}
			if code != want {
				t.Errorf("%s %s: %d %s, want %d", c, op, code, body, want)
			}
			if code == http.StatusForbidden && body != `{"error":"access_denied","message":"support clearance required, caller has user","module_id":"mod-1"}` {
				t.Errorf("%s %s: %s", c, op, body)
			}
		}
		hs.eng.mu.Lock()
		started, stopped := len(hs.eng.started), len(hs.eng.stopped)
		hs.eng.mu.Unlock()
		if c == auth.ClearanceUser && started+stopped != 0 {
			t.Fatalf("a user's start or stop reached the engine: %d, %d", started, stopped)
		}
		if c != auth.ClearanceUser && (started != 1 || stopped != 1) {
			t.Fatalf("%s: started %d, stopped %d", c, started, stopped)
		}
	}
}

// TestStateReadsTellTheCaller: every state route hands the engine the caller, who decides (one
// rule, in the core) whether a protected module may be read; a refusal is the engine's 403.
func TestStateReadsTellTheCaller(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, as(auth.ClearanceSupport))
	for _, p := range []string{"/systems/sys-1/Display_1", "/systems/sys-1/Display_1/power", "/modules/mod-1/state", "/modules/mod-1/state/power"} {
		if code, body, _ := hs.do(t, http.MethodGet, base+p, ""); code != 200 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
		if got := hs.eng.lastReader(t); got != (auth.Caller{UserID: "u-1", Clearance: auth.ClearanceSupport}) {
			t.Fatalf("%s: the engine was told %+v", p, got)
		}
	}
	// A system slug may start with "_" (a protected module's place).
	hs.eng.mu.Lock()
	hs.eng.systems["sys-1"]["_Logic/1"] = "mod-1"
	hs.eng.mu.Unlock()
	if code, body, _ := hs.do(t, http.MethodGet, base+"/systems/sys-1/_Logic_1/power", ""); code != 200 || !strings.Contains(body, "true") {
		t.Fatalf("_Logic_1: %d %s", code, body)
	}
}

// TestAdminWrites: every other write PlaceOS keeps for administrators — the model (each kind, and
// the whole file), pull, recompile, chaos — refuses user and support before anything is done.
func TestAdminWrites(t *testing.T) {
	t.Parallel()
	writes := []struct{ method, path, body string }{
		{http.MethodPost, base + "/zones", `{"id": "z-new", "name": "Z"}`},
		{http.MethodPut, base + "/zones/z-new", `{"id": "z-new", "name": "Z"}`},
		{http.MethodDelete, base + "/drivers/drv-1", ``},
		{http.MethodPut, base + "/model", `{"zones": [{"id": "z-new", "name": "Z"}]}`},
		{http.MethodPost, base + "/repositories/r/pull", ``},
		{http.MethodPost, base + "/drivers/drv-1/recompile", ``},
		{http.MethodPost, NodeBase + "/chaos/terminate?path=drv%2Fdisplay", ``},
	}
	for _, c := range []auth.Clearance{auth.ClearanceUser, auth.ClearanceSupport} {
		store := model.NewMemory()
		seed, err := model.ParseFile([]byte(fuzzModel))
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Apply(context.Background(), seed); err != nil {
			t.Fatal(err)
		}
		hs := newHarness(t, as(c), func(cfg *Config) { cfg.Models = fuzzModels{store} })
		for _, w := range writes {
			code, body, _ := hs.do(t, w.method, w.path, w.body)
			if code != http.StatusForbidden || !strings.Contains(body, "admin clearance required") {
				t.Errorf("%s: %s %s: %d %s, want 403", c, w.method, w.path, code, body)
			}
		}
		m, _ := store.Model()
		if m.Zones["z-new"] != nil || m.Drivers["drv-1"] == nil || len(hs.eng.killed) != 0 {
			t.Fatalf("%s: a refused write happened", c)
		}
	}
}
