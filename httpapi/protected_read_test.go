package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/model"
)

// protectedReadModel has a module of each kind of name: mod-a is "_Audit" by its custom name,
// mod-t "_Trigger" by its driver's module_name, mod-u runs that driver under the plain custom
// name "Trigger" (not protected), and mod-d is a plain Display. Each has a plain setting and is
// failing to start (the fake engine's failing), so its runtime fields have something to tell.
const protectedReadModel = `{
  "drivers": [
    {"id": "drv-d", "module_name": "Display", "role": "device", "binary": "/bin/display"},
    {"id": "drv-t", "module_name": "_Trigger", "role": "logic", "binary": "/bin/trigger", "settings": {"drv_key": "drv-value"}}],
  "modules": [
    {"id": "mod-a", "driver_id": "drv-d", "custom_name": "_Audit", "running": true, "settings": {"audit_room": "boardroom"}},
    {"id": "mod-t", "driver_id": "drv-t", "control_system_id": "sys-1", "running": true, "settings": {"trigger_at": 30}},
    {"id": "mod-u", "driver_id": "drv-t", "control_system_id": "sys-1", "custom_name": "Trigger", "running": true, "settings": {"trigger_at": 40}},
    {"id": "mod-d", "driver_id": "drv-d", "running": true, "settings": {"input": "hdmi"}}],
  "systems": [{"id": "sys-1", "name": "Room", "modules": ["mod-a", "mod-t", "mod-u", "mod-d"]}]
}`

// TestProtectedModuleReads: the management reads of a module — GET /modules/{id}, each item of
// GET /modules, GET /modules/{id}/settings and GET /model — show a caller below support a
// protected module's existence, name and setting keys, but none of its state (the runtime
// fields: connected, the driver's words of a failed start) nor its settings' values
// (docs/protocol.md §8.3, §9.5). Support and admin read everything; a custom name decides, both
// ways (mod-u runs the protected driver under a plain name).
func TestProtectedModuleReads(t *testing.T) {
	t.Parallel()
	want := map[string]bool{"mod-a": true, "mod-t": true, "mod-u": false, "mod-d": false} // protected
	values := map[string]string{"mod-a": `"boardroom"`, "mod-t": `30`, "mod-u": `40`, "mod-d": `"hdmi"`}
	key := map[string]string{"mod-a": "audit_room", "mod-t": "trigger_at", "mod-u": "trigger_at", "mod-d": "input"}
	for _, c := range []auth.Clearance{auth.ClearanceUser, auth.ClearanceSupport, auth.ClearanceAdmin} {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			store := model.NewMemory()
			f, err := model.ParseFile([]byte(protectedReadModel))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Apply(context.Background(), f); err != nil {
				t.Fatal(err)
			}
			hs := newHarness(t, as(c), func(cfg *Config) { cfg.Models = fuzzModels{store} })
			hs.eng.mu.Lock()
			hs.eng.failing = map[string]int64{"mod-a": 1_700_000_000, "mod-t": 1_700_000_000, "mod-u": 1_700_000_000, "mod-d": 1_700_000_000}
			hs.eng.mu.Unlock()

			get := func(path string) string {
				t.Helper()
				code, body, _ := hs.do(t, http.MethodGet, base+path, "")
				if code != 200 {
					t.Fatalf("GET %s: %d %s", path, code, body)
				}
				return body
			}
			var list []map[string]json.RawMessage
			if err := json.Unmarshal([]byte(get("/modules?limit=100")), &list); err != nil {
				t.Fatal(err)
			}
			items := map[string]map[string]json.RawMessage{}
			for _, it := range list {
				var id string
				_ = json.Unmarshal(it["id"], &id)
				items[id] = it
			}
			var whole model.File
			if err := json.Unmarshal([]byte(get("/model")), &whole); err != nil {
				t.Fatal(err)
			}
			inModel := map[string]*model.Module{}
			for _, m := range whole.Modules {
				inModel[m.ID] = m
			}
			for id, protected := range want {
				hidden := protected && c < auth.ClearanceSupport
				var one map[string]json.RawMessage
				if err := json.Unmarshal([]byte(get("/modules/"+id)), &one); err != nil {
					t.Fatal(err)
				}
				for how, read := range map[string]map[string]json.RawMessage{"GET /modules/" + id: one, "GET /modules, item " + id: items[id]} {
					if read == nil {
						t.Fatalf("%s: %s is not listed (a protected module's existence is not hidden)", c, how)
					}
					for _, field := range []string{"core_node", "connected", "has_runtime_error", "error_timestamp", "driver_not_built", "runtime_error"} {
						if _, has := read[field]; has == hidden {
							t.Errorf("%s: %s: runtime field %s present %v; want %v", c, how, field, has, !hidden)
						}
					}
					var settings map[string]json.RawMessage
					_ = json.Unmarshal(read["settings"], &settings)
					wantValue := values[id]
					if hidden {
						wantValue = `"[redacted]"`
					}
					if got := string(settings[key[id]]); got != wantValue {
						t.Errorf("%s: %s: setting %s = %s; want %s", c, how, key[id], got, wantValue)
					}
				}
				wantValue := values[id]
				if hidden {
					wantValue = `"[redacted]"`
				}
				if got := string(inModel[id].Settings[key[id]]); got != wantValue {
					t.Errorf("%s: GET /model: %s's %s = %s; want %s", c, id, key[id], got, wantValue)
				}
				// The settings objects: the module's own level, then its system's, then its driver's
				// (the driver's are the driver's: readable by every reader of the driver).
				body := get("/modules/" + id + "/settings")
				if strings.Contains(body, key[id]) == false {
					t.Errorf("%s: GET /modules/%s/settings does not list the key %s: %s", c, id, key[id], body)
				}
				leaked := strings.Contains(body, strings.ReplaceAll(values[id], `"`, `\"`)+"}")
				if leaked == hidden {
					t.Errorf("%s: GET /modules/%s/settings shows the value %s: %v; want %v: %s", c, id, values[id], leaked, !hidden, body)
				}
			}
		})
	}
}
