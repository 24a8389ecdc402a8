package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

const (
	userKey    = "user-key-0123456789abcdef"
	supportKey = "support-key-0123456789abcdef"
	adminKey   = "admin-key-0123456789abcdef"
)

// apiKeysFile writes an --api-keys file with userKey (ursula), supportKey (sam) and adminKey (ada).
func apiKeysFile(t *testing.T) string {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(keys, []byte(fmt.Sprintf(`
- {key: %q, user_id: ursula, role: user}
- {key: %q, user_id: sam, role: support}
- {key: %q, user_id: ada, role: admin}
`, userKey, supportKey, adminKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	return keys
}

// securedDemo runs the display driver against a simulator on a node with --auth keys.
func securedDemo(t *testing.T) *enginetest.Node {
	t.Helper()
	redis := testutil.StartRedis(t)
	sim := startDisplaySim(t)
	keys := apiKeysFile(t)
	display := testutil.BuildBinary(t, "./examples/drivers/display")
	model := fmt.Sprintf(`
drivers: [{id: drv-display, module_name: Display, role: device, binary: %q}]
modules: [{id: mod-display, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true}]
systems: [{id: sys-1, name: Lobby, modules: [mod-display]}]
`, display, sim.Port())
	return enginetest.StartEngine(t, config(redis.URL), "secure", model, "--auth", "keys", "--api-keys", keys)
}

// The clearance matrix through REST, against a real driver's metadata.
func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	e := securedDemo(t)
	e.Eventually(10*time.Second, "display connected", func() bool {
		return e.Do("GET", "/api/engine/v2/systems/sys-1/Display_1/connected", "", enginetest.APIKey(userKey)).Body == "true"
	})
	sys := "/api/engine/v2/systems/sys-1/Display_1"
	tests := []struct {
		name, key, method, path, body string
		status                        int
	}{
		{"no credentials", "", "POST", sys + "/power", "[true]", 401},
		{"bad key", "nope-nope-nope-nope", "POST", sys + "/power", "[true]", 401},
		{"user runs an open function", userKey, "POST", sys + "/power", "[true]", 200},
		{"user runs a support function", userKey, "POST", sys + "/reboot", "[]", 403},
		{"support runs it", supportKey, "POST", sys + "/reboot", "[]", 200},
		{"user writes the model", userKey, "PUT", "/api/engine/v2/zones/z1", `{"id": "z1", "name": "Z"}`, 403},
		{"admin writes the model", adminKey, "PUT", "/api/engine/v2/zones/z1", `{"id": "z1", "name": "Z"}`, 200},
		{"user kills a driver", userKey, "POST", "/api/core/v1/chaos/terminate?path=x", "", 403},
		{"node routes are not on the client port", adminKey, "POST", "/api/core/v1/cluster/apply", "{}", 404},
		{"liveness stays open", "", "GET", "/", "", 200},
		{"authority stays open", "", "GET", "/auth/authority", "", 200},
	}
	for _, tt := range tests {
		if r := e.Do(tt.method, tt.path, tt.body, enginetest.APIKey(tt.key)); r.Status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.name, r.Status, r.Body, tt.status)
		}
	}
	// The function listing hides what the caller may not call.
	user := e.Do("GET", "/api/engine/v2/systems/sys-1/functions/Display_1", "", enginetest.APIKey(userKey)).Body
	support := e.Do("GET", "/api/engine/v2/systems/sys-1/functions/Display_1", "", enginetest.APIKey(supportKey)).Body
	if strings.Contains(user, "reboot") || !strings.Contains(support, "reboot") || !strings.Contains(user, "power") {
		t.Fatalf("function listing: user sees %s; support sees %s", user, support)
	}
	if r := e.Do("GET", "/auth/authority", ""); !strings.Contains(r.Body, `"version":"2.`) {
		t.Fatalf("authority: %s", r.Body)
	}
}

// A PlaceOS front-end's WebSocket session against a real driver: bind, exec, notify, errors.
func TestWebSocketSession(t *testing.T) {
	t.Parallel()
	e := securedDemo(t)
	url := "ws" + strings.TrimPrefix(e.Base, "http") + "/api/engine/v2/systems/control?api-key=" + userKey
	if _, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.Base, "http")+"/api/engine/v2/systems/control", nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("WebSocket without credentials: %v %v", resp, err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	read := func() map[string]any {
		t.Helper()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if string(data) == "pong" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("reply %q: %v", data, err)
			}
			return m
		}
	}
	send := func(v string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	send("ping")
	if _, data, err := ws.ReadMessage(); err != nil || string(data) != "pong" {
		t.Fatalf("ping: %q %v", data, err)
	}
	send(`{"id": 1, "cmd": "bind", "sys": "sys-1", "mod": "Display", "index": 1, "name": "power"}`)
	if m := read(); m["type"] != "success" || m["id"] != float64(1) {
		t.Fatalf("bind: %v", m)
	}
	send(`{"id": 2, "cmd": "exec", "sys": "sys-1", "mod": "Display", "index": 1, "name": "power", "args": [true]}`)
	gotSuccess, gotNotify := false, false
	for !gotSuccess || !gotNotify {
		m := read()
		switch {
		case m["id"] == float64(2) && m["type"] == "success":
			gotSuccess = m["value"] == true
		case m["id"] == float64(1) && m["type"] == "notify" && m["value"] == true:
			gotNotify = true
		case m["type"] == "error":
			t.Fatalf("exec: %v", m)
		}
	}
	send(`{"id": 3, "cmd": "exec", "sys": "sys-1", "mod": "Display", "index": 1, "name": "reboot", "args": []}`)
	if m := read(); m["type"] != "error" || m["error_code"] != float64(2) || m["code"] != float64(403) {
		t.Fatalf("user exec of a support function: %v", m)
	}
	send(`{"id": 4, "cmd": "debug", "mod": "mod-display"}`)
	if m := read(); m["type"] != "error" || m["error_code"] != float64(2) {
		t.Fatalf("user debug: %v", m)
	}
	send(`{"id": 5, "cmd": "explode"}`)
	if m := read(); m["type"] != "error" || m["error_code"] != float64(4) {
		t.Fatalf("unknown command: %v", m)
	}
	send(`{"id": 6, "cmd": `)
	if m := read(); m["type"] != "error" || m["error_code"] != float64(0) {
		t.Fatalf("malformed request: %v", m)
	}
	send(`{"id": 7, "cmd": "exec", "sys": "sys-nope", "mod": "Display", "name": "power", "args": [true]}`)
	if m := read(); m["type"] != "error" || m["error_code"] != float64(5) {
		t.Fatalf("unknown system: %v", m)
	}
}
