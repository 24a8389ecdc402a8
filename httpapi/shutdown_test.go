package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestCloseAnswersExecsInFlight: executes that outlast Close's drain period, over REST and over
// a WebSocket, are answered 503 unavailable ("shutting down") before their connections close,
// and the session then closes with 1001.
// Before, the REST client got its connection closed with no answer and the WebSocket exec none.
func TestCloseAnswersExecsInFlight(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	started := make(chan string, 4)
	env.hs.eng.execFn = func(ctx context.Context, req call.Request) (call.Result, error) {
		started <- req.Function
		<-ctx.Done() // a driver function that outlasts the drain, as a cancelled driver call returns
		return call.Result{}, fmt.Errorf("exec %s: %w", req.Function, ctx.Err())
	}
	ws := env.dial(t)
	ws.send(`{"id":1,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"viaws","args":[]}`)
	type answer struct {
		status int
		body   string
		retry  string
		err    error
	}
	rest := make(chan answer, 1)
	go func() {
		url := "http://" + env.hs.srv.Addr().String() + ClientBase + "/modules/mod-1/exec/viarest"
		resp, err := http.Post(url, "application/json", strings.NewReader(`[]`))
		if err != nil {
			rest <- answer{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		rest <- answer{resp.StatusCode, string(b), resp.Header.Get("Retry-After"), err}
	}()
	for range 2 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the executes did not reach the engine")
		}
	}

	const grace = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	begun := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- env.hs.srv.Close(ctx) }()

	ws.wantShuttingDown(1)
	_ = ws.conn.SetReadDeadline(time.Now().Add(grace))
	if _, _, err := ws.conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("after the answers: %v, want close 1001", err)
	}

	a := <-rest
	if a.err != nil {
		t.Fatalf("REST exec: %v, want a 503 answer", a.err)
	}
	var body struct{ Error, Message string }
	if err := json.Unmarshal([]byte(a.body), &body); err != nil || a.status != http.StatusServiceUnavailable ||
		body.Error != "unavailable" || !strings.Contains(body.Message, "shutting down") || a.retry == "" {
		t.Errorf("REST exec: %d %s (Retry-After %q), want 503 unavailable, shutting down, with Retry-After", a.status, a.body, a.retry)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(begun); took > grace {
		t.Errorf("Close took %v, past its %v", took, grace)
	}
}

// TestDrainRefusesNewExecs: once Close has begun, a WebSocket exec is answered 503 at once: it
// would only be cancelled at the end of the drain.
func TestDrainRefusesNewExecs(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	ws := env.dial(t)
	// The client has its 101 before the server registers the session; a drain in between refuses
	// the session itself, which is not what this test is about.
	testutil.Eventually(t, 10*time.Second, "the session registered", func() bool {
		env.hs.srv.ws.mu.Lock()
		defer env.hs.srv.ws.mu.Unlock()
		return len(env.hs.srv.ws.sessions) == 1
	})
	env.hs.srv.drain()
	ws.send(`{"id":7,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"late","args":[]}`)
	ws.wantShuttingDown(7)
	env.hs.eng.mu.Lock()
	calls := len(env.hs.eng.calls)
	env.hs.eng.mu.Unlock()
	if calls != 0 {
		t.Errorf("the engine was called %d times", calls)
	}
}

// wantShuttingDown reads the next frame: exec id's 503 error saying the node is shutting down.
func (c *wsClient) wantShuttingDown(id int64) {
	c.t.Helper()
	var r wsReply
	if err := json.Unmarshal([]byte(c.read()), &r); err != nil {
		c.t.Fatal(err)
	}
	if r.ID != id || r.Type != "error" || r.Code != http.StatusServiceUnavailable || !strings.Contains(r.Msg, "shutting down") {
		c.t.Errorf("exec %d over the WebSocket: %+v, want a 503 error frame saying the node is shutting down", id, r)
	}
}
