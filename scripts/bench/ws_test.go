package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
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
	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/subscriptions"
)

// The WebSocket benchmarks (issues 4 and 13):
//
//	go test -run '^$' -bench WS -benchtime 1x -timeout 10m ./scripts/bench/
//
// BenchmarkWSFanout: 1000 sessions bound to one status, 100 changes a second; latency from the
// status change (state.Store.SetStatus on a real Redis) to each client reading the notify,
// against a bare gorilla/websocket hub (wsbHub) broadcasting the same bytes to 1000 clients of
// its own, in the same run. p99-ratio is the engine's p99 ÷ the hub's (issue 13's target:
// ≤ 1.2×). Tunable with WSBENCH_SESSIONS, WSBENCH_RATE and WSBENCH_SECONDS.
//
// BenchmarkWSSessionMemory: what an idle bound session costs the engine's HTTP server, from
// heap and RSS deltas with the clients in another process, extrapolated to sessions per GiB;
// then a session of the bare hub measured the same way. session-mem-ratio is the engine
// session's heap ÷ the bare session's (issue 13's target: ≤ 1.5×).
//
// BenchmarkWSExec (wsexec_test.go): exec over one session against a bare gorilla echo-to-gRPC
// loop.

const (
	wsbSystem = "sys-bench"
	wsbModule = "mod-bench"
	wsbStatus = "power"
	// wsbMeta is what the engine echoes for the bind below; the raw hub sends the same bytes.
	wsbMeta = `{"sys":"sys-bench","mod":"Display","index":1,"name":"power"}`
	wsbBind = `{"id":1,"cmd":"bind","sys":"sys-bench","mod":"Display","index":1,"name":"power"}`
)

func wsbEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// wsbEngine is the engine's WebSocket path in process: the real httpapi.Server, the real
// subscriptions.Manager and state.Store on a real Redis. Engine and Node are stubs: binds
// resolve through the system lookup in Redis, as they do in `engine serve`.
type wsbEngine struct {
	url   string
	store *state.Store
	subs  *subscriptions.Manager
	srv   *httpapi.Server
}

func startWSEngine(b *testing.B) *wsbEngine {
	b.Helper()
	r := testutil.StartRedis(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := hclog.New(&hclog.LoggerOptions{Name: "wsbench", Level: hclog.Warn, Output: os.Stderr})
	st, err := state.New(ctx, state.Options{URL: r.URL, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	subs := subscriptions.New(st, log)
	b.Cleanup(func() { _ = subs.Close() })
	authn, err := auth.New(auth.Config{Disabled: true})
	if err != nil {
		b.Fatal(err)
	}
	srv := httpapi.New(httpapi.Config{Logger: log, Engine: wsbStub{}, Node: wsbStub{}, Auth: authn, Watcher: subs, Addr: "127.0.0.1:0"})
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	if err := st.SetLookup(ctx, wsbSystem, map[string]string{"Display/1": wsbModule}); err != nil {
		b.Fatal(err)
	}
	return &wsbEngine{url: "ws://" + srv.Addr().String() + httpapi.ClientBase + "/systems/control", store: st, subs: subs, srv: srv}
}

var errWSBStub = errkind.New(errkind.NotFound, "not served by the benchmark")

// wsbStub is the engine and node behind the server: it serves nothing, the benchmarks only bind.
type wsbStub struct{}

func (wsbStub) Execute(context.Context, call.Request) (call.Result, error) {
	return call.Result{}, errWSBStub
}
func (wsbStub) Resolve(context.Context, call.Target) (string, error) { return "", errWSBStub }
func (wsbStub) Functions(context.Context, call.Target, auth.Caller) ([]call.Function, error) {
	return nil, errWSBStub
}
func (wsbStub) State(context.Context, call.Target, auth.Caller) (map[string]string, error) {
	return nil, errWSBStub
}
func (wsbStub) StateValue(context.Context, call.Target, auth.Caller, string) (json.RawMessage, bool, error) {
	return nil, false, errWSBStub
}
func (wsbStub) Types(context.Context, string) (map[string]int, error) { return nil, errWSBStub }
func (wsbStub) StartModule(context.Context, string) error             { return errWSBStub }
func (wsbStub) StopModule(context.Context, string) error              { return errWSBStub }
func (wsbStub) ModuleRuntime(context.Context, []*model.Module) ([]call.ModuleRuntime, error) {
	return nil, errWSBStub
}
func (wsbStub) Debug(context.Context, string, func(string, string)) (func(), error) {
	return nil, errWSBStub
}
func (wsbStub) Ready() bool                                    { return true }
func (wsbStub) NotMember() error                               { return nil }
func (wsbStub) NodeStatus(context.Context) (any, error)        { return map[string]any{}, nil }
func (wsbStub) ClusterStatus(context.Context) (any, error)     { return map[string]any{}, nil }
func (wsbStub) Loaded() map[string][]string                    { return nil }
func (wsbStub) DriverStatus(string) (any, bool)                { return nil, false }
func (wsbStub) KillDriver(string) error                        { return errWSBStub }
func (wsbStub) Cluster(context.Context) (any, error)           { return nil, errWSBStub }
func (wsbStub) Pull(context.Context, string) (any, error)      { return nil, errWSBStub }
func (wsbStub) Recompile(context.Context, string) (any, error) { return nil, errWSBStub }

// wsbValue is the status value of change seq, stamped with the time the change was made.
func wsbValue(seq int, at time.Time) []byte {
	return fmt.Appendf(nil, `{"seq":%d,"t":%d}`, seq, at.UnixNano())
}

// wsbParse reads seq and the stamp back out of a notify without a full JSON decode.
func wsbParse(msg []byte) (seq int, at int64, ok bool) {
	i := bytes.Index(msg, []byte(`"seq":`))
	j := bytes.Index(msg, []byte(`,"t":`))
	if i < 0 || j < i {
		return 0, 0, false
	}
	seq, err1 := strconv.Atoi(string(msg[i+6 : j]))
	end := bytes.IndexByte(msg[j:], '}')
	if end < 0 {
		return 0, 0, false
	}
	at, err2 := strconv.ParseInt(string(msg[j+5:j+end]), 10, 64)
	return seq, at, err1 == nil && err2 == nil
}

// wsbClient is one front-end. Its reader records the latency of every change in [from, to].
type wsbClient struct {
	conn *websocket.Conn
	lat  []time.Duration
	err  error
}

// read collects the latencies of changes from..to and returns when it has read change to.
func (c *wsbClient) read(from, to int) {
	c.lat = c.lat[:0]
	if err := c.conn.SetReadDeadline(time.Now().Add(time.Duration(to-from+1)*time.Second/10 + 30*time.Second)); err != nil {
		c.err = err
		return
	}
	// One buffer per client, reused: allocating per message would make the clients' garbage,
	// not the servers, set the tail in a process that hosts both ends.
	var buf bytes.Buffer
	for {
		_, r, err := c.conn.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		now := time.Now().UnixNano()
		if err != nil {
			c.err = err
			return
		}
		seq, at, ok := wsbParse(buf.Bytes())
		if !ok {
			continue // the text heartbeat
		}
		if seq >= from {
			c.lat = append(c.lat, time.Duration(now-at))
		}
		if seq >= to {
			return
		}
	}
}

func wsbDial(b *testing.B, url string, n int, bind bool) []*wsbClient {
	b.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 1024}
	clients := make([]*wsbClient, n)
	for i := range clients {
		conn, _, err := d.Dial(url, nil)
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		clients[i] = &wsbClient{conn: conn}
		if !bind {
			continue
		}
		if err := conn.WriteMessage(websocket.TextMessage, []byte(wsbBind)); err != nil {
			b.Fatal(err)
		}
		// success, then the current value (change 0)
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			b.Fatal(err)
		}
		for _, want := range []string{`"type":"success"`, `"seq":0`} {
			if _, msg, err := conn.ReadMessage(); err != nil || !bytes.Contains(msg, []byte(want)) {
				b.Fatalf("bind %d: %s %v (want %s)", i, msg, err, want)
			}
		}
	}
	return clients
}

// wsbHub is the baseline: a bare gorilla/websocket server in the shape of gorilla's own chat
// example, a reader and a writer goroutine per connection and a bounded queue each, the queue as
// deep as the engine's, the upgrader's buffers as large. Its reader answers every frame it reads
// with wsbHubAnswer (the memory benchmark's clients bind and wait for a success); a session ends
// when its client goes.
type wsbHub struct {
	mu     sync.Mutex
	conns  []chan []byte
	closed bool
	wg     sync.WaitGroup
	srv    *http.Server
	url    string
}

// wsbHubAnswer is the hub's answer to any frame.
var wsbHubAnswer = []byte(`{"id":0,"type":"success"}`)

func startWSHub(b *testing.B) *wsbHub {
	b.Helper()
	h := &wsbHub{}
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}
	h.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		send := make(chan []byte, httpapi.WSQueueSize)
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			_ = conn.Close()
			return
		}
		h.conns = append(h.conns, send)
		h.wg.Add(2)
		h.mu.Unlock()
		go func() {
			defer h.wg.Done()
			for msg := range send {
				if conn.SetWriteDeadline(time.Now().Add(10*time.Second)) != nil || conn.WriteMessage(websocket.TextMessage, msg) != nil {
					break
				}
			}
			_ = conn.Close()
		}()
		go func() {
			defer h.wg.Done()
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					_ = conn.Close()
					h.drop(send)
					return
				}
				h.mu.Lock()
				if !h.closed {
					select {
					case send <- wsbHubAnswer:
					default:
					}
				}
				h.mu.Unlock()
			}
		}()
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = h.srv.Serve(ln) }()
	h.url = "ws://" + ln.Addr().String() + "/"
	b.Cleanup(func() {
		_ = h.srv.Close() // hijacked connections: their writers close them below
		h.mu.Lock()
		h.closed = true
		for _, c := range h.conns {
			close(c)
		}
		h.conns = nil
		h.mu.Unlock()
		h.wg.Wait()
	})
	return h
}

// drop forgets a session whose client went and ends its writer.
func (h *wsbHub) drop(send chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i := slices.Index(h.conns, send); i >= 0 {
		h.conns = slices.Delete(h.conns, i, i+1)
		close(send)
	}
}

func (h *wsbHub) sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// broadcast sends change seq, in the engine's notify bytes, to every connection.
func (h *wsbHub) broadcast(seq int) {
	at := time.Now()
	msg := fmt.Appendf(nil, `{"id":1,"type":"notify","meta":%s,"value":%s}`, wsbMeta, wsbValue(seq, at))
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		select {
		case c <- msg:
		default: // a client this far behind is the benchmark's failure, seen as a missing change
		}
	}
}

// wsbSide is one way of making changes and the clients that receive them.
type wsbSide struct {
	name    string
	clients []*wsbClient
	change  func(seq int) error
	next    int // the next change number
	lat     []time.Duration
	missing int
	cpu     time.Duration // this process's CPU time (servers and clients) while it ran
	wall    time.Duration
}

// wsbCPU is the user and system CPU time of this process so far.
func wsbCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run makes n changes at rate a second and collects every client's latencies; the first warm
// changes only warm up.
func (s *wsbSide) run(b *testing.B, n, warm, rate int) {
	b.Helper()
	from, to := s.next+warm, s.next+n-1
	var wg sync.WaitGroup
	for _, c := range s.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.read(from, to)
		}()
	}
	cpu0 := wsbCPU()
	began := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for seq := s.next; seq <= to; seq++ {
		<-tick.C
		if err := s.change(seq); err != nil {
			b.Fatalf("%s: change %d: %v", s.name, seq, err)
		}
	}
	tick.Stop()
	wg.Wait()
	s.cpu += wsbCPU() - cpu0
	s.wall += time.Since(began)
	s.next = to + 1
	for _, c := range s.clients {
		if c.err != nil {
			b.Fatalf("%s: client: %v", s.name, c.err)
		}
		s.missing += (to - from + 1) - len(c.lat)
		s.lat = append(s.lat, c.lat...)
	}
}

func wsbPct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func wsbDur(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// BenchmarkWSFanout: see the top of this file.
func BenchmarkWSFanout(b *testing.B) {
	runOnce(b, measureFanout)
}

func measureFanout(b *testing.B) (string, []clusterMetric) {
	sessions := wsbEnvInt("WSBENCH_SESSIONS", 1000)
	rate := wsbEnvInt("WSBENCH_RATE", 100)
	seconds := wsbEnvInt("WSBENCH_SECONDS", 10)
	ctx := context.Background()

	eng := startWSEngine(b)
	if _, err := eng.store.SetStatus(ctx, wsbModule, wsbStatus, wsbValue(0, time.Time{})); err != nil {
		b.Fatal(err)
	}
	hub := startWSHub(b)
	engine := &wsbSide{name: "engine: SetStatus → Redis → subscriptions → session", next: 1,
		clients: wsbDial(b, eng.url, sessions, true),
		change: func(seq int) error {
			_, err := eng.store.SetStatus(ctx, wsbModule, wsbStatus, wsbValue(seq, time.Now()))
			return err
		}}
	raw := &wsbSide{name: "bare gorilla/websocket hub", next: 1,
		clients: wsbDial(b, hub.url, sessions, false),
		change:  func(seq int) error { hub.broadcast(seq); return nil }}
	if n := eng.subs.Count(); n != sessions || eng.srv.WSSessions() != sessions {
		b.Fatalf("engine: %d sessions, %d watches; want %d", eng.srv.WSSessions(), n, sessions)
	}
	// The hub registers connections after the handshake.
	testutil.Eventually(b, 10*time.Second, fmt.Sprintf("the hub holding %d sessions", sessions), func() bool {
		return hub.sessions() == sessions
	})

	// Alternate halves so that machine noise hits both sides alike; each half warms up first.
	half := max(rate*seconds/2, 20)
	warm := max(rate/2, 10)
	for range 2 {
		raw.run(b, half+warm, warm, rate)
		engine.run(b, half+warm, warm, rate)
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d sessions bound to one status, %d changes/s, %d changes per side (after warm-up), %d notifies per side\n\n",
		sessions, rate, 2*half, 2*half*sessions)
	fmt.Fprintf(&sb, "| path | p50 | p99 | p99.9 | max | p99 vs bare | missing | CPU (cores) |\n|---|---|---|---|---|---|---|---|\n")
	var rawP99 time.Duration
	var metrics []clusterMetric
	for _, s := range []*wsbSide{raw, engine} {
		slices.Sort(s.lat)
		p50, p99 := wsbPct(s.lat, 0.50), wsbPct(s.lat, 0.99)
		if s == raw {
			rawP99 = p99
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %.2f× | %d | %.2f |\n", s.name, wsbDur(p50), wsbDur(p99),
			wsbDur(wsbPct(s.lat, 0.999)), wsbDur(s.lat[len(s.lat)-1]), float64(p99)/float64(rawP99), s.missing,
			s.cpu.Seconds()/s.wall.Seconds())
		tag := "bare"
		if s == engine {
			tag = "engine"
		}
		metrics = append(metrics,
			clusterMetric{float64(p50) / 1e6, tag + "-p50-ms"},
			clusterMetric{float64(p99) / 1e6, tag + "-p99-ms"})
	}
	ratio := float64(wsbPct(engine.lat, 0.99)) / float64(rawP99)
	metrics = append(metrics, clusterMetric{ratio, "p99-ratio"})
	fmt.Fprintf(&sb, "\nTarget (issue 13) p99 ≤ 1.2× the bare fan-out: %s (%.2f×). The engine's latency includes the Redis round trip (HSET + PUBLISH) and pub/sub delivery, which the bare hub does not make. Clients run in the same process, for both sides alike; CPU is this process's (servers and clients, not redis-server) over the run, on %d cores.\n", verdict(ratio <= 1.2), ratio, runtime.NumCPU())
	if engine.missing > 0 || raw.missing > 0 {
		b.Errorf("notifies missing: engine %d, bare %d", engine.missing, raw.missing)
	}
	return sb.String(), metrics
}

// The idle-session memory benchmark keeps its clients in a child process (this test binary,
// re-run as TestWSBenchClientProcess), so that the heap and RSS measured are the server's only.
const (
	wsbChildURL = "WSBENCH_CHILD_URL"
	wsbChildN   = "WSBENCH_CHILD_SESSIONS"
)

// TestWSBenchClientProcess is the client process of BenchmarkWSSessionMemory and does nothing in
// a normal test run. It opens WSBENCH_CHILD_SESSIONS sessions bound to one status each and then
// obeys stdin: "bind K" binds K more statuses in every session; end of input closes everything.
// It answers each step with "ok" (or "error ...") on stdout.
func TestWSBenchClientProcess(t *testing.T) {
	url := os.Getenv(wsbChildURL)
	if url == "" {
		return // only the memory benchmark runs it, as its child
	}
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		if err := out.Flush(); err != nil {
			t.Errorf("client process: write to the benchmark: %v", err)
		}
	}
	n, err := strconv.Atoi(os.Getenv(wsbChildN))
	if err != nil {
		say("error %s: %v", wsbChildN, err)
		return
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	conns := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	bound := 0
	bind := func(c *websocket.Conn, i, k int) error {
		req := fmt.Sprintf(`{"id":%d,"cmd":"bind","sys":%q,"mod":"Display","index":1,"name":"idle-%d-%d"}`, k+1, wsbSystem, i, k)
		if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			return err
		}
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			return err
		}
		_, msg, err := c.ReadMessage()
		if err == nil && !bytes.Contains(msg, []byte(`"type":"success"`)) {
			err = fmt.Errorf("bind: %s", msg)
		}
		return err
	}
	for i := range n {
		c, _, err := d.Dial(url, nil)
		if err != nil {
			say("error dial %d: %v", i, err)
			return
		}
		conns = append(conns, c)
		if err := bind(c, i, 0); err != nil {
			say("error %v", err)
			return
		}
	}
	bound = 1
	say("ok")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		k, err := strconv.Atoi(strings.TrimPrefix(in.Text(), "bind "))
		if err != nil {
			say("error command %q", in.Text())
			return
		}
		for i, c := range conns {
			for j := bound; j < bound+k; j++ {
				if err := bind(c, i, j); err != nil {
					say("error %v", err)
					return
				}
			}
		}
		bound += k
		say("ok")
	}
}

// wsbChild runs the client process and returns its control pipe.
type wsbChild struct{ *child }

func startWSBChild(b *testing.B, url string, n int) *wsbChild {
	b.Helper()
	c := &wsbChild{startChild(b, "TestWSBenchClientProcess", wsbChildURL+"="+url, wsbChildN+"="+strconv.Itoa(n))}
	c.expectOK(b)
	return c
}

// expectOK waits for the child's answer to its current step.
func (c *wsbChild) expectOK(b *testing.B) {
	b.Helper()
	for c.out.Scan() {
		line := c.out.Text()
		switch {
		case line == "ok":
			return
		case strings.HasPrefix(line, "error"):
			b.Fatalf("client process: %s", line)
		}
		// go test's own output (PASS, ok ...) comes only after the end
	}
	b.Fatalf("client process ended: %v", errors.Join(c.out.Err(), io.ErrUnexpectedEOF))
}

// BenchmarkWSSessionMemory: see the top of this file.
func BenchmarkWSSessionMemory(b *testing.B) {
	runOnce(b, measureSessionMemory)
}

func measureSessionMemory(b *testing.B) (string, []clusterMetric) {
	n := wsbEnvInt("WSBENCH_IDLE_SESSIONS", 4000)
	const extraBinds = 9
	const warm = 50
	eng := startWSEngine(b)
	pid := os.Getpid()
	// A few sessions first, so that pools and maps the first sessions grow are in the baseline.
	engWarm := startWSBChild(b, eng.url, warm)
	heap0, rss0 := inUse(), settledRSS(b, pid)
	child := startWSBChild(b, eng.url, n)
	if eng.srv.WSSessions() != n+warm || eng.subs.Count() != n+warm {
		b.Fatalf("sessions %d, watches %d; want %d", eng.srv.WSSessions(), eng.subs.Count(), n+warm)
	}
	heap1, rss1 := inUse(), settledRSS(b, pid)
	if _, err := fmt.Fprintf(child.stdin, "bind %d\n", extraBinds); err != nil {
		b.Fatal(err)
	}
	child.expectOK(b)
	if want := n*(1+extraBinds) + warm; eng.subs.Count() != want {
		b.Fatalf("watches %d; want %d", eng.subs.Count(), want)
	}
	heap2, rss2 := inUse(), settledRSS(b, pid)
	child.stop()
	engWarm.stop()
	testutil.Eventually(b, 30*time.Second, "the engine's sessions closed", func() bool { return eng.srv.WSSessions() == 0 })

	// The bare session, the same way: a session of the bare hub (see wsbHub), which answers the
	// client's bind with a success and holds nothing for it.
	hub := startWSHub(b)
	hubWarm := startWSBChild(b, hub.url, warm)
	testutil.Eventually(b, 10*time.Second, "the hub holding the warm-up sessions", func() bool { return hub.sessions() == warm })
	debug.FreeOSMemory() // what the engine's sessions freed goes back to the OS, so that RSS can grow again
	bare0, bareRSS0 := inUse(), settledRSS(b, pid)
	bareChild := startWSBChild(b, hub.url, n)
	testutil.Eventually(b, 10*time.Second, "the hub holding every session", func() bool { return hub.sessions() == n+warm })
	bare1, bareRSS1 := inUse(), settledRSS(b, pid)
	bareChild.stop()
	hubWarm.stop()

	heapPer := float64(heap1-heap0) / float64(n)
	rssPer := float64(rss1-rss0) * 1024 / float64(n)
	heapBind := float64(heap2-heap1) / float64(n*extraBinds)
	rssBind := float64(rss2-rss1) * 1024 / float64(n*extraBinds)
	bareHeap := float64(bare1-bare0) / float64(n)
	bareRSS := float64(bareRSS1-bareRSS0) * 1024 / float64(n)
	ratio := heapPer / bareHeap
	per := max(heapPer, rssPer)
	const gib = 1 << 30
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nIdle sessions held by the engine's HTTP server and by a bare gorilla/websocket hub in the same process, one after the other (clients in a separate process; %d sessions measured each)\n\n", n)
	fmt.Fprintf(&sb, "| idle session | Go heap + stacks | vs bare | process RSS |\n|---|---|---|---|\n")
	fmt.Fprintf(&sb, "| bare gorilla/websocket session: reader and writer goroutine, 4 KiB read and write buffers, a %d-slot queue | %.1f KiB | 1.00× | %.1f KiB |\n", httpapi.WSQueueSize, bareHeap/1024, bareRSS/1024)
	fmt.Fprintf(&sb, "| engine session with one binding | %.1f KiB | %.2f× | %.1f KiB |\n", heapPer/1024, ratio, rssPer/1024)
	fmt.Fprintf(&sb, "\nTarget (issue 13) engine session ≤ 1.5× the bare session's heap: %s (%.2f×).\n", verdict(ratio <= 1.5), ratio)
	fmt.Fprintf(&sb, "\n| engine | per session (1 binding) | per extra binding | sessions per GiB (1 binding) | sessions per GiB (10 bindings) |\n|---|---|---|---|---|\n")
	for _, r := range []struct {
		name      string
		sess, bnd float64
	}{{"Go heap + stacks (HeapInuse + StackInuse, after GC)", heapPer, heapBind}, {"process RSS", rssPer, rssBind}} {
		fmt.Fprintf(&sb, "| %s | %.1f KiB | %.2f KiB | %d | %d |\n", r.name, r.sess/1024, r.bnd/1024,
			int(gib/r.sess), int(gib/(r.sess+extraBinds*r.bnd)))
	}
	fmt.Fprintf(&sb, "\nMethod: heap (runtime.MemStats after two GCs) and VmRSS of this process, once settled, before and after opening %d sessions each bound to one status, then after binding %d more statuses in each; the deltas divided by the count. The engine's sessions are closed (and the freed memory returned to the OS, debug.FreeOSMemory) before the bare hub's are measured the same way (the bare session answers the bind with a success and holds nothing for it). Sessions per GiB = 1 GiB / the larger per-session figure, ignoring the node's fixed footprint. Kernel socket memory is not included: an idle socket has empty buffers (each session's send buffer is capped at 64 KiB while a client is slow). RSS comes out below the heap figure when the process reuses memory an earlier benchmark or side freed (run this one alone for RSS); the heap figure is the one to plan with.\n", n, extraBinds)
	return sb.String(), []clusterMetric{
		{heapPer / 1024, "heap-KiB/session"},
		{rssPer / 1024, "rss-KiB/session"},
		{heapBind / 1024, "heap-KiB/binding"},
		{float64(gib) / per, "sessions/GiB"},
		{bareHeap / 1024, "bare-heap-KiB/session"},
		{ratio, "session-mem-ratio"},
	}
}
