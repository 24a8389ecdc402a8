package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/metrics"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/subscriptions"
)

// wsEnv is a served engine over fake modules, with real Redis behind the Watcher.
type wsEnv struct {
	hs    *harness
	url   string
	store *state.Store
	subs  *subscriptions.Manager
	redis *testutil.Redis
	dbg   *fakeDebugger
}

func newWSEnv(t *testing.T, opts ...func(*Config)) *wsEnv {
	t.Helper()
	r := testutil.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Debug})
	st, err := state.New(ctx, state.Options{URL: r.URL, Logger: log, IdleTimeout: 200 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	m := subscriptions.New(st, log)
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	env := &wsEnv{store: st, subs: m, redis: r, dbg: &fakeDebugger{}}
	env.hs = newHarness(t, append([]func(*Config){func(c *Config) {
		c.Watcher = m
		c.Addr = "127.0.0.1:0"
	}}, opts...)...)
	env.hs.eng.debugFn = env.dbg.Debug
	if err := env.hs.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := env.hs.srv.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	env.url = "ws://" + env.hs.srv.Addr().String() + ClientBase + "/systems/control"
	if err := st.SetLookup(ctx, "sys-1", map[string]string{"Display/1": "mod-1", "Display/2": "mod-2", "_Logic/1": "mod-l"}); err != nil {
		t.Fatal(err)
	}
	return env
}

func (e *wsEnv) set(t *testing.T, mod, name, val string) {
	t.Helper()
	var v []byte
	if val != "" {
		v = []byte(val)
	}
	if _, err := e.store.SetStatus(context.Background(), mod, name, v); err != nil {
		t.Fatal(err)
	}
}

type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func (e *wsEnv) dial(t *testing.T, hdr ...string) *wsClient {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	conn, resp, err := websocket.DefaultDialer.Dial(e.url, h)
	if err != nil {
		if resp != nil {
			t.Fatalf("dial: %v (HTTP %d)", err, resp.StatusCode)
		}
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) read() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return string(b)
}

// expect reads the next message and compares it byte for byte (the golden shape).
func (c *wsClient) expect(want string) {
	c.t.Helper()
	if got := c.read(); got != want {
		c.t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// quiet proves nothing else is queued: a ping's pong comes next.
func (c *wsClient) quiet() {
	c.t.Helper()
	c.send("ping")
	c.expect("pong")
}

type fakeDebugger struct {
	mu    sync.Mutex
	fns   map[string]func(level, msg string)
	count int
}

func (d *fakeDebugger) Debug(_ context.Context, moduleID string, fn func(level, msg string)) (func(), error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// As core: a module id the model lacks is refused (here every id but mod-none is one).
	if moduleID == "mod-none" || !strings.HasPrefix(moduleID, "mod-") {
		return nil, errkind.Wrap(errkind.NotFound, nil, "could not find module %q", moduleID)
	}
	if d.fns == nil {
		d.fns = map[string]func(string, string){}
	}
	d.fns[moduleID] = fn
	d.count++
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.fns, moduleID)
		d.count--
	}, nil
}

func (d *fakeDebugger) emit(mod, level, msg string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn := d.fns[mod]
	if fn == nil {
		return false
	}
	fn(level, msg)
	return true
}

func (d *fakeDebugger) listeners() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count
}

const meta1 = `{"sys":"sys-1","mod":"Display","index":1,"name":"power"}`

func TestWSBindNotifyUnbind(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	env.set(t, "mod-1", "power", "true")
	c := env.dial(t)
	c.send("ping")
	c.expect("pong")

	c.send(`{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`)
	c.expect(`{"id":1,"type":"success","meta":` + meta1 + `}`)
	c.expect(`{"id":1,"type":"notify","meta":` + meta1 + `,"value":true}`)

	// Changes in order, a delete as null.
	env.set(t, "mod-1", "power", "false")
	env.set(t, "mod-1", "power", `{"a":[1,2]}`)
	env.set(t, "mod-1", "power", "")
	c.expect(`{"id":1,"type":"notify","meta":` + meta1 + `,"value":false}`)
	c.expect(`{"id":1,"type":"notify","meta":` + meta1 + `,"value":{"a":[1,2]}}`)
	c.expect(`{"id":1,"type":"notify","meta":` + meta1 + `,"value":null}`)

	// Rebinding answers success and does not duplicate; notifies keep the first id.
	c.send(`{"id":2,"cmd":"BIND","sys":"sys-1","mod":"Display","index":1,"name":"power"}`)
	c.expect(`{"id":2,"type":"success","meta":` + meta1 + `}`)
	env.set(t, "mod-1", "power", "1")
	c.expect(`{"id":1,"type":"notify","meta":` + meta1 + `,"value":1}`)
	c.quiet()
	if n := env.subs.Count(); n != 1 {
		t.Fatalf("watches = %d", n)
	}

	c.send(`{"id":3,"cmd":"unbind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`)
	c.expect(`{"id":3,"type":"success"}`)
	env.set(t, "mod-1", "power", "2")
	c.quiet()
	if n := env.subs.Count(); n != 0 {
		t.Fatalf("watches after unbind = %d", n)
	}
	// Unbinding what is not bound is still success.
	c.send(`{"id":4,"cmd":"unbind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`)
	c.expect(`{"id":4,"type":"success"}`)
}

func TestWSMetaEchoedVerbatim(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	c := env.dial(t)
	// No index: the default is echoed. Escapes are echoed as sent.
	c.send(`{"id":7,"cmd":"bind","sys":"sys-1","mod":"Disp\u006cay","name":"input"}`)
	c.expect(`{"id":7,"type":"success","meta":{"sys":"sys-1","mod":"Disp\u006cay","index":1,"name":"input"}}`)
	env.set(t, "mod-1", "input", `"hdmi"`)
	c.expect(`{"id":7,"type":"notify","meta":{"sys":"sys-1","mod":"Disp\u006cay","index":1,"name":"input"},"value":"hdmi"}`)
}

func TestWSBindModuleAddedLater(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	env.set(t, "mod-9", "power", "true")
	c := env.dial(t)
	m := `{"sys":"sys-1","mod":"Camera","index":1,"name":"power"}`
	c.send(`{"id":1,"cmd":"bind","sys":"sys-1","mod":"Camera","index":1,"name":"power"}`)
	c.expect(`{"id":1,"type":"success","meta":` + m + `}`)
	c.quiet()
	if err := env.store.SetLookup(context.Background(), "sys-1", map[string]string{"Display/1": "mod-1", "Camera/1": "mod-9"}); err != nil {
		t.Fatal(err)
	}
	c.expect(`{"id":1,"type":"notify","meta":` + m + `,"value":true}`)
}

func TestWSBindSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	env.set(t, "mod-1", "power", "true")
	c := env.dial(t)
	c.send(`{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`)
	c.expect(`{"id":1,"type":"success","meta":` + meta1 + `}`)
	c.expect(`{"id":1,"type":"notify","meta":` + meta1 + `,"value":true}`)
	env.redis.Restart(t)
	testutil.Eventually(t, 10*time.Second, "redis up", env.store.Connected)
	// The restarted Redis lost the system lookup too: the binding waits for it, and follows it
	// when the owner rebuilds it. The re-read after the restart may come between the lookup's
	// rebuild and the status's: then it says what Redis has, no value (null), and the status
	// follows.
	if err := env.store.SetLookup(context.Background(), "sys-1", map[string]string{"Display/1": "mod-1"}); err != nil {
		t.Fatal(err)
	}
	env.set(t, "mod-1", "power", "false")
	got := c.read()
	if got == `{"id":1,"type":"notify","meta":`+meta1+`,"value":null}` {
		got = c.read()
	}
	if want := `{"id":1,"type":"notify","meta":` + meta1 + `,"value":false}`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestWSExec: an exec goes through the engine's execute for the session's caller, and every
// refusal comes back in the WebSocket error shape with its PlaceOS code.
func TestWSExec(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t, as(auth.ClearanceSupport))
	env.hs.eng.execFn = func(_ context.Context, req call.Request) (call.Result, error) {
		switch req.Function {
		case "nope":
			return call.Result{}, errkind.Wrap(errkind.BadRequest, nil, "could not find function nope")
		case "volume":
			return call.Result{}, errkind.Wrap(errkind.BadRequest, nil, "argument 'level' for 'volume' must be integer, got string")
		case "secret":
			return call.Result{}, errkind.Wrap(errkind.Forbidden, nil, "attempted to access privileged function secret")
		case "raise":
			return call.Result{}, &errkind.DriverError{Class: "IOError", Message: "socket closed"}
		}
		return call.Result{Value: json.RawMessage(`{"ok":true}`), Code: 200}, nil
	}
	c := env.dial(t)
	m := func(name string) string {
		return `{"sys":"sys-1","mod":"Display","index":1,"name":"` + name + `"}`
	}
	tests := []struct{ req, want string }{
		{`{"id":1,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"power","args":[true]}`,
			`{"id":1,"type":"success","meta":` + m("power") + `,"value":{"ok":true},"code":200}`},
		{`{"id":2,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"nope","args":[]}`,
			`{"id":2,"type":"error","code":400,"error_code":1,"msg":"could not find function nope"}`},
		{`{"id":3,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"volume","args":["x"]}`,
			`{"id":3,"type":"error","code":400,"error_code":1,"msg":"argument 'level' for 'volume' must be integer, got string"}`},
		{`{"id":4,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"secret"}`,
			`{"id":4,"type":"error","code":403,"error_code":2,"msg":"attempted to access privileged function secret"}`},
		{`{"id":5,"cmd":"exec","sys":"sys-nope","mod":"Display","index":1,"name":"power","args":[true]}`,
			`{"id":5,"type":"error","code":404,"error_code":5,"msg":"could not find system sys-nope"}`},
		{`{"id":6,"cmd":"exec","sys":"sys-1","mod":"Display","index":9,"name":"power","args":[true]}`,
			`{"id":6,"type":"error","code":404,"error_code":6,"msg":"could not find module Display_9 in system sys-1"}`},
		{`{"id":7,"cmd":"exec","sys":"sys-1","mod":"Display","name":"raise"}`,
			`{"id":7,"type":"error","code":500,"error_code":3,"msg":"socket closed (IOError)"}`},
	}
	for _, tt := range tests {
		c.send(tt.req)
		c.expect(tt.want)
	}
	got := env.hs.eng.lastCall(t)
	if got.Caller != (auth.Caller{UserID: "u-1", Clearance: auth.ClearanceSupport}) || got.RequestID == "" || got.Timeout != 0 {
		t.Fatalf("the engine got %+v", got)
	}
}

func TestWSBadRequests(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	c := env.dial(t)
	tests := []struct{ req, want string }{
		{`not json`, `{"id":0,"type":"error","code":400,"error_code":0,"msg":"request: invalid character 'o' in literal null (expecting 'u') at offset 1"}`},
		{`{"id":3,"cmd":"exec","sys":"s","mod":"m","name":"n","args":[tru`, `{"id":0,"type":"error","code":400,"error_code":0,"msg":"request: unexpected end of JSON input at offset 63"}`},
		{`[1,2]`, `{"id":0,"type":"error","code":400,"error_code":0,"msg":"request is not a JSON object"}`},
		{`{"cmd":"bind"}`, `{"id":0,"type":"error","code":400,"error_code":0,"msg":"id is required"}`},
		{`{"id":"x","cmd":"bind"}`, `{"id":0,"type":"error","code":400,"error_code":0,"msg":"id must be an integer"}`},
		{`{"id":5,"cmd":"jump","sys":"s","mod":"m","name":"n"}`, `{"id":5,"type":"error","code":400,"error_code":4,"msg":"unknown command \"jump\""}`},
		{`{"id":6,"cmd":"bind","sys":"s","mod":"m"}`, `{"id":6,"type":"error","code":400,"error_code":0,"msg":"name is required"}`},
		{`{"id":7,"cmd":"bind","sys":"s","mod":"m","name":"n","extra":1}`, `{"id":7,"type":"error","code":400,"error_code":0,"msg":"unknown field \"extra\""}`},
		{`{"id":8,"cmd":"bind","sys":"s","mod":"m","name":"n","index":"1"}`, `{"id":8,"type":"error","code":400,"error_code":0,"msg":"index must be an integer"}`},
		{`{"id":9,"cmd":"exec","sys":"s","mod":"m","name":"n","args":5}`, `{"id":9,"type":"error","code":400,"error_code":0,"msg":"args must be an array (or an object of named arguments)"}`},
	}
	for _, tt := range tests {
		c.send(tt.req)
		c.expect(tt.want)
	}
}

func TestWSDebug(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	c := env.dial(t)
	dm := `{"sys":"sys-1","mod":"mod-1","index":1,"name":"debug"}`
	c.send(`{"id":1,"cmd":"debug","sys":"sys-1","mod":"mod-1","index":1,"name":"debug"}`)
	c.expect(`{"id":1,"type":"success"}`)
	if !env.dbg.emit("mod-1", "INFO", "sent: PWR1") {
		t.Fatal("no debug listener")
	}
	c.expect(`{"id":1,"type":"debug","meta":` + dm + `,"msg":"sent: PWR1","mod":"mod-1","level":"info"}`)
	// A second debug reuses the stream.
	c.send(`{"id":2,"cmd":"debug","sys":"sys-1","mod":"mod-1","index":1,"name":"debug"}`)
	c.expect(`{"id":2,"type":"success"}`)
	if env.dbg.listeners() != 1 {
		t.Fatalf("listeners = %d", env.dbg.listeners())
	}
	c.send(`{"id":3,"cmd":"ignore","sys":"sys-1","mod":"mod-1","index":1,"name":"debug"}`)
	c.expect(`{"id":3,"type":"success"}`)
	if env.dbg.listeners() != 0 {
		t.Fatalf("listeners after ignore = %d", env.dbg.listeners())
	}
	c.send(`{"id":4,"cmd":"debug","sys":"sys-1","mod":"mod-none","index":1,"name":"debug"}`)
	c.expect(`{"id":4,"type":"error","code":404,"error_code":6,"msg":"could not find module mod-none_1 in system sys-1"}`)
	// The short form (docs/protocol.md §7: mod carries the module id) works too; meta echoes what was sent.
	c.send(`{"id":5,"cmd":"debug","mod":"mod-1"}`)
	c.expect(`{"id":5,"type":"success"}`)
	if !env.dbg.emit("mod-1", "WARN", "no answer") {
		t.Fatal("no debug listener for the short form")
	}
	c.expect(`{"id":5,"type":"debug","meta":{"mod":"mod-1","index":1},"msg":"no answer","mod":"mod-1","level":"warn"}`)
}

// debug takes what bind takes: a system with a module name and index (lines carry the module
// id) besides a module id; whatever names no module is refused with bind's codes, not answered
// with a success that streams nothing.
func TestWSDebugForms(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	c := env.dial(t)
	c.send(`{"id":1,"cmd":"debug","sys":"sys-1","mod":"Display","index":2}`)
	c.expect(`{"id":1,"type":"success"}`)
	if !env.dbg.emit("mod-2", "ERROR", "no reply") {
		t.Fatal("debug by name did not attach to mod-2")
	}
	c.expect(`{"id":1,"type":"debug","meta":{"sys":"sys-1","mod":"Display","index":2},"msg":"no reply","mod":"mod-2","level":"error"}`)
	c.send(`{"id":2,"cmd":"ignore","sys":"sys-1","mod":"Display","index":2}`)
	c.expect(`{"id":2,"type":"success"}`)
	if env.dbg.listeners() != 0 {
		t.Fatalf("listeners after ignore = %d", env.dbg.listeners())
	}
	// A module id with any system (PlaceOS clients send the one they show).
	c.send(`{"id":3,"cmd":"debug","sys":"sys-other","mod":"mod-1"}`)
	c.expect(`{"id":3,"type":"success"}`)
	for _, tc := range []struct{ req, want string }{
		{`{"id":4,"cmd":"debug","sys":"sys-nope","mod":"Display","index":1}`, `{"id":4,"type":"error","code":404,"error_code":5,"msg":"could not find system sys-nope"}`},
		{`{"id":5,"cmd":"debug","sys":"sys-1","mod":"Projector","index":1}`, `{"id":5,"type":"error","code":404,"error_code":6,"msg":"could not find module Projector_1 in system sys-1"}`},
		{`{"id":6,"cmd":"debug","sys":"sys-1","mod":"Display","index":3}`, `{"id":6,"type":"error","code":404,"error_code":6,"msg":"could not find module Display_3 in system sys-1"}`},
		{`{"id":7,"cmd":"debug","sys":"sys-1","mod":"Display","index":0}`, `{"id":7,"type":"error","code":400,"error_code":0,"msg":"index must be 1 or more"}`},
		{`{"id":8,"cmd":"debug","mod":"Display"}`, `{"id":8,"type":"error","code":404,"error_code":6,"msg":"could not find module \"Display\""}`},
	} {
		c.send(tc.req)
		c.expect(tc.want)
	}
	if env.dbg.listeners() != 1 {
		t.Fatalf("listeners = %d, want the module id's only", env.dbg.listeners())
	}
}

func TestWSCloseReleasesEverything(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	c := env.dial(t)
	for i := 1; i <= 5; i++ {
		c.send(fmt.Sprintf(`{"id":%d,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"s%d"}`, i, i))
		c.read()
	}
	c.send(`{"id":9,"cmd":"debug","sys":"sys-1","mod":"mod-1","index":1,"name":"debug"}`)
	c.expect(`{"id":9,"type":"success"}`)
	if env.subs.Count() != 5 || env.dbg.listeners() != 1 || env.hs.srv.WSSessions() != 1 {
		t.Fatalf("before close: watches %d, debug %d, sessions %d", env.subs.Count(), env.dbg.listeners(), env.hs.srv.WSSessions())
	}
	_ = c.conn.Close()
	testutil.Eventually(t, 10*time.Second, "release", func() bool {
		return env.subs.Count() == 0 && env.dbg.listeners() == 0 && env.hs.srv.WSSessions() == 0
	})
}

// holdExec makes the engine answer every exec with the function's name, holding those of
// function fn until release is called.
func (e *wsEnv) holdExec(fn string) (release func()) {
	held := make(chan struct{})
	e.hs.eng.mu.Lock()
	defer e.hs.eng.mu.Unlock()
	e.hs.eng.execFn = func(ctx context.Context, req call.Request) (call.Result, error) {
		if req.Function == fn {
			select {
			case <-held:
			case <-ctx.Done():
				return call.Result{}, ctx.Err()
			}
		}
		return call.Result{Value: json.RawMessage(`"` + req.Function + `"`), Code: 200}, nil
	}
	return sync.OnceFunc(func() { close(held) })
}

// TestWSConcurrentExec: a slow exec does not hold up a fast one on the same socket.
func TestWSConcurrentExec(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	release := env.holdExec("reboot")
	c := env.dial(t)
	c.send(`{"id":1,"cmd":"exec","sys":"sys-1","mod":"Display","name":"reboot","args":[]}`)
	c.send(`{"id":2,"cmd":"exec","sys":"sys-1","mod":"Display","name":"power","args":[true]}`)
	c.expect(`{"id":2,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"power"},"value":"power","code":200}`)
	release()
	c.expect(`{"id":1,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"reboot"},"value":"reboot","code":200}`)
}

// TestWSPeriodicPong: the heartbeat's "pong" comes every WSPongInterval. Each heartbeat also
// drops a client that has not answered the last one's ping, and this client answers it only when
// its next read runs: an interval of 50 ms dropped it under load (race detector, 2 cores).
func TestWSPeriodicPong(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t, func(c *Config) { c.WSPongInterval = 500 * time.Millisecond })
	c := env.dial(t)
	c.expect("pong")
	c.expect("pong")
}

// TestWSSlowClientDisconnected: a client that never reads is dropped while 100 others keep
// receiving every change.
func TestWSSlowClientDisconnected(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	env := newWSEnv(t, func(c *Config) { c.WSQueueSize = 64; c.Metrics = m })
	env.set(t, "mod-1", "power", "0")
	bind := `{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`

	// The slow client reads nothing, and its socket buffers are tiny so the server's writes
	// block quickly and the session's queue fills.
	small := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		// Before connect, so the advertised window stays small.
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024)
		})
	}}
	dialer := websocket.Dialer{NetDialContext: small.DialContext}
	slow, _, err := dialer.Dial(env.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.WriteMessage(websocket.TextMessage, []byte(bind)); err != nil {
		t.Fatal(err)
	}

	const n = 100
	clients := make([]*wsClient, n)
	for i := range clients {
		clients[i] = env.dial(t)
		clients[i].send(bind)
		clients[i].read() // success
		clients[i].read() // current value
	}
	testutil.Eventually(t, 10*time.Second, "all bound", func() bool { return env.subs.Count() == n+1 })
	big := `"` + strings.Repeat("x", 4000) + `"`
	const changes = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= changes; i++ {
				_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, b, err := c.conn.ReadMessage()
				if err != nil {
					errs <- err
					return
				}
				if !strings.Contains(string(b), fmt.Sprintf(`"value":[%d,`, i)) {
					errs <- fmt.Errorf("change %d: got %.60s", i, b)
					return
				}
			}
		}()
	}
	// Paced like a busy device (a few hundred changes a second), not a tight loop: the point is
	// the slow client, not whether this process can read 100 sockets at full speed.
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	for i := 1; i <= changes; i++ {
		<-tick.C
		env.set(t, "mod-1", "power", fmt.Sprintf("[%d,%s]", i, big))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "slow client dropped", func() bool { return env.hs.srv.WSSessions() == n })
	if got := metricValue(t, m, "engine_websocket_slow_disconnects_total"); got != 1 {
		t.Fatalf("slow disconnects counted: %v, want 1", got)
	}
}
