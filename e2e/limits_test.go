package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// dialFrom connects from a loopback source address of its own (127.0.0.2, …): one attacking host.
func dialFrom(ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// readyPoller polls GET /api/core/v1/ready from 127.0.0.1, a new connection each time, with a
// generous timeout: it must keep answering 200 through a flood (how fast is not the question).
type readyPoller struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	stop, done chan struct{}
}

func pollReady(addr string) *readyPoller {
	p := &readyPoller{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			resp, err := client.Get("http://" + addr + "/api/core/v1/ready")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("ready answered %d", resp.StatusCode)
				}
			}
			if err != nil {
				p.failed.Add(1)
				p.firstErr.CompareAndSwap(nil, err.Error())
				continue
			}
			p.ok.Add(1)
		}
	}()
	return p
}

func (p *readyPoller) finish(t *testing.T) {
	t.Helper()
	close(p.stop)
	<-p.done
	if n := p.failed.Load(); n > 0 || p.ok.Load() == 0 {
		t.Fatalf("/ready failed %d times, answered %d; first failure: %v", n, p.ok.Load(), p.firstErr.Load())
	}
	t.Logf("/ready answered 200 %d times", p.ok.Load())
}

// Floods against a real node with small limits (flags): a slow-body flood from four hosts and
// then a reconnect flood, while /ready is polled and must keep answering; binds past the limit,
// a bind to a system that does not exist, and sessions past the user's and the node's limits,
// each refused with its PlaceOS code and counted in /metrics.
func TestFloodsAndLimits(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-limits", "systems: [{id: sys-1, name: Lobby}]\n",
		"--auth", "keys", "--api-keys", apiKeysFile(t),
		"--http-max-conns", "32", "--http-max-conns-per-ip", "12", "--http-read-timeout", "1s",
		"--ws-max-binds", "2", "--ws-max-sessions-per-user", "2", "--ws-max-sessions", "3")
	p := pollReady(e.HTTP)

	// Slow bodies: every connection sends an execute's headers and trickles its body.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var answered atomic.Int64
	for h := range 4 {
		for i := range 25 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := dialFrom(fmt.Sprintf("127.0.0.%d", h+2), e.HTTP)
				if err != nil {
					return // refused
				}
				defer conn.Close()
				key := ""
				if i%2 == 0 {
					key = "X-API-Key: " + userKey + "\r\n"
				}
				_, _ = fmt.Fprintf(conn, "POST /api/engine/v2/systems/sys-1/Display_1/power HTTP/1.1\r\nHost: x\r\n%sContent-Length: 100000\r\n\r\n[", key)
				go func() {
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
				_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				if _, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
					answered.Add(1)
				}
				// Then the server must close it, with the body still trickling.
				if _, err := io.Copy(io.Discard, conn); isTimeout(err) {
					t.Error("a trickled body kept its connection open")
				}
			}()
		}
	}
	wg.Wait()
	close(stop)
	if answered.Load() == 0 {
		t.Fatal("no slow-body request was answered")
	}

	// Reconnects: 32 clients on four hosts, each keeping its last four connections open.
	stop = make(chan struct{})
	for h := range 4 {
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var held []net.Conn
				defer func() {
					for _, c := range held {
						_ = c.Close()
					}
				}()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if c, err := dialFrom(fmt.Sprintf("127.0.0.%d", h+2), e.HTTP); err == nil {
						if held = append(held, c); len(held) > 4 {
							_ = held[0].Close()
							held = held[1:]
						}
					}
				}
			}()
		}
	}
	start := p.ok.Load() + p.failed.Load()
	testutil.Eventually(t, 60*time.Second, "100 probes during the reconnect flood", func() bool {
		return p.ok.Load()+p.failed.Load() >= start+100
	})
	close(stop)
	wg.Wait()
	p.finish(t)

	// WebSocket limits.
	ws := "ws" + strings.TrimPrefix(e.Base, "http") + "/api/engine/v2/systems/control?api-key="
	dial := func(key string) (*websocket.Conn, int, string) {
		t.Helper()
		c, resp, err := websocket.DefaultDialer.Dial(ws+key, nil)
		if err == nil {
			t.Cleanup(func() { _ = c.Close() })
			return c, 101, ""
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, resp.StatusCode, string(b)
	}
	// The flood's connections are counted until the server reads their close: the limit may
	// still be reached for a moment.
	var c *websocket.Conn
	var code int
	var body string
	testutil.Eventually(t, 10*time.Second, "the flood's connections counted out", func() bool {
		c, code, body = dial(userKey)
		return code != 503
	})
	if code != 101 {
		t.Fatalf("session: %d %s", code, body)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	ask := func(req string) string {
		t.Helper()
		if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			t.Fatal(err)
		}
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	bind := `{"id": %d, "cmd": "bind", "sys": %q, "mod": "Display", "index": 1, "name": %q}`
	for i, name := range []string{"power", "volume"} {
		if got := ask(fmt.Sprintf(bind, i+1, "sys-1", name)); !strings.Contains(got, `"type":"success"`) {
			t.Fatalf("bind %s: %s", name, got)
		}
	}
	if got := ask(fmt.Sprintf(bind, 3, "sys-1", "input")); got != `{"id":3,"type":"error","code":429,"error_code":1,"msg":"too many bindings: a session may hold 2"}` {
		t.Fatalf("a third bind: %s", got)
	}
	if got := ask(fmt.Sprintf(bind, 4, "sys-1", "power")); !strings.Contains(got, `"type":"success"`) {
		t.Fatalf("rebinding a bound key: %s", got)
	}
	if got := ask(`{"id": 5, "cmd": "unbind", "sys": "sys-1", "mod": "Display", "index": 1, "name": "volume"}`); got != `{"id":5,"type":"success"}` {
		t.Fatalf("unbind: %s", got)
	}
	if got := ask(fmt.Sprintf(bind, 6, "sys-nope", "power")); !strings.HasPrefix(got, `{"id":6,"type":"error","code":404,"error_code":5,"msg":"could not find system sys-nope`) {
		t.Fatalf("a bind to a system that does not exist: %s", got)
	}
	if _, code, body := dial(userKey); code != 101 {
		t.Fatalf("the user's second session: %d %s", code, body)
	}
	if _, code, body := dial(userKey); code != 429 || !strings.Contains(body, `"error":"bad_request"`) {
		t.Fatalf("the user's third session: %d %s", code, body)
	}
	if _, code, body := dial(supportKey); code != 101 {
		t.Fatalf("another user's session: %d %s", code, body)
	}
	if _, code, body := dial(adminKey); code != 429 || !strings.Contains(body, "on this node") {
		t.Fatalf("a fourth session on the node: %d %s", code, body)
	}

	// The session gauge moves just after the upgrade's answer: wait for it.
	var r enginetest.Response
	testutil.Eventually(t, 10*time.Second, "three sessions in /metrics", func() bool {
		r = e.Do("GET", "/metrics", "", enginetest.APIKey(adminKey))
		return strings.Contains(r.Body, "engine_websocket_sessions 3\n")
	})
	for _, want := range []string{
		`engine_websocket_refused_total{limit="binds_per_session"} 1`,
		`engine_websocket_refused_total{limit="sessions_per_user"} 1`,
		`engine_websocket_refused_total{limit="sessions_per_node"} 1`,
	} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	refused := 0.0
	for _, line := range strings.Split(r.Body, "\n") {
		if rest, ok := strings.CutPrefix(line, "engine_http_connections_refused_total{"); ok {
			var v float64
			_, _ = fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v)
			refused += v
		}
	}
	if refused == 0 {
		t.Error("/metrics counts no refused connection")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
