package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// clearanceEngine runs the test driver behind --auth keys: Test_1 (mod-a) and Test_2 (mod-b) in
// sys-1, a protected module _Logic_1 (mod-l: the same driver under a custom name starting with
// "_"), and mod-s, which only the start/stop rows touch.
func clearanceEngine(t *testing.T, name string, flags ...string) *enginetest.Node {
	t.Helper()
	redis := testutil.StartRedis(t)
	keys := apiKeysFile(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	model := fmt.Sprintf(`
drivers: [{id: drv-test, module_name: Test, role: device, binary: %q}]
modules:
  - {id: mod-a, driver_id: drv-test, running: true}
  - {id: mod-b, driver_id: drv-test, running: true}
  - {id: mod-l, driver_id: drv-test, custom_name: _Logic, running: true}
  - {id: mod-s, driver_id: drv-test, running: true}
systems: [{id: sys-1, name: Room, modules: [mod-a, mod-b, mod-l, mod-s]}]
`, drv)
	e := enginetest.StartEngine(t, config(redis.URL), name, model, append([]string{"--auth", "keys", "--api-keys", keys}, flags...)...)
	e.Eventually(20*time.Second, "the protected module answers", func() bool {
		return e.Do("POST", "/api/engine/v2/modules/mod-l/exec/echo", "[]", enginetest.APIKey(adminKey)).Status == 200
	})
	return e
}

// TestOneClearanceRuleThreeWaysIn: a REST execute, a WebSocket exec and a driver calling another
// module for the user all go through the engine's one execute path, so each applies the same
// clearance rule to the same function. Test_2's driver lists support_only under "support" and
// admin_only under "administrator"; echo is open. The driver-to-driver call is Test_1's call
// function, run by the user, calling Test_2.
func TestOneClearanceRuleThreeWaysIn(t *testing.T) {
	t.Parallel()
	e := clearanceEngine(t, "clearance")

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

// TestLeastPrivilege: what PlaceOS asks clearance for besides driver functions, for each role.
// Starting or stopping a module (a persistent model write) needs support. A protected module
// (_Logic_1: its resolved name starts with "_") needs support for everything — REST execute,
// state and function listing by system and by module id, a WebSocket exec and bind, and a driver
// calling it for the user (Test_1's call function, which names it by module id, so the core
// judges the name the model gives mod-l).
func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	e := clearanceEngine(t, "privilege")
	for _, role := range []struct {
		name, key string
		cleared   bool // support or above
	}{{"user", userKey, false}, {"support", supportKey, true}, {"admin", adminKey, true}} {
		t.Run(role.name, func(t *testing.T) {
			t.Parallel()
			want := 403
			if role.cleared {
				want = 200
			}
			key := enginetest.APIKey(role.key)
			// The protected module, every way in.
			rest := []struct{ method, path, body string }{
				{"POST", "/api/engine/v2/systems/sys-1/_Logic_1/echo", "[]"},
				{"POST", "/api/engine/v2/modules/mod-l/exec/echo", "[]"},
				{"GET", "/api/engine/v2/systems/sys-1/_Logic_1", ""},
				{"GET", "/api/engine/v2/systems/sys-1/_Logic_1/power", ""},
				{"GET", "/api/engine/v2/modules/mod-l/state", ""},
				{"GET", "/api/engine/v2/modules/mod-l/state/power", ""},
				{"GET", "/api/engine/v2/systems/sys-1/functions/_Logic_1", ""},
			}
			for _, r := range rest {
				got := e.Do(r.method, r.path, r.body, key)
				if got.Status != want {
					t.Errorf("%s %s %s: %d %s; want %d", role.name, r.method, r.path, got.Status, got.Body, want)
				}
				if want == 403 && !strings.Contains(got.Body, "attempted to access protected module _Logic") {
					t.Errorf("%s %s %s: the refusal does not name the module: %s", role.name, r.method, r.path, got.Body)
				}
			}
			ws := dialWS(t, e, role.key)
			if code := ws.exec(1, "_Logic", 1, "echo", "[]"); code != want {
				t.Errorf("%s: WebSocket exec of _Logic_1: %d; want %d", role.name, code, want)
			}
			if code := ws.request(2, `{"id": 2, "cmd": "bind", "sys": "sys-1", "mod": "_Logic", "index": 1, "name": "power"}`); code != want {
				t.Errorf("%s: WebSocket bind of _Logic_1: %d; want %d", role.name, code, want)
			}
			d2d := e.Do("POST", "/api/engine/v2/systems/sys-1/Test_1/call", `["mod-l", "echo", []]`, key)
			if d2d.Status != want {
				t.Errorf("%s: driver-to-driver call of the protected module: %d %s; want %d", role.name, d2d.Status, d2d.Body, want)
			}
			// A plain module next to it stays open to everyone.
			if r := e.Do("GET", "/api/engine/v2/modules/mod-a/state", "", key); r.Status != 200 {
				t.Errorf("%s: state of a plain module: %d %s", role.name, r.Status, r.Body)
			}
		})
	}
	// Start and stop: a user may not; support may (one role at a time: the module is shared).
	for _, op := range []string{"stop", "start"} {
		if r := e.Do("POST", "/api/engine/v2/modules/mod-s/"+op, "", enginetest.APIKey(userKey)); r.Status != 403 ||
			!strings.Contains(r.Body, "support clearance required") {
			t.Errorf("user %s: %d %s; want 403", op, r.Status, r.Body)
		}
	}
	if r := e.Do("POST", "/api/engine/v2/modules/mod-s/exec/echo", "[]", enginetest.APIKey(userKey)); r.Status != 200 {
		t.Fatalf("a user's refused stop stopped the module: %d %s", r.Status, r.Body)
	}
	for _, op := range []string{"stop", "start"} {
		if r := e.Do("POST", "/api/engine/v2/modules/mod-s/"+op, "", enginetest.APIKey(supportKey)); r.Status != 200 {
			t.Errorf("support %s: %d %s; want 200", op, r.Status, r.Body)
		}
	}
}

// TestBrowserCredentials: a page of another site can make the browser send the engine's cookie;
// a write or a WebSocket upgrade that the cookie authenticates must come from the node's own
// origin or one of --allowed-origins (docs/protocol.md §8.5). A header credential works from
// anywhere (a foreign page cannot set one).
func TestBrowserCredentials(t *testing.T) {
	t.Parallel()
	const allowed, evil = "https://ui.example", "https://evil.example"
	e := clearanceEngine(t, "browser", "--allowed-origins", allowed)
	cookie := func(key string) enginetest.Header {
		return enginetest.Header{Name: "Cookie", Value: (&http.Cookie{Name: "api-key", Value: key}).String()}
	}
	origin := func(o string) enginetest.Header { return enginetest.Header{Name: "Origin", Value: o} }
	writes := []struct{ name, method, path, body string }{
		{"execute", "POST", "/api/engine/v2/systems/sys-1/Test_1/echo", "[1]"},
		{"execute by id", "POST", "/api/engine/v2/modules/mod-a/exec/echo", "[1]"},
		{"model write", "PUT", "/api/engine/v2/zones/z-browser", `{"id": "z-browser", "name": "Z"}`},
		{"stop", "POST", "/api/engine/v2/modules/mod-s/stop", ""},
		{"start", "POST", "/api/engine/v2/modules/mod-s/start", ""},
	}
	for _, tt := range []struct {
		name string
		hdr  []enginetest.Header
		want int
	}{
		{"admin cookie from a foreign origin", []enginetest.Header{cookie(adminKey), origin(evil)}, 403},
		{"admin cookie without an origin", []enginetest.Header{cookie(adminKey)}, 403},
		{"admin cookie from the node's own origin", []enginetest.Header{cookie(adminKey), origin(e.Base)}, 200},
		{"admin cookie from an allowed origin", []enginetest.Header{cookie(adminKey), origin(allowed)}, 200},
		{"admin key header from a foreign origin", []enginetest.Header{enginetest.APIKey(adminKey), origin(evil)}, 200},
	} {
		for _, w := range writes {
			r := e.Do(w.method, w.path, w.body, tt.hdr...)
			if r.Status != tt.want {
				t.Errorf("%s, %s: %d %s; want %d", tt.name, w.name, r.Status, r.Body, tt.want)
			}
			if tt.want == 403 && !strings.Contains(r.Body, `"error":"access_denied"`) {
				t.Errorf("%s, %s: %s", tt.name, w.name, r.Body)
			}
		}
		if tt.want == 403 {
			// Nothing happened: no zone, the module still runs.
			if r := e.Do("GET", "/api/engine/v2/zones/z-browser", "", enginetest.APIKey(adminKey)); r.Status != 404 {
				t.Fatalf("%s: the refused model write happened: %d %s", tt.name, r.Status, r.Body)
			}
		}
	}
	// A cookie read from a foreign origin changes nothing and its answer is not readable there.
	if r := e.Do("GET", "/api/engine/v2/modules/mod-a/state", "", cookie(userKey), origin(evil)); r.Status != 200 {
		t.Errorf("cookie read: %d %s", r.Status, r.Body)
	}

	// The WebSocket: the cookie is what authenticates, whatever bearer_token the URL carries.
	ws := "ws" + strings.TrimPrefix(e.Base, "http") + "/api/engine/v2/systems/control"
	dial := func(query string, hdr ...string) (int, error) {
		h := http.Header{}
		for i := 0; i+1 < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		conn, resp, err := websocket.DefaultDialer.Dial(ws+query, h)
		if err == nil {
			_ = conn.Close()
			return http.StatusSwitchingProtocols, nil
		}
		if resp == nil {
			return 0, err
		}
		return resp.StatusCode, nil
	}
	userCookie := (&http.Cookie{Name: "api-key", Value: userKey}).String()
	for _, tt := range []struct {
		name, query string
		hdr         []string
		want        int
	}{
		{"cookie and an invalid bearer_token, foreign origin", "?bearer_token=not-a-token", []string{"Cookie", userCookie, "Origin", evil}, 403},
		{"cookie, foreign origin", "", []string{"Cookie", userCookie, "Origin", evil}, 403},
		{"cookie, own origin", "", []string{"Cookie", userCookie, "Origin", e.Base}, 101},
		{"cookie, allowed origin", "", []string{"Cookie", userCookie, "Origin", allowed}, 101},
		{"query key, foreign origin", "?api-key=" + userKey, []string{"Origin", evil}, 101},
	} {
		if got, err := dial(tt.query, tt.hdr...); got != tt.want {
			t.Errorf("WebSocket, %s: %d %v; want %d", tt.name, got, err, tt.want)
		}
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
	return s.request(id, fmt.Sprintf(`{"id": %d, "cmd": "exec", "sys": "sys-1", "mod": %q, "index": %d, "name": %q, "args": %s}`, id, mod, index, fn, args))
}

// request sends req (whose id is id) and returns the code of its first reply (200 on success).
func (s *wsSession) request(id int, req string) int {
	s.t.Helper()
	m := s.reply(id, req)
	if m.Type == "success" {
		return 200
	}
	return m.Code
}

// wsReply is what request and reply read of a reply.
type wsReply struct {
	ID   int    `json:"id"`
	Type string `json:"type"`
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// reply sends req (whose id is id) and returns its first reply.
func (s *wsSession) reply(id int, req string) wsReply {
	s.t.Helper()
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
		var m wsReply
		if string(data) != "pong" && json.Unmarshal(data, &m) == nil && m.ID == id {
			return m
		}
	}
}

// TestOneClearanceRuleAcrossNodes: the same rule when the module lives on another node than the
// one the client called. Node 1 forwards the checked call to node 2 over the cluster port with the
// caller's clearance, and node 2 checks it again; a driver on node 1 calling a module of node 2
// for the user it serves carries that user's clearance across. Start and stop through a node
// that does not host the module follow the same rules.
func TestOneClearanceRuleAcrossNodes(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t))
	cfg.APIKey = adminKey
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, cfg, "xnode", 2, clusterModel(drv), clusterModules)
	n1 := c.Nodes[0]
	placed, err := c.Placement()
	if err != nil {
		t.Fatal(err)
	}
	// A target on node 2 and a calling module on node 1 (modules mod-01..mod-12 are Test_1..12).
	var target, caller string
	index := 0
	for i := 1; i <= clusterModules; i++ {
		id := fmt.Sprintf("mod-%02d", i)
		switch {
		case placed[id] == c.Nodes[1].ID && target == "":
			target, index = id, i
		case placed[id] == n1.ID && caller == "":
			caller = id
		}
	}
	if target == "" || caller == "" {
		t.Fatalf("placement %v has no module on each node", placed)
	}
	t.Logf("target %s (Test_%d) on %s; calling module %s on %s; every request to %s", target, index, c.Nodes[1].ID, caller, n1.ID, n1.ID)

	for _, role := range []struct {
		name, key string
		allowed   map[string]bool
	}{
		{"user", userKey, map[string]bool{"echo": true}},
		{"support", supportKey, map[string]bool{"echo": true, "support_only": true, "stop": true}},
		{"admin", adminKey, map[string]bool{"echo": true, "support_only": true, "admin_only": true, "stop": true}},
	} {
		t.Run(role.name, func(t *testing.T) {
			ws := dialWS(t, n1, role.key)
			for id, fn := range []string{"echo", "support_only", "admin_only"} {
				want := 403
				if role.allowed[fn] {
					want = 200
				}
				rest := n1.Do("POST", "/api/engine/v2/modules/"+target+"/exec/"+fn, "[]", enginetest.APIKey(role.key))
				wsCode := ws.exec(id+1, "Test", index, fn, "[]")
				d2d := n1.Do("POST", "/api/engine/v2/modules/"+caller+"/exec/call", fmt.Sprintf(`[%q, %q, []]`, target, fn), enginetest.APIKey(role.key))
				if rest.Status != want || wsCode != want || d2d.Status != want {
					t.Errorf("%s calling %s on the other node: REST %d, WebSocket %d, driver-to-driver %d; want %d\nREST %s\ndriver-to-driver %s",
						role.name, fn, rest.Status, wsCode, d2d.Status, want, rest.Body, d2d.Body)
				}
			}
			want := 403
			if role.allowed["stop"] {
				want = 200
			}
			if r := n1.Do("POST", "/api/engine/v2/modules/"+target+"/stop", "", enginetest.APIKey(role.key)); r.Status != want {
				t.Errorf("%s stopping a module of the other node: %d %s; want %d", role.name, r.Status, r.Body, want)
			} else if want == 200 {
				// Stopped on its node before it is started again: else the start may overtake the
				// stop there, and the next role's calls meet the module stopping after all.
				n1.Eventually(30*time.Second, target+" stopped", func() bool {
					return n1.Do("POST", "/api/engine/v2/modules/"+target+"/exec/echo", "[]", enginetest.APIKey(adminKey)).Status == 503
				})
			}
			if r := n1.Do("POST", "/api/engine/v2/modules/"+target+"/start", "", enginetest.APIKey(role.key)); r.Status != want {
				t.Errorf("%s starting a module of the other node: %d %s; want %d", role.name, r.Status, r.Body, want)
			}
			n1.Eventually(30*time.Second, target+" running again", func() bool {
				return n1.Do("POST", "/api/engine/v2/modules/"+target+"/exec/echo", "[]", enginetest.APIKey(adminKey)).Status == 200
			})
			consoleSeesRole(t, c.Nodes, role.name, role.key, fmt.Sprintf("Test_%d", index), role.allowed)
		})
	}
}

// consoleSeesRole: what the operator console learns from every node for a caller: who it is
// (users/current), the page itself, every node's driver processes (status/cluster: the node
// asks the others over the cluster port), and a module's functions with their security levels —
// only those the caller may run, whichever node hosts the module.
func consoleSeesRole(t *testing.T, nodes []*enginetest.Node, role, key, slug string, allowed map[string]bool) {
	t.Helper()
	levels := map[string]string{"echo": "", "support_only": "support", "admin_only": "administrator"}
	for _, n := range nodes {
		var cl struct {
			Nodes []struct {
				Node     string
				ThisNode bool `json:"this_node"`
				Status   struct {
					Node    string
					Drivers []struct{ PID int }
				}
			}
		}
		r := n.Do("GET", "/api/core/v1/status/cluster", "", enginetest.APIKey(key))
		if err := json.Unmarshal([]byte(r.Body), &cl); err != nil || len(cl.Nodes) != len(nodes) {
			t.Fatalf("%s: status/cluster on %s: %d %s", role, n.ID, r.Status, r.Body)
		}
		for _, e := range cl.Nodes {
			if e.Status.Node != e.Node || len(e.Status.Drivers) == 0 || e.Status.Drivers[0].PID == 0 || e.ThisNode != (e.Node == n.ID) {
				t.Errorf("%s: status/cluster on %s: %s has no driver process: %s", role, n.ID, e.Node, r.Body)
			}
		}
		var me struct{ Role string }
		if r := n.Do("GET", "/api/engine/v2/users/current", "", enginetest.APIKey(key)); json.Unmarshal([]byte(r.Body), &me) != nil || me.Role != role {
			t.Errorf("%s: users/current on %s: %d %s", role, n.ID, r.Status, r.Body)
		}
		if r := n.Do("GET", "/console", ""); r.Status != 200 || !strings.Contains(r.Body, `src="/console/app.js"`) {
			t.Errorf("%s: /console on %s: %d", role, n.ID, r.Status)
		}
		var fns map[string]struct{ Security string }
		r = n.Do("GET", "/api/engine/v2/systems/sys-1/functions/"+slug, "", enginetest.APIKey(key))
		if err := json.Unmarshal([]byte(r.Body), &fns); err != nil {
			t.Fatalf("%s: functions of %s on %s: %d %s", role, slug, n.ID, r.Status, r.Body)
		}
		for fn, level := range levels {
			got, listed := fns[fn]
			if listed != allowed[fn] || (listed && got.Security != level) {
				t.Errorf("%s: %s on %s listed %v with security %q; want listed %v, %q", role, fn, n.ID, listed, got.Security, allowed[fn], level)
			}
		}
	}
}

// TestStoppedModuleIsUnavailableEveryWayIn: a stopped module is unavailable — 503, to be retried —
// whichever way the call arrives, never a bad request of the caller's.
func TestStoppedModuleIsUnavailableEveryWayIn(t *testing.T) {
	t.Parallel()
	e := clearanceEngine(t, "stopped")
	if r := e.Do("POST", "/api/engine/v2/modules/mod-b/stop", "", enginetest.APIKey(adminKey)); r.Status != 200 {
		t.Fatalf("stop: %d %s", r.Status, r.Body)
	}
	rest := e.Do("POST", "/api/engine/v2/systems/sys-1/Test_2/echo", "[]", enginetest.APIKey(adminKey))
	if rest.Status != 503 || rest.Header.Get("Retry-After") == "" {
		t.Errorf("REST: %d (Retry-After %q) %s", rest.Status, rest.Header.Get("Retry-After"), rest.Body)
	}
	if code := dialWS(t, e, adminKey).exec(1, "Test", 2, "echo", "[]"); code != 503 {
		t.Errorf("WebSocket: %d", code)
	}
	if r := e.Do("POST", "/api/engine/v2/modules/mod-a/exec/call", `["mod-b", "echo", []]`, enginetest.APIKey(adminKey)); r.Status != 503 {
		t.Errorf("driver-to-driver: %d %s", r.Status, r.Body)
	}
}
