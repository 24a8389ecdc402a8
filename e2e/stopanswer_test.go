package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestSIGTERMAnswersExecsInFlight: executes still running on a node when SIGTERM's drain period
// ends (driver functions of two minutes) are answered 503 unavailable, "shutting down",
// before the node closes their connections: a REST client gets the JSON body with Retry-After,
// a WebSocket client the exec's error frame and then close 1001. The node then exits with its
// driver processes gone (Stop checks). Before, the REST client's connection was closed with no
// answer at all and the WebSocket exec got none.
func TestSIGTERMAnswersExecsInFlight(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	e := enginetest.StartEngine(t, config(redis.URL), "stopanswer", fmt.Sprintf(`
drivers: [{id: drv-test, module_name: Test, role: device, binary: %q}]
modules:
  - {id: mod-r, driver_id: drv-test, running: true}
  - {id: mod-w, driver_id: drv-test, running: true}
systems: [{id: sys-1, name: Room, modules: [mod-r, mod-w]}]
`, drv))
	e.Eventually(20*time.Second, "the module answers", func() bool {
		return e.Do("POST", "/api/engine/v2/modules/mod-r/exec/echo", "[]").Status == 200 &&
			e.Do("POST", "/api/engine/v2/modules/mod-w/exec/echo", "[]").Status == 200
	})

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.Base, "http")+"/api/engine/v2/systems/control", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	if err := ws.WriteMessage(websocket.TextMessage,
		[]byte(`{"id":1,"cmd":"exec","sys":"sys-1","mod":"Test","index":2,"name":"slow","args":[120000]}`)); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
		retry  string
		err    error
	}
	rest := make(chan answer, 1)
	go func() {
		resp, err := http.Post(e.Base+"/api/engine/v2/modules/mod-r/exec/slow", "application/json", strings.NewReader(`[120000]`))
		if err != nil {
			rest <- answer{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		rest <- answer{resp.StatusCode, string(b), resp.Header.Get("Retry-After"), err}
	}()
	// Both executes are in the driver: slow sets its module's status busy before it sleeps.
	e.Eventually(10*time.Second, "both executes in the driver", func() bool {
		return e.Do("GET", "/api/engine/v2/modules/mod-r/state/busy", "").Body == "true" &&
			e.Do("GET", "/api/engine/v2/modules/mod-w/state/busy", "").Body == "true"
	})

	begun := time.Now()
	stopped := make(chan time.Duration, 1)
	go func() { e.Stop(); stopped <- time.Since(begun) }()

	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, frame, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("WebSocket exec in flight: %v, want its error frame", err)
	}
	var reply struct {
		ID   int    `json:"id"`
		Type string `json:"type"`
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal(frame, &reply); err != nil || reply.ID != 1 || reply.Type != "error" ||
		reply.Code != http.StatusServiceUnavailable || !strings.Contains(reply.Msg, "shutting down") {
		t.Errorf("WebSocket exec in flight: %s, want a 503 error frame saying the node is shutting down", frame)
	}
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("after the answer: %v, want close 1001", err)
	}

	a := <-rest
	var body struct{ Error, Message string }
	if a.err != nil {
		t.Fatalf("REST exec in flight: %v, want a 503 answer", a.err)
	}
	if err := json.Unmarshal([]byte(a.body), &body); err != nil || a.status != http.StatusServiceUnavailable ||
		body.Error != "unavailable" || !strings.Contains(body.Message, "shutting down") || a.retry != "1" {
		t.Errorf("REST exec in flight: %d %s (Retry-After %q), want 503 unavailable, shutting down, Retry-After 1", a.status, a.body, a.retry)
	}
	answered := time.Since(begun)
	took := <-stopped
	t.Logf("answered %v after SIGTERM; the engine exited after %v", answered, took)
	if answered > 8*time.Second {
		t.Errorf("answered %v after SIGTERM, past the HTTP shutdown's 5 s", answered)
	}
}
