package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/metrics"
)

// keyAuth authenticates X-API-Key "key-<user>" as that user (support clearance) and refuses
// anything else; the open routes (/, ready, authority) still answer anonymous callers.
func keyAuth(c *Config) {
	c.Auth = fakeAuth{fn: func(r *http.Request) (auth.Caller, error) {
		user, ok := strings.CutPrefix(r.Header.Get(auth.APIKeyHeader), "key-")
		if !ok {
			user, ok = strings.CutPrefix(r.URL.Query().Get(auth.APIKeyParam), "key-")
		}
		if !ok || user == "" {
			return auth.Caller{}, auth.ErrUnauthenticated
		}
		return auth.Caller{UserID: user, Clearance: auth.ClearanceSupport}, nil
	}}
}

// liveServer is a harness served on a real loopback listener, closed at the end of the test.
func liveServer(t *testing.T, opts ...func(*Config)) (*harness, string) {
	t.Helper()
	hs := newHarness(t, append([]func(*Config){func(c *Config) { c.Addr = "127.0.0.1:0" }}, opts...)...)
	if err := hs.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.srv.Close(ctx)
	})
	return hs, hs.srv.Addr().String()
}

// dialFrom connects to addr from a loopback source address of its own (127.0.0.2, …), so that a
// test can play several remote hosts.
func dialFrom(ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// prober polls GET /api/core/v1/ready from 127.0.0.1 on a fresh connection each time, as an
// orchestrator does, with a generous timeout: the point is that it answers, not how fast.
type prober struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstErr   error
	stop       chan struct{}
	done       chan struct{}
}

func startProber(addr string) *prober {
	p := &prober{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).DialContext}}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			err := probeOnce(client, addr)
			if err != nil {
				p.failed.Add(1)
				p.mu.Lock()
				if p.firstErr == nil {
					p.firstErr = err
				}
				p.mu.Unlock()
			} else {
				p.ok.Add(1)
			}
		}
	}()
	return p
}

func probeOnce(client *http.Client, addr string) error {
	resp, err := client.Get("http://" + addr + NodeBase + "/ready")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ready answered %d %s", resp.StatusCode, body)
	}
	return nil
}

// finish stops the prober and fails t unless every probe answered 200.
func (p *prober) finish(t *testing.T) {
	t.Helper()
	close(p.stop)
	<-p.done
	if n := p.failed.Load(); n > 0 {
		t.Fatalf("/ready failed %d times (answered %d); first: %v", n, p.ok.Load(), p.firstErr)
	}
	if p.ok.Load() == 0 {
		t.Fatal("/ready was never polled")
	}
	t.Logf("/ready answered 200 %d times during the flood", p.ok.Load())
}

// A slow-body flood: 100 connections from four hosts send the headers of an execute and then
// trickle the body. The unauthenticated ones are answered 401 and closed at once (nothing is
// drained), the authenticated ones end at the read timeout, the connection limits refuse the
// rest, and /ready answers throughout.
func TestSlowBodyFlood(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	_, addr := liveServer(t, keyAuth, func(c *Config) {
		c.Metrics, c.MaxConns, c.MaxConnsPerIP, c.ReadTimeout = m, 32, 12, time.Second
	})
	p := startProber(addr)

	type outcome struct {
		status string // the response's status line, "" when none came
		closed bool   // the server closed the connection after it
	}
	const hosts, perHost = 4, 25
	results := make(chan outcome, hosts*perHost)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for h := range hosts {
		for i := range perHost {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := dialFrom(fmt.Sprintf("127.0.0.%d", h+2), addr)
				if err != nil {
					results <- outcome{}
					return
				}
				defer conn.Close()
				key := ""
				if i%2 == 0 {
					key = "X-API-Key: key-attacker\r\n"
				}
				_, _ = fmt.Fprintf(conn, "POST %s/systems/sys-1/Display_1/power HTTP/1.1\r\nHost: x\r\n%sContent-Length: 100000\r\n\r\n[", ClientBase, key)
				go func() { // the trickle: one byte every 50 ms until the server hangs up
					tick := time.NewTicker(50 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							if _, err := conn.Write([]byte(" ")); err != nil {
								return
							}
						}
					}
				}()
				_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				r := bufio.NewReader(conn)
				status, err := r.ReadString('\n')
				if err != nil {
					results <- outcome{}
					return
				}
				_, err = io.Copy(io.Discard, r)
				results <- outcome{status: strings.TrimSpace(status), closed: err == nil || !isTimeout(err)}
			}()
		}
	}
	wg.Wait()
	close(stop)
	p.finish(t)
	close(results)
	counts := map[string]int{}
	for o := range results {
		if o.status != "" && !o.closed {
			t.Fatalf("%q: the server kept the connection of a trickled body open", o.status)
		}
		counts[o.status]++
	}
	t.Logf("outcomes: %v", counts)
	if counts["HTTP/1.1 401 Unauthorized"] == 0 || counts["HTTP/1.1 400 Bad Request"] == 0 {
		t.Fatalf("want both 401 (unauthenticated, closed at once) and 400 (read timeout): %v", counts)
	}
	testutil.Eventually(t, 10*time.Second, "every connection closed", func() bool {
		return metricValue(t, m, "engine_http_connections") == 0
	})
	refused := 0.0
	for _, r := range metrics.ConnRefusedReasons {
		v, _ := m.Value(`engine_http_connections_refused_total{reason="` + r + `"}`)
		refused += v
	}
	if refused == 0 {
		t.Error("no connection was refused")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A reconnect flood: 32 clients on four hosts connect as fast as they can, each keeping its
// last four connections open without sending a request. /ready answers throughout, and once the
// flood stops every connection is released.
func TestReconnectFlood(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	hs, addr := liveServer(t, func(c *Config) { c.Metrics, c.MaxConns, c.MaxConnsPerIP = m, 16, 8 })
	l := limiterOf(hs)
	refused := func() float64 {
		n := 0.0
		for _, r := range metrics.ConnRefusedReasons {
			v, _ := m.Value(`engine_http_connections_refused_total{reason="` + r + `"}`)
			n += v
		}
		return n
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var dials atomic.Int64
	for h := range 4 {
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				holdConns(t, l, fmt.Sprintf("127.0.0.%d", h+2), 4, "", stop, &dials)
			}()
		}
	}
	// Probes start once the flood is being refused, and it runs until /ready has been polled
	// 100 times through it.
	testutil.Eventually(t, 30*time.Second, "the flood at the limits", func() bool { return refused() >= 100 })
	p := startProber(addr)
	testutil.Eventually(t, 60*time.Second, "100 probes during the flood", func() bool { return p.ok.Load()+p.failed.Load() >= 100 })
	close(stop)
	wg.Wait()
	p.finish(t)
	t.Logf("%d connections dialled, %v refused", dials.Load(), refused())
	testutil.Eventually(t, 10*time.Second, "every connection closed", func() bool {
		return metricValue(t, m, "engine_http_connections") == 0
	})
}

// Past the connection limit a probe is still served, on the reserve, and then the connection is
// closed; any other request there gets 503. A host at its own limit is refused outright. (The
// connections held are busy: an idle one would be closed for the newcomer, connlimit_test.go.)
func TestConnLimitProbeReserve(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	hs, addr := liveServer(t, func(c *Config) { c.Metrics, c.MaxConns, c.MaxConnsPerIP = m, 4, 2 })
	for _, ip := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"} {
		busyConn(t, ip, addr)
	}
	waitConns(t, limiterOf(hs), 4, 0)
	// The refusal is a reset, which may arrive before the dial returns.
	if c, err := dialFrom("127.0.0.2", addr); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("a third connection from one host was not refused: %d %v", n, err)
		}
		c.Close()
	}
	if v, _ := m.Value(`engine_http_connections_refused_total{reason="per_ip"}`); v != 1 {
		t.Fatalf("per_ip refusals %v, want 1", v)
	}

	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Get("http://" + addr + NodeBase + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("ready on the reserve: %d, close %v", resp.StatusCode, resp.Close)
	}
	resp, err = client.Get("http://" + addr + ClientBase + "/systems/sys-1/types")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"error":"unavailable"`) || resp.Header.Get(RequestIDHeader) == "" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a non-probe on the reserve: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if v, _ := m.Value(`engine_http_connections_refused_total{reason="busy"}`); v != 1 {
		t.Fatalf("busy refusals %v, want 1", v)
	}
}

// The listener's admission rules for busy connections (each serving a request, so none may be
// closed for room; connlimit_test.go has the idle ones), with a reserve small enough to fill: a
// host's share first, then the limit, then the reserve (a share of it per host), then refusal.
// A connection on the reserve cannot outlive its short life whatever deadline it is given.
func TestConnLimiterAdmission(t *testing.T) {
	t.Parallel()
	l, m, accepted := acceptingLimiter(t, 2, 3, func(l *connLimiter) {
		l.reserve, l.reservePerIP, l.probeLife = 2, 1, 300*time.Millisecond
	}, func(lc *limitedConn) {
		lc.l.setIdle(lc, false) // as the server does once a request's headers are read
	})
	refused := func(reason string) float64 {
		v, _ := m.Value(`engine_http_connections_refused_total{reason="` + reason + `"}`)
		return v
	}
	steps := []struct {
		from  string
		want  string // "normal", "spare", or the refusal reason
		spare int    // reserve connections open after the step
	}{
		{"127.0.0.2", "normal", 0},
		{"127.0.0.2", "normal", 0},
		{"127.0.0.2", "spare", 1}, // over the limit: the reserve
		{"127.0.0.2", metrics.ConnRefusedPerIP, 1},
		{"127.0.0.3", "spare", 2},
		{"127.0.0.4", metrics.ConnRefusedLimit, 2}, // the reserve is full
	}
	var spareConn *limitedConn
	for i, s := range steps {
		before := refused(s.want)
		c, err := dialFrom(s.from, l.Addr().String())
		if err == nil {
			defer c.Close()
		} else if s.want == "normal" || s.want == "spare" {
			t.Fatalf("step %d: %v", i, err)
		} // else the refusal's reset arrived before the dial returned
		switch s.want {
		case "normal", "spare":
			select {
			case lc := <-accepted:
				if lc.spare != (s.want == "spare") {
					t.Fatalf("step %d: spare %v, want %s", i, lc.spare, s.want)
				}
				if lc.spare && spareConn == nil {
					spareConn = lc
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("step %d: not accepted", i)
			}
		default:
			testutil.Eventually(t, 10*time.Second, "refusal counted", func() bool { return refused(s.want) == before+1 })
		}
		if _, _, spare := l.open(); spare != s.spare {
			t.Fatalf("step %d: %d on the reserve, want %d", i, spare, s.spare)
		}
	}
	// The reserve connection's life is bounded even when the server clears its deadline.
	_ = spareConn.SetReadDeadline(time.Time{})
	read := make(chan error, 1)
	go func() { _, err := spareConn.Read(make([]byte, 1)); read <- err }()
	select {
	case err := <-read:
		if !isTimeout(err) {
			t.Fatalf("read on a reserve connection past its life: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a reserve connection outlived its life")
	}
	_ = spareConn.Close()
	_ = spareConn.Close() // twice is harmless and counted once
	if _, _, spare := l.open(); spare != 1 {
		t.Fatalf("after closing one, %d on the reserve", spare)
	}
}

// An unread body is not drained: a request refused before its body was read (401 without
// credentials, 413 by Content-Length) is answered and the connection closed at once, even though
// the client is still sending and the read timeout is an hour away.
func TestUnreadBodyNotDrained(t *testing.T) {
	t.Parallel()
	_, addr := liveServer(t, keyAuth, func(c *Config) { c.ReadTimeout = time.Hour; c.MaxBodyBytes = 1000 })
	exec := ClientBase + "/systems/sys-1/Display_1/power"
	for name, tc := range map[string]struct {
		path, head string
		want       int
	}{
		"401 with a length":  {exec, "Content-Length: 500\r\n\r\n[1,", 401},
		"401 chunked":        {exec, "Transfer-Encoding: chunked\r\n\r\n10\r\n[1,", 401},
		"413 by its length":  {exec, "X-API-Key: key-u\r\nContent-Length: 5000\r\n\r\n[1,", 413},
		"413 as it is read":  {exec, "X-API-Key: key-u\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + strings.Repeat("1", 2000) + "\r\n10\r\n[", 413},
		"404 on a bad route": {"/nope", "X-API-Key: key-u\r\nContent-Length: 500\r\n\r\n[1,", 404},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n%s", tc.path, tc.head)
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			_, rerr := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || rerr != nil || !resp.Close {
				t.Fatalf("%d (close %v, %v), want %d and the connection closed", resp.StatusCode, resp.Close, rerr, tc.want)
			}
			if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
				t.Fatalf("the connection stayed open: %v", err)
			}
		})
	}
}

// A body the handler reads to its end keeps the connection alive for the next request.
func TestReadBodyKeepsConnection(t *testing.T) {
	t.Parallel()
	_, addr := liveServer(t)
	client := &http.Client{Timeout: 15 * time.Second}
	var reused []bool
	for range 3 {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) },
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+ClientBase+"/systems/sys-1/Display_1/power", strings.NewReader("[true]"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("execute: %d", resp.StatusCode)
		}
	}
	if len(reused) != 3 || !reused[1] || !reused[2] {
		t.Fatalf("connection reuse: %v", reused)
	}
}

// An execute may take longer than the read timeout (the timeout bounds reading the request, not
// serving it), and a WebSocket session outlives both the read and the write timeout.
func TestTimeoutsSpareLongRequests(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t, func(c *Config) {
		// A pong interval long enough for this client to answer each heartbeat's ping under load
		// (at 100 ms the race detector on 2 cores had it dropped as silent).
		c.ReadTimeout, c.WriteTimeout, c.WSPongInterval = 200*time.Millisecond, time.Second, 400*time.Millisecond
	})
	env.hs.eng.mu.Lock()
	env.hs.eng.execFn = func(ctx context.Context, _ call.Request) (call.Result, error) {
		select { // a device that takes a while to answer, longer than the read timeout
		case <-time.After(500 * time.Millisecond):
			return call.Result{Value: json.RawMessage(`"done"`), Code: 200}, nil
		case <-ctx.Done():
			return call.Result{}, ctx.Err()
		}
	}
	env.hs.eng.mu.Unlock()
	addr := env.hs.srv.Addr().String()
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Post("http://"+addr+ClientBase+"/systems/sys-1/Display_1/slow", "", strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `"done"` {
		t.Fatalf("a slow execute: %d %s", resp.StatusCode, body)
	}

	c := env.dial(t)
	for range 4 { // a second and a half of periodic pongs: past both timeouts
		c.expect("pong")
	}
	c.send(`{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`)
	c.expect(`{"id":1,"type":"success","meta":` + meta1 + `}`)
}

// Binds past the session's limit are refused with bad_request and code 429, counted once each;
// rebinding a key already bound does not count, and an unbind makes room.
func TestWSBindLimit(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	env := newWSEnv(t, func(c *Config) { c.WSMaxBinds, c.Metrics = 3, m })
	c := env.dial(t)
	bind := func(id int, name string) string {
		return fmt.Sprintf(`{"id":%d,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":%q}`, id, name)
	}
	meta := func(name string) string { return `{"sys":"sys-1","mod":"Display","index":1,"name":"` + name + `"}` }
	for i, name := range []string{"a", "b", "c"} {
		c.send(bind(i+1, name))
		c.expect(`{"id":` + fmt.Sprint(i+1) + `,"type":"success","meta":` + meta(name) + `}`)
	}
	c.send(bind(4, "d"))
	c.expect(`{"id":4,"type":"error","code":429,"error_code":1,"msg":"too many bindings: a session may hold 3"}`)
	c.send(bind(5, "a")) // already bound: not a new binding
	c.expect(`{"id":5,"type":"success","meta":` + meta("a") + `}`)
	c.send(`{"id":6,"cmd":"unbind","sys":"sys-1","mod":"Display","index":1,"name":"b"}`)
	c.expect(`{"id":6,"type":"success"}`)
	c.send(bind(7, "d"))
	c.expect(`{"id":7,"type":"success","meta":` + meta("d") + `}`)
	c.send(bind(8, "e"))
	c.expect(`{"id":8,"type":"error","code":429,"error_code":1,"msg":"too many bindings: a session may hold 3"}`)
	c.quiet()
	if n := env.subs.Count(); n != 3 {
		t.Fatalf("watches = %d, want 3", n)
	}
	if v, _ := m.Value(`engine_websocket_refused_total{limit="binds_per_session"}`); v != 2 {
		t.Fatalf("refusals counted %v, want 2", v)
	}
	if got := metricValue(t, m, "engine_websocket_bindings"); got != 3 {
		t.Fatalf("bindings gauge %v, want 3", got)
	}
}

// Debug streams past the session's limit are refused with bad_request and code 429, counted
// once each, whatever the request names: the same module by id under new indexes (which the
// session keys apart) attached one stream each — on a non-owner node, one cluster-port connection
// each — until a red team's session held thousands. An ignore makes room.
func TestWSDebugLimit(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	env := newWSEnv(t, func(c *Config) { c.WSMaxDebugs, c.Metrics = 3, m })
	c := env.dial(t)
	debug := func(id, index int) string {
		return fmt.Sprintf(`{"id":%d,"cmd":"debug","mod":"mod-1","index":%d}`, id, index)
	}
	for i := 1; i <= 3; i++ {
		c.send(debug(i, i))
		c.expect(`{"id":` + fmt.Sprint(i) + `,"type":"success"}`)
	}
	c.send(debug(4, 4))
	c.expect(`{"id":4,"type":"error","code":429,"error_code":1,"msg":"too many debug streams: a session may hold 3"}`)
	c.send(debug(5, 1)) // already attached: not a new stream
	c.expect(`{"id":5,"type":"success"}`)
	c.send(`{"id":6,"cmd":"ignore","mod":"mod-1","index":2}`)
	c.expect(`{"id":6,"type":"success"}`)
	c.send(debug(7, 4))
	c.expect(`{"id":7,"type":"success"}`)
	c.send(`{"id":8,"cmd":"debug","sys":"sys-1","mod":"Display","index":2}`)
	c.expect(`{"id":8,"type":"error","code":429,"error_code":1,"msg":"too many debug streams: a session may hold 3"}`)
	c.quiet()
	if n := env.dbg.listeners(); n != 3 {
		t.Fatalf("debug streams attached = %d, want 3", n)
	}
	if v, _ := m.Value(`engine_websocket_refused_total{limit="debugs_per_session"}`); v != 2 {
		t.Fatalf("refusals counted %v, want 2", v)
	}
}

// A bind to a system that does not exist is error 5 (code 404) and binds nothing; a module not
// (yet) in an existing system still binds.
func TestWSBindUnknownSystem(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	c := env.dial(t)
	c.send(`{"id":1,"cmd":"bind","sys":"sys-nope","mod":"Display","index":1,"name":"power"}`)
	c.expect(`{"id":1,"type":"error","code":404,"error_code":5,"msg":"could not find system sys-nope"}`)
	c.send(`{"id":2,"cmd":"bind","sys":"sys-empty","mod":"Display","index":1,"name":"power"}`)
	c.expect(`{"id":2,"type":"success","meta":{"sys":"sys-empty","mod":"Display","index":1,"name":"power"}}`)
	c.quiet()
	if n := env.subs.Count(); n != 1 {
		t.Fatalf("watches = %d, want 1", n)
	}
}

// wsDialStatus opens a session with the given key and returns it, or the refusal's status and
// body.
func wsDialStatus(t *testing.T, url, key string) (*websocket.Conn, int, string) {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url+"?api-key="+key, nil)
	if err == nil {
		t.Cleanup(func() { _ = conn.Close() })
		return conn, http.StatusSwitchingProtocols, ""
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return nil, resp.StatusCode, string(body)
}

// Sessions past a user's limit, and past the node's, are refused before the upgrade with 429
// and the REST error body; each refusal is counted, and a closed session makes room again.
func TestWSSessionLimits(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	env := newWSEnv(t, keyAuth, func(c *Config) { c.WSMaxSessionsPerUser, c.WSMaxSessions, c.Metrics = 2, 3, m })
	a1, code, _ := wsDialStatus(t, env.url, "key-ann")
	_, code2, _ := wsDialStatus(t, env.url, "key-ann")
	if code != 101 || code2 != 101 {
		t.Fatalf("ann's first two sessions: %d %d", code, code2)
	}
	_, code, body := wsDialStatus(t, env.url, "key-ann")
	if code != 429 || body != `{"error":"bad_request","message":"too many WebSocket sessions for user \"ann\" (limit 2)"}` {
		t.Fatalf("ann's third session: %d %s", code, body)
	}
	if _, code, _ := wsDialStatus(t, env.url, "key-bob"); code != 101 {
		t.Fatalf("bob's session: %d", code)
	}
	_, code, body = wsDialStatus(t, env.url, "key-cat")
	if code != 429 || body != `{"error":"bad_request","message":"too many WebSocket sessions on this node (limit 3)"}` {
		t.Fatalf("a fourth session on the node: %d %s", code, body)
	}
	if _, code, _ := wsDialStatus(t, env.url, "nobody"); code != 401 {
		t.Fatalf("without credentials: %d", code) // authentication still comes first
	}
	for limit, want := range map[string]float64{metrics.WSLimitUserSessions: 1, metrics.WSLimitNodeSessions: 1, metrics.WSLimitBinds: 0} {
		if v, _ := m.Value(`engine_websocket_refused_total{limit="` + limit + `"}`); v != want {
			t.Errorf("%s refusals %v, want %v", limit, v, want)
		}
	}
	_ = a1.Close()
	testutil.Eventually(t, 10*time.Second, "a place for cat once ann closed one", func() bool {
		conn, code, _ := wsDialStatus(t, env.url, "key-cat")
		if conn != nil {
			_ = conn.Close()
		}
		return code == 101
	})
	testutil.Eventually(t, 10*time.Second, "every place free again", func() bool {
		env.hs.srv.ws.mu.Lock()
		defer env.hs.srv.ws.mu.Unlock()
		return env.hs.srv.ws.places == 2 && env.hs.srv.ws.perUser["ann"] == 1 && env.hs.srv.ws.perUser["cat"] == 0
	})
}

// Under --auth none every caller is the same anonymous admin: only the node's limit applies.
func TestWSSessionLimitsAuthNone(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t, func(c *Config) { c.WSMaxSessionsPerUser, c.WSMaxSessions = 1, 2 })
	env.dial(t)
	env.dial(t)
	if _, code, _ := wsDialStatus(t, env.url, "x"); code != 429 {
		t.Fatalf("a third session: %d, want 429", code)
	}
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Debug})
}

// A client still sending a body the server will not read (here 9 MiB against the 8 MiB limit)
// reads the answer: the connection is closed gracefully, not reset under it.
func TestRefusedBodyAnswerReadable(t *testing.T) {
	t.Parallel()
	_, addr := liveServer(t)
	big := `["` + strings.Repeat("x", 9<<20) + `"]`
	client := &http.Client{Timeout: 15 * time.Second}
	for range 10 {
		resp, err := client.Post("http://"+addr+ClientBase+"/systems/sys-1/Display_1/power", "", strings.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d, want 413", resp.StatusCode)
		}
	}
}
