package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// debugClient is a front-end's WebSocket on one node; a goroutine turns frames into a channel
// so that reads can have deadlines without killing the connection.
type debugClient struct {
	t      *testing.T
	node   string
	conn   *websocket.Conn
	frames chan string
	end    error // why the socket ended; set before frames is closed
}

func dialControl(t *testing.T, e *enginetest.Node, apiKey ...string) *debugClient {
	t.Helper()
	var hdr http.Header
	if len(apiKey) > 0 {
		hdr = http.Header{"X-API-Key": apiKey}
	}
	return dialControlWith(t, e, hdr)
}

// dialControlWith is dialControl with the upgrade's headers (a bearer token, say).
func dialControlWith(t *testing.T, e *enginetest.Node, hdr http.Header) *debugClient {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+e.HTTP+"/api/engine/v2/systems/control", hdr)
	if err != nil {
		if resp != nil {
			t.Fatalf("dial %s: %v (HTTP %d)", e.ID, err, resp.StatusCode)
		}
		t.Fatalf("dial %s: %v", e.ID, err)
	}
	c := &debugClient{t: t, node: e.ID, conn: conn, frames: make(chan string, 256)}
	go func() {
		defer close(c.frames)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				c.end = err
				return
			}
			c.frames <- string(b)
		}
	}()
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

func (c *debugClient) send(s string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("%s: send: %v", c.node, err)
	}
}

// frameWithin is how long a client waits for a frame.
const frameWithin = 15 * time.Second

// poll takes the next frame if one has arrived, failing the test if the socket closed.
func (c *debugClient) poll(what string) (string, bool) {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatalf("%s: socket closed waiting for %s", c.node, what)
		}
		return f, true
	default:
		return "", false
	}
}

// next is the next frame other than the periodic heartbeat.
func (c *debugClient) next(what string) string {
	c.t.Helper()
	var f string
	testutil.Eventually(c.t, frameWithin, c.node+": a frame, "+what, func() bool {
		var ok bool
		f, ok = c.poll(what)
		return ok && f != "pong"
	})
	return f
}

// quiet proves nothing is queued for the client: a ping's pong is the very next frame.
func (c *debugClient) quiet() {
	c.t.Helper()
	c.send("ping")
	var f string
	testutil.Eventually(c.t, frameWithin, c.node+": pong", func() bool {
		var ok bool
		f, ok = c.poll("pong")
		return ok
	})
	if f != "pong" {
		c.t.Fatalf("%s: expected nothing before pong, got %s", c.node, f)
	}
}

// debugLine is a WebSocket debug frame (docs/protocol.md §7).
type debugLine struct {
	ID    int64           `json:"id"`
	Type  string          `json:"type"`
	Mod   string          `json:"mod"`
	Level string          `json:"level"`
	Msg   string          `json:"msg"`
	Meta  json.RawMessage `json:"meta"`
}

// expectLine reads the next frame and checks it is exactly the debug line wanted: these are the
// fields (and only these) that PlaceOS front-ends read.
func (c *debugClient) expectLine(id int64, mod, msg string) {
	c.t.Helper()
	f := c.next("debug line " + msg)
	var keys map[string]json.RawMessage
	var got debugLine
	if err := json.Unmarshal([]byte(f), &keys); err != nil || json.Unmarshal([]byte(f), &got) != nil {
		c.t.Fatalf("%s: frame %q is not a JSON object", c.node, f)
	}
	if k := slices.Sorted(maps.Keys(keys)); !slices.Equal(k, []string{"id", "level", "meta", "mod", "msg", "type"}) {
		c.t.Fatalf("%s: debug frame keys %v in %s", c.node, k, f)
	}
	if got.ID != id || got.Type != "debug" || got.Mod != mod || got.Level != "info" || got.Msg != msg ||
		string(got.Meta) != fmt.Sprintf(`{"sys":"sys-1","mod":%q,"index":1,"name":"debug"}`, mod) {
		c.t.Fatalf("%s: got %s, want id %d, mod %s, level info, msg %q and the request's meta", c.node, f, id, mod, msg)
	}
}

// debugFrom starts debug request id for module mod, hosted by owner, and waits for its first line.
func (c *debugClient) debugFrom(id int64, owner *enginetest.Node, mod string, h ...enginetest.Header) {
	c.t.Helper()
	// PlaceOS front-ends send sys and name along with the module id (docs/protocol.md §7).
	c.send(fmt.Sprintf(`{"id":%d,"cmd":"debug","sys":"sys-1","mod":%q,"name":"debug"}`, id, mod))
	if f, want := c.next("debug success"), fmt.Sprintf(`{"id":%d,"type":"success"}`, id); f != want {
		c.t.Fatalf("debug on %s: %s", c.node, f)
	}
	// success means the stream to the owner is open; the owner turns the driver's forwarding on
	// as the stream attaches, so the first lines may still find it off.
	var first string
	owner.Eventually(15*time.Second, "debug forwarding on in the driver", func() bool {
		first = fmt.Sprintf("line %d", time.Now().UnixNano())
		return logLine(c.t, owner, mod, first, h...)
	})
	c.expectLine(id, mod, first)
}

// logLine makes the module log msg through its owner's node-to-node execute route: the test
// driver's log() is not in its metadata (the client routes refuse undeclared functions), and the
// node route hands the call straight to the driver. It reports whether the driver had debug
// forwarding on (log returns false without calling Host.Log otherwise).
func logLine(t *testing.T, owner *enginetest.Node, mod, msg string, h ...enginetest.Header) bool {
	t.Helper()
	r := owner.Do("POST", "/api/engine/v2/modules/"+mod+"/exec/log", fmt.Sprintf(`[%q]`, msg), h...)
	if r.Status != 200 {
		t.Fatalf("log via %s: %d %s", owner.ID, r.Status, r.Body)
	}
	return strings.TrimSpace(r.Body) == "true"
}

// TestClusterDebugFromAnotherNode: debug lines of a module hosted by node B reach WebSocket
// clients on nodes A and C (streamed from B's debugger route); ignore stops them on A only, and
// when the last remote listener leaves B turns forwarding off in the driver.
func TestClusterDebugFromAnotherNode(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	var owners map[string]string
	c.Nodes[0].Eventually(30*time.Second, "every module placed", func() bool {
		owners = c.owners()
		return len(owners) == clusterModules
	})
	// Node A is the first node; the module is the first (by id) that A does not host.
	a := c.Nodes[0]
	ids := slices.Sorted(maps.Keys(owners))
	var mod string
	for _, id := range ids {
		if owners[id] != a.ID {
			mod = id
			break
		}
	}
	if mod == "" {
		t.Fatalf("node %s hosts every module: %v", a.ID, owners)
	}
	b := c.Node(owners[mod])
	var other *enginetest.Node
	for _, n := range c.Live() {
		if n != a && n != b {
			other = n
		}
	}
	t.Logf("module %s on %s; listening on %s and %s", mod, b.ID, a.ID, other.ID)
	if logLine(t, b, mod, "before anyone listens") {
		t.Fatal("debug forwarding is on before anyone asked for it")
	}

	onA := dialControl(t, a)
	onA.debugFrom(9, b, mod)
	logLine(t, b, mod, "second line")
	onA.expectLine(9, mod, "second line")

	// A second listener on another node: both get every line.
	onC := dialControl(t, other)
	onC.send(fmt.Sprintf(`{"id":3,"cmd":"debug","sys":"sys-1","mod":%q,"name":"debug"}`, mod))
	if f := onC.next("debug success"); f != `{"id":3,"type":"success"}` {
		t.Fatalf("debug on %s: %s", other.ID, f)
	}
	// C's stream may attach a moment after its success; lines logged before that reach only A.
	// Each attempt logs a new line (A gets every one) and gives C 300 ms for it, skipping older
	// lines C may still receive first: once C has the newest, nothing more is queued for it.
	var both string
	var loggedAt time.Time
	other.Eventually(frameWithin, "line on "+other.ID, func() bool {
		for {
			f, ok := onC.poll("line " + both)
			if !ok {
				break
			}
			var l debugLine
			if both != "" && json.Unmarshal([]byte(f), &l) == nil && l.Msg == both {
				return true
			}
		}
		if both == "" || time.Since(loggedAt) > 300*time.Millisecond {
			both = fmt.Sprintf("both %d", time.Now().UnixNano())
			loggedAt = time.Now()
			if !logLine(t, b, mod, both) {
				t.Fatal("forwarding went off while two nodes listen")
			}
			onA.expectLine(9, mod, both)
		}
		return false
	})

	// ignore on A: A gets nothing more, C still does, forwarding stays on.
	onA.send(fmt.Sprintf(`{"id":10,"cmd":"ignore","sys":"sys-1","mod":%q,"name":"debug"}`, mod))
	if f := onA.next("ignore success"); f != `{"id":10,"type":"success"}` {
		t.Fatalf("ignore on %s: %s", a.ID, f)
	}
	if !logLine(t, b, mod, "only C") {
		t.Fatal("forwarding went off while C still listens")
	}
	onC.expectLine(3, mod, "only C")
	onA.quiet()

	// C leaves by closing its socket: nobody listens any more, so B turns forwarding off.
	if err := onC.conn.Close(); err != nil {
		t.Fatal(err)
	}
	b.Eventually(15*time.Second, "debug forwarding off after the last listener left", func() bool {
		return !logLine(t, b, mod, "after everyone left")
	})
	onA.quiet()

	// By place, as bind names it (mod-NN is Test_NN of sys-1): A resolves it and streams from B.
	idx, err := strconv.Atoi(strings.TrimPrefix(mod, "mod-"))
	if err != nil {
		t.Fatal(err)
	}
	onA.send(fmt.Sprintf(`{"id":12,"cmd":"debug","sys":"sys-1","mod":"Test","index":%d}`, idx))
	if f := onA.next("debug by name success"); f != `{"id":12,"type":"success"}` {
		t.Fatalf("debug by name on %s: %s", a.ID, f)
	}
	var byName string
	a.Eventually(15*time.Second, "debug forwarding on again", func() bool {
		byName = fmt.Sprintf("by name %d", time.Now().UnixNano())
		return logLine(t, b, mod, byName)
	})
	want := fmt.Sprintf(`{"id":12,"type":"debug","meta":{"sys":"sys-1","mod":"Test","index":%d},"msg":%q,"mod":%q,"level":"info"}`, idx, byName, mod)
	if f := onA.next("line by name"); f != want {
		t.Fatalf("debug line by name on %s: %s\nwant %s", a.ID, f, want)
	}
}
