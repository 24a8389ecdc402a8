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

// TestOneClearanceRuleThreeWaysIn: a REST execute, a WebSocket exec and a driver calling another
// module for the user all go through the engine's one execute path, so each applies the same
// clearance rule to the same function. Test_2's driver lists support_only under "support" and
// admin_only under "administrator"; echo is open. The driver-to-driver call is Test_1's call
// function, run by the user, calling Test_2.
func TestOneClearanceRuleThreeWaysIn(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	keys := apiKeysFile(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	model := fmt.Sprintf(`
drivers: [{id: drv-test, module_name: Test, role: device, binary: %q}]
modules:
  - {id: mod-a, driver_id: drv-test, running: true}
  - {id: mod-b, driver_id: drv-test, running: true}
systems: [{id: sys-1, name: Room, modules: [mod-a, mod-b]}]
`, drv)
	e := enginetest.StartEngine(t, config(redis.URL), "clearance", model, "--auth", "keys", "--api-keys", keys)

	roles := []struct {
		name, key string
		allowed   map[string]bool
	}{
		{"user", userKey, map[string]bool{"echo": true}},
		{"support", supportKey, map[string]bool{"echo": true, "support_only": true}},
		{"admin", adminKey, map[string]bool{"echo": true, "support_only": true, "admin_only": true}},
	}
	for _, role := range roles {
		t.Run(role.name, func(t *testing.T) {
			t.Parallel()
			ws := dialWS(t, e, role.key)
			id := 0
			for _, fn := range []string{"echo", "support_only", "admin_only"} {
				want := 403
				if role.allowed[fn] {
					want = 200
				}
				rest := e.Do("POST", "/api/engine/v2/systems/sys-1/Test_2/"+fn, "[]", enginetest.APIKey(role.key))
				id++
				wsCode := ws.exec(id, "Test", 2, fn, "[]")
				d2d := e.Do("POST", "/api/engine/v2/systems/sys-1/Test_1/call", fmt.Sprintf(`["mod-b", %q, []]`, fn), enginetest.APIKey(role.key))
				if rest.Status != want || wsCode != want || d2d.Status != want {
					t.Errorf("%s calling %s: REST %d, WebSocket %d, driver-to-driver %d; want %d everywhere\nREST %s\ndriver-to-driver %s",
						role.name, fn, rest.Status, wsCode, d2d.Status, want, rest.Body, d2d.Body)
				}
				if want == 403 && (!strings.Contains(rest.Body, "attempted to access privileged function "+fn) ||
					!strings.Contains(d2d.Body, "attempted to access privileged function "+fn)) {
					t.Errorf("%s calling %s: refusals do not name the function: %s / %s", role.name, fn, rest.Body, d2d.Body)
				}
			}
		})
	}
}

// wsSession is a WebSocket client that reads only the replies it waits for.
type wsSession struct {
	t    *testing.T
	conn *websocket.Conn
}

func dialWS(t *testing.T, e *enginetest.Node, key string) *wsSession {
	t.Helper()
	url := "ws" + strings.TrimPrefix(e.Base, "http") + "/api/engine/v2/systems/control?api-key=" + key
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &wsSession{t: t, conn: conn}
}

// exec runs fn on mod_index and returns the reply's code (200 on success).
func (s *wsSession) exec(id int, mod string, index int, fn, args string) int {
	s.t.Helper()
	req := fmt.Sprintf(`{"id": %d, "cmd": "exec", "sys": "sys-1", "mod": %q, "index": %d, "name": %q, "args": %s}`, id, mod, index, fn, args)
	if err := s.conn.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		s.t.Fatal(err)
	}
	if err := s.conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		s.t.Fatal(err)
	}
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			s.t.Fatal(err)
		}
		var m struct {
			ID   int    `json:"id"`
			Type string `json:"type"`
			Code int    `json:"code"`
		}
		if string(data) == "pong" || json.Unmarshal(data, &m) != nil || m.ID != id {
			continue
		}
		if m.Type == "success" {
			return 200
		}
		return m.Code
	}
}
