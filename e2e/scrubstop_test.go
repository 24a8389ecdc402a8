package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// lockPassword is the admin-level protected value of TestStoppingModuleKeepsItsSecrets.
const lockPassword = "731946-lock-pw"

// TestStoppingModuleKeepsItsSecrets (red team 12, finding 1): while support stops a module, a
// user's executes of it in flight — over REST through the node that forwards them, over the
// WebSocket on the node that runs it — fail after the stop quoting its admin-level password, and
// get only the fixed hidden message; its driver's OnUnload logs the password, and support's debug
// stream (through the forwarding node) and the engine's log show it hidden. The module's driver
// process keeps running for a second module, as in production.
func TestStoppingModuleKeepsItsSecrets(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t), "--secrets-key-file", enginetest.SecretsKeyFile(t))
	cfg.APIKey = adminKey
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.NewCluster(t, cfg, "scrubstop", 2)
	c.Nodes[0].Flags = []string{"--labels", "site=a"}
	c.Nodes[1].Flags = []string{"--labels", "site=b"}
	c.Start(fmt.Sprintf(`
drivers: [{id: drv-t, module_name: Test, role: device, binary: %q}]
modules:
  - {id: mod-keep, driver_id: drv-t, running: true, placement: {site: a}}
  - {id: mod-lock, driver_id: drv-t, running: true, placement: {site: a}}
systems: [{id: sys-1, name: Room, modules: [mod-keep, mod-lock]}]
`, drv), 2)
	host, fwd := c.Nodes[0], c.Nodes[1]
	lock := fmt.Sprintf(`{"id": "mod-lock", "driver_id": "drv-t", "running": true, "placement": {"site": "a"},
		"settings": {"log_on_stop": true, "hold_until_stop": "refuse"},
		"protected_settings": [{"level": "admin", "settings": {"password": %q}}]}`, lockPassword)
	if r := host.Do("PUT", "/api/engine/v2/modules/mod-lock", lock, enginetest.APIKey(adminKey)); r.Status != 200 {
		t.Fatalf("PUT the module as admin: %d %s", r.Status, r.Body)
	}
	host.Eventually(30*time.Second, "the module runs with its password", func() bool {
		r := host.Do("POST", "/api/engine/v2/modules/mod-lock/exec/settings", "[]", enginetest.APIKey(adminKey))
		return r.Status == 200 && strings.Contains(r.Body, lockPassword)
	})

	dbg := dialWS(t, fwd, supportKey)
	if code := dbg.request(1, `{"id": 1, "cmd": "debug", "sys": "sys-1", "mod": "Test", "index": 2, "name": "debug"}`); code != 200 {
		t.Fatalf("debug as support through %s: %d", fwd.ID, code)
	}
	host.Eventually(10*time.Second, "debug on in the module's driver", func() bool {
		r := host.Do("POST", "/api/engine/v2/modules/mod-lock/exec/log", `["probe"]`, enginetest.APIKey(adminKey))
		return r.Status == 200 && strings.TrimSpace(r.Body) == "true"
	})

	// The user's two calls, held by the driver until the module stops.
	rest := make(chan enginetest.Response, 1)
	go func() {
		r, err := fwd.Try("POST", "/api/engine/v2/modules/mod-lock/exec/refuse", `["x"]`, enginetest.APIKey(userKey))
		if err != nil {
			r.Body = err.Error()
		}
		rest <- r
	}()
	ws := dialWS(t, host, userKey)
	if err := ws.conn.WriteMessage(websocket.TextMessage,
		[]byte(`{"id": 7, "cmd": "exec", "sys": "sys-1", "mod": "Test", "index": 2, "name": "refuse", "args": ["x"]}`)); err != nil {
		t.Fatal(err)
	}
	host.Eventually(10*time.Second, "both calls held by the driver", func() bool {
		return strings.Count(host.Logs().String(), "call waits for the module's stop") == 2
	})
	if r := fwd.Do("POST", "/api/engine/v2/modules/mod-lock/stop", "", enginetest.APIKey(supportKey)); r.Status != 200 {
		t.Fatalf("stop as support: %d %s", r.Status, r.Body)
	}

	if r := <-rest; r.Status != 400 || !strings.Contains(r.Body, `"message":"`+hiddenWords+` (ArgumentError)"`) || strings.Contains(r.Body, lockPassword) {
		t.Errorf("the user's REST call through %s, failing after the stop: %d %s", fwd.ID, r.Status, r.Body)
	}
	// The WebSocket's reply comes before any other message with its id.
	if err := ws.conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := ws.conn.ReadMessage()
		if err != nil {
			t.Fatalf("no reply to the user's WebSocket call: %v", err)
		}
		var m wsReply
		if json.Unmarshal(data, &m) != nil || m.ID != 7 {
			continue
		}
		if m.Type != "error" || m.Msg != hiddenWords+" (ArgumentError)" {
			t.Errorf("the user's WebSocket call, failing after the stop: %s", data)
		}
		break
	}

	const unload = "logging out of the device with settings "
	if err := dbg.conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := dbg.conn.ReadMessage()
		if err != nil {
			t.Fatalf("no OnUnload line in support's debug stream: %v", err)
		}
		var m struct{ Type, Msg string }
		if json.Unmarshal(data, &m) == nil && m.Type == "debug" && strings.HasPrefix(m.Msg, unload) {
			if strings.Contains(m.Msg, lockPassword) || !strings.Contains(m.Msg, `"password":"[redacted]"`) {
				t.Errorf("support's debug stream: %q", m.Msg)
			}
			break
		}
	}
	host.WaitLog(10*time.Second, unload)
	for _, n := range c.Nodes {
		if strings.Contains(n.Logs().String(), lockPassword) {
			t.Errorf("%s's log holds the password", n.ID)
		}
	}
}
