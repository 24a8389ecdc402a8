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
	rest := postAnswer(e.Base + "/api/engine/v2/modules/mod-r/exec/slow")
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

	wantUnavailable(t, "REST exec in flight", <-rest, "shutting down")
	answered := time.Since(begun)
	took := <-stopped
	t.Logf("answered %v after SIGTERM; the engine exited after %v", answered, took)
	if answered > 8*time.Second {
		t.Errorf("answered %v after SIGTERM, past the HTTP shutdown's 5 s", answered)
	}
}

// answer is what an HTTP client got.
type answer struct {
	status int
	body   string
	retry  string // Retry-After
	err    error
}

// postAnswer POSTs a two-minute call (slow, [120000]) to url in the background.
func postAnswer(url string) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		resp, err := http.Post(url, "application/json", strings.NewReader(`[120000]`))
		if err != nil {
			out <- answer{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		out <- answer{resp.StatusCode, string(b), resp.Header.Get("Retry-After"), err}
	}()
	return out
}

// wantUnavailable fails t unless a is 503 unavailable with Retry-After 1 and a message that
// contains says.
func wantUnavailable(t *testing.T, what string, a answer, says string) {
	t.Helper()
	if a.err != nil {
		t.Errorf("%s: %v, want a 503 answer", what, a.err)
		return
	}
	var body struct{ Error, Message string }
	if err := json.Unmarshal([]byte(a.body), &body); err != nil || a.status != http.StatusServiceUnavailable ||
		body.Error != "unavailable" || !strings.Contains(body.Message, says) || a.retry != "1" {
		t.Errorf("%s: %d %s (Retry-After %q), want 503 unavailable (%q), Retry-After 1", what, a.status, a.body, a.retry, says)
	}
}

// TestSIGTERMAnswersForwardedExecs: on a two-node cluster, SIGTERM to one node while executes
// cross it both ways, each gets a 503 unavailable with its JSON body. Its own client's execute of
// a module on the other node is answered when the leave cuts the link to the leader (or, were it
// still running then, "shutting down" at the end of the drain); another client's execute, sent
// to the other node, of a module on the stopping one is answered by the other node once the
// stopping one's cluster port closes.
func TestSIGTERMAnswersForwardedExecs(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(rds.URL), "sa", 2, clusterModel(drv), clusterModules)
	leader := c.Leader()
	stopping := c.Nodes[0]
	if stopping == leader {
		stopping = c.Nodes[1]
	}
	var mine, theirs string // a module on the stopping node, one on the other
	for mod, node := range c.WaitHealthy(2) {
		if node == stopping.ID {
			mine = mod
		} else {
			theirs = mod
		}
	}
	if mine == "" || theirs == "" {
		t.Fatalf("the placement leaves a node without modules: %v", c.WaitHealthy(2))
	}
	out := postAnswer(stopping.Base + "/api/engine/v2/modules/" + theirs + "/exec/slow")
	in := postAnswer(leader.Base + "/api/engine/v2/modules/" + mine + "/exec/slow")
	leader.Eventually(10*time.Second, "both executes in the drivers", func() bool {
		return leader.Do("GET", "/api/engine/v2/modules/"+mine+"/state/busy", "").Body == "true" &&
			leader.Do("GET", "/api/engine/v2/modules/"+theirs+"/state/busy", "").Body == "true"
	})
	begun := time.Now()
	stopping.Stop()
	t.Logf("%s stopped after %v", stopping.ID, time.Since(begun))
	wantUnavailable(t, "the stopping node's own client, of a module elsewhere", <-out, "")
	wantUnavailable(t, "another node's client, of a module on the stopping node", <-in, "")
}
