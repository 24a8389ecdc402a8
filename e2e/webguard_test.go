package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/internal/browsertest"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestWebGuard (red team 9, findings 4 and 5 and the nosniff note) on a real two-node cluster, every
// request sent to node 1 for a module node 2 hosts, by each role, over REST and the WebSocket:
// identifiers past 255 bytes are refused with bad_request before anything is subscribed to or
// forwarded; execute bodies that are not UTF-8 are refused; a status Redis holds with invalid
// UTF-8 reaches the WebSocket as valid UTF-8 (U+FFFD) and the session lives on; answers say
// nosniff.
func TestWebGuard(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t))
	cfg.APIKey = adminKey
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, cfg, "webguard", 2, clusterModel(drv), clusterModules)
	n1 := c.Nodes[0]
	placed, err := c.Placement()
	if err != nil {
		t.Fatal(err)
	}
	target, index := "", 0
	for i := 1; i <= clusterModules && target == ""; i++ {
		if id := fmt.Sprintf("mod-%02d", i); placed[id] == c.Nodes[1].ID {
			target, index = id, i
		}
	}
	if target == "" {
		t.Fatalf("placement %v has no module on node 2", placed)
	}
	long := strings.Repeat("y", 256)
	for _, role := range []struct{ name, key string }{{"user", userKey}, {"support", supportKey}, {"admin", adminKey}} {
		t.Run(role.name, func(t *testing.T) {
			key := enginetest.APIKey(role.key)
			for _, path := range []string{
				fmt.Sprintf("/api/engine/v2/systems/sys-1/Test_%d/%s", index, long),
				"/api/engine/v2/modules/" + target + "/state/" + long,
				"/api/engine/v2/systems/" + long + "/Test_1",
			} {
				r := n1.Do("GET", path, "", key)
				if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `"error":"bad_request"`) || !strings.Contains(r.Body, "is 256 bytes long; an identifier may have at most 255 bytes") {
					t.Errorf("GET %s…: %d %s", path[:60], r.Status, r.Body)
				}
				if r.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("GET %s…: no nosniff", path[:60])
				}
			}
			r := n1.Do("POST", "/api/engine/v2/modules/"+target+"/exec/"+long, "[]", key)
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "the function name is 256 bytes long") {
				t.Errorf("exec of a 256-byte function: %d %s", r.Status, r.Body)
			}
			r = n1.Do("POST", "/api/engine/v2/modules/"+target+"/exec/echo", "[\"x\xffy\"]", key)
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `"error":"parse_error"`) || !strings.Contains(r.Body, "invalid UTF-8") {
				t.Errorf("exec with invalid UTF-8: %d %s", r.Status, r.Body)
			}
			r = n1.Do("POST", "/api/engine/v2/modules/"+target+"/exec/echo", `["café €"]`, key)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, "café €") || r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("exec with UTF-8, forwarded: %d %s %v", r.Status, r.Body, r.Header)
			}

			ws := dialWS(t, n1, role.key)
			for id, req := range []string{
				fmt.Sprintf(`{"id": 1, "cmd": "bind", "sys": "sys-1", "mod": "Test", "index": %d, "name": %q}`, index, long),
				fmt.Sprintf(`{"id": 2, "cmd": "exec", "sys": "sys-1", "mod": "Test", "index": %d, "name": %q, "args": []}`, index, long),
				fmt.Sprintf(`{"id": 3, "cmd": "bind", "sys": %q, "mod": "Test", "name": "st"}`, long),
				fmt.Sprintf(`{"id": 4, "cmd": "debug", "mod": %q}`, long),
			} {
				if code := ws.request(id+1, req); code != http.StatusBadRequest {
					t.Errorf("WebSocket request %d with a 256-byte identifier: code %d, want 400", id+1, code)
				}
			}
			if code := ws.exec(5, "Test", index, "echo", `["ok"]`); code != 200 {
				t.Errorf("the session after the refusals: exec code %d", code)
			}
		})
	}
	if n := redisChannels(t, redis, "status/*/y*"); n != 0 {
		t.Errorf("%d Redis subscriptions to 256-byte names", n)
	}

	// A status with invalid UTF-8, as Redis may hold it whatever wrote it, bound through node 1.
	ctx := context.Background()
	rc := redis.Client(t)
	ws := dialControl(t, n1, userKey)
	ws.send(fmt.Sprintf(`{"id": 1, "cmd": "bind", "sys": "sys-1", "mod": "Test", "index": %d, "name": "label"}`, index))
	if f := ws.next("bind success"); !strings.Contains(f, `"type":"success"`) {
		t.Fatalf("bind: %s", f)
	}
	testutil.Eventually(t, frameWithin, "node 1 subscribed", func() bool { return redisChannels(t, redis, "status/"+target+"/label") == 1 })
	if err := rc.HSet(ctx, "status/"+target, "label", "\"x\xffy\"").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Publish(ctx, "status/"+target+"/label", "\"x\xffy\"").Err(); err != nil {
		t.Fatal(err)
	}
	f := ws.next("the invalid-UTF-8 notify")
	if !utf8.ValidString(f) || !json.Valid([]byte(f)) || !strings.HasSuffix(f, `"value":"x`+"\uFFFD"+`y"}`) {
		t.Fatalf("notify: %q", f)
	}
	ws.quiet() // the session is whole
}

// redisChannels is how many Redis channels matching pattern have a subscriber.
func redisChannels(t *testing.T, r *testutil.Redis, pattern string) int {
	t.Helper()
	chans, err := r.Client(t).PubSubChannels(context.Background(), pattern).Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(chans)
}

// TestRebindingAuthNone (red team 9, finding 3) on a real --auth none node: a page whose name was
// rebound to 127.0.0.1 sends its own name in Host and Origin; it is refused on REST, the console
// and the WebSocket, while localhost and 127.0.0.1 — how `engine dev` is reached — are served.
func TestRebindingAuthNone(t *testing.T) {
	t.Parallel()
	e := enginetest.StartEngine(t, config(testutil.StartRedis(t).URL), "e2e-rebind", "")
	port := e.HTTP[strings.LastIndexByte(e.HTTP, ':')+1:]
	send := func(method, path, host, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, e.Base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	rebound := "evil.example:" + port
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/engine/v2/model", ""},
		{"POST", "/api/engine/v2/drivers", `{"id": "rebound", "module_name": "X", "role": "service", "binary": "/bin/true"}`},
		{"GET", "/console/", ""},
	} {
		if code, body := send(r.method, r.path, rebound, r.body); code != http.StatusForbidden || !strings.Contains(body, `Host \"`+rebound+`\" is not a loopback name`) {
			t.Errorf("%s %s as a rebound page: %d %s", r.method, r.path, code, body)
		}
		if r.method == "GET" {
			for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port} {
				if code, body := send(r.method, r.path, host, ""); code != http.StatusOK {
					t.Errorf("%s %s with Host %s: %d %s", r.method, r.path, host, code, body)
				}
			}
		}
	}
	if r := e.Do("GET", "/api/engine/v2/drivers/rebound", ""); r.Status != http.StatusNotFound {
		t.Errorf("the rebound page created a driver: %d %s", r.Status, r.Body)
	}
	ws := "ws://" + e.HTTP + "/api/engine/v2/systems/control"
	if conn, resp, err := websocket.DefaultDialer.Dial(ws, http.Header{"Host": {rebound}, "Origin": {"http://" + rebound}}); err == nil {
		_ = conn.Close()
		t.Error("a rebound page opened a WebSocket session")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("rebound upgrade: %v %v", resp, err)
	}
	conn, resp, err := websocket.DefaultDialer.Dial("ws://localhost:"+port+"/api/engine/v2/systems/control", http.Header{"Origin": {"http://localhost:" + port}})
	if err != nil {
		t.Fatalf("the console's own page on localhost: %v %v", resp, err)
	}
	_ = conn.Close()
}

// TestWebSocketUTF8InBrowser (red team 9, finding 5) in a real browser: a status whose stored
// value holds invalid UTF-8 made Chromium fail the connection (1006), losing every binding of the
// page. Now the page receives the value with U+FFFD and its session stays open.
func TestWebSocketUTF8InBrowser(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	td := testutil.BuildBinary(t, "./internal/testdriver")
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-utf8", fmt.Sprintf(`
drivers: [{id: drv-test, module_name: Test, role: device, binary: %q}]
modules: [{id: mod-a, driver_id: drv-test, running: true}]
systems: [{id: sys-1, name: Room, modules: [mod-a]}]
`, td))
	b := browsertest.Start(t)
	// A page of the node's own origin (a JSON answer: no console script runs beside the test's).
	b.Do(t, "open a page of the node", chromedp.Navigate(e.Base+"/api/core/v1/ready"))
	browsertest.Eval[bool](t, b, `(() => {
		window.frames_ = []; window.closed_ = null;
		const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/api/engine/v2/systems/control');
		ws.onmessage = m => window.frames_.push(m.data);
		ws.onclose = e => { window.closed_ = e.code; };
		ws.onopen = () => {
			ws.send(JSON.stringify({id: 1, cmd: 'bind', sys: 'sys-1', mod: 'Test', name: 'label'}));
			ws.send(JSON.stringify({id: 2, cmd: 'bind', sys: 'sys-1', mod: 'Test', name: 'other'}));
		};
		window.ws_ = ws;
		return true;
	})()`)
	const within = 20 * time.Second
	b.WaitFor(t, within, "both bindings", `window.frames_.filter(f => f.includes('"type":"success"')).length === 2`)

	ctx := context.Background()
	rc := redis.Client(t)
	if err := rc.HSet(ctx, "status/mod-a", "label", "\"x\xffy\"").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Publish(ctx, "status/mod-a/label", "\"x\xffy\"").Err(); err != nil {
		t.Fatal(err)
	}
	b.WaitFor(t, within, "the notify with U+FFFD, the socket open (a browser fails it, 1006, on invalid UTF-8)",
		`window.closed_ === null && window.frames_.some(f => { try { const m = JSON.parse(f); return m.type === 'notify' && m.value === 'x\uFFFDy'; } catch (e) { return false; } })`)
	// The session still serves the page: a text ping is answered.
	browsertest.Eval[bool](t, b, `(window.ws_.send('ping'), true)`)
	b.WaitFor(t, within, "pong after the notify", `window.closed_ === null && window.frames_.includes('pong')`)
}
