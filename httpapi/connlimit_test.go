package httpapi

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

	"golang.org/x/sys/unix"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/metrics"
)

// busyConn opens a connection from ip whose request is being served: the headers of an execute
// are sent and its body withheld, so the handler waits for it (until the read timeout). finish
// sends the rest of the body.
func busyConn(t *testing.T, ip, addr string) (c net.Conn, finish func() error) {
	t.Helper()
	c, err := dialFrom(ip, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := fmt.Fprintf(c, "POST %s/systems/sys-1/Display_1/power HTTP/1.1\r\nHost: %s\r\nContent-Length: 6\r\n\r\n[", ClientBase, testHost); err != nil {
		t.Fatal(err)
	}
	return c, func() error { _, err := c.Write([]byte("true]")); return err }
}

// holdConns connects from ip to l as fast as l accepts until stop, sending each connection
// payload (and never more), and keeps the last keep connections open; it closes them at the end.
// It dials only while fewer than floodQueued connections wait in l's accept queue: a client's
// close does not take its connection out of that queue, so flooders closing and dialling at
// will, on a machine whose CPUs the server does not get, fill it (somaxconn), and the kernel
// then drops every SYN, a probe's too, which retries after 1, 2, 4, 8 s: past its timeout.
func holdConns(t *testing.T, l *connLimiter, ip string, keep int, payload string, stop <-chan struct{}, dials *atomic.Int64) {
	addr := l.Addr().String()
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
		if acceptQueue(t, l) >= floodQueued {
			time.Sleep(time.Millisecond)
			continue
		}
		c, err := dialFrom(ip, addr)
		if err != nil {
			continue
		}
		dials.Add(1)
		if payload != "" {
			_, _ = c.Write([]byte(payload))
		}
		held = append(held, c)
		if len(held) > keep {
			_ = held[0].Close()
			held = held[1:]
		}
	}
}

// floodQueued bounds the accept queue a flood fills: far over what the server accepts in a
// moment (it never waits for the flood), far under somaxconn (4096 by default).
const floodQueued = 64

// acceptQueue is how many connections wait in l's accept queue: what TCP_INFO of a listening
// socket gives in place of its unacknowledged segments. It fails t from any goroutine (Errorf)
// and says 0 when the kernel does not tell.
func acceptQueue(t *testing.T, l *connLimiter) int {
	tl, ok := l.Listener.(*net.TCPListener)
	if !ok {
		t.Errorf("the limiter's listener is a %T, not a TCP listener", l.Listener)
		return 0
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		t.Errorf("the listener's socket: %v", err)
		return 0
	}
	var info *unix.TCPInfo
	cerr := rc.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if cerr != nil || err != nil {
		if !errors.Is(cerr, net.ErrClosed) {
			t.Errorf("TCP_INFO of the listener: %v %v", cerr, err)
		}
		return 0
	}
	return int(info.Unacked)
}

// acceptingLimiter is a limiter on a loopback listener, closed at the end of the test, set up by
// setup before it accepts; its accepted connections are handed to serve and then sent on the
// channel returned.
func acceptingLimiter(t *testing.T, max, perIP int, setup func(*connLimiter), serve func(*limitedConn)) (*connLimiter, *metrics.Metrics, chan *limitedConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	l := newConnLimiter(ln, max, perIP, m, testLogger(t))
	t.Cleanup(func() { _ = l.Close() })
	setup(l)
	accepted := make(chan *limitedConn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			lc := c.(*limitedConn)
			serve(lc)
			accepted <- lc
		}
	}()
	return l, m, accepted
}

// limiterOf is the connection limiter of a started server without TLS.
func limiterOf(hs *harness) *connLimiter {
	hs.srv.mu.Lock()
	defer hs.srv.mu.Unlock()
	return hs.srv.ln.(*connLimiter)
}

// waitConns waits until the limiter holds open normal connections, idle of them idle.
func waitConns(t *testing.T, l *connLimiter, open, idle int) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, fmt.Sprintf("%d connections open, %d idle", open, idle), func() bool {
		n, i, _ := l.open()
		return n == open && i == idle
	})
}

// A slowloris flood (the red team's: connections that send half a request header and wait)
// from four addresses, each keeping far more connections than the listener takes, does not lock
// anyone out: a client elsewhere that sends its request at once gets 200 every time, requests in
// progress on the flood's own addresses are not cut, and /ready answers throughout. Before
// idle connections could be closed for room, the flood held every place and the client got 503s
// from the probe reserve, or resets.
func TestHalfOpenFloodServesClients(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	hs, addr := liveServer(t, func(c *Config) {
		c.Metrics, c.MaxConns, c.MaxConnsPerIP, c.ReadTimeout = m, 128, 64, time.Minute
	})
	l := limiterOf(hs)
	var finish []func() error
	var busy []net.Conn
	for i := range 4 {
		c, f := busyConn(t, fmt.Sprintf("127.0.0.%d", 2+i%2), addr)
		busy, finish = append(busy, c), append(finish, f)
	}
	waitConns(t, l, 4, 0)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var dials atomic.Int64
	for h := range 4 {
		wg.Add(1)
		go func() { // each address keeps 100 half-sent requests, the listener takes 128 in all
			defer wg.Done()
			holdConns(t, l, fmt.Sprintf("127.0.0.%d", h+2), 100, "GET / HTTP/1.1\r\nHost: x\r\n", stop, &dials)
		}()
	}
	turnedAway := func(reasons ...string) float64 {
		n := 0.0
		for _, r := range reasons {
			v, _ := m.Value(`engine_http_connections_refused_total{reason="` + r + `"}`)
			n += v
		}
		return n
	}
	testutil.Eventually(t, 30*time.Second, "the flood at the limits", func() bool {
		return turnedAway(metrics.ConnRefusedReasons...) >= 200
	})
	p := startProber(addr)
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).DialContext}}
	for i := range 50 {
		resp, err := client.Get("http://" + addr + ClientBase + "/systems/sys-1/types")
		if err != nil {
			t.Fatalf("request %d during the flood: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d during the flood: %d %s", i, resp.StatusCode, body)
		}
	}
	p.finish(t)
	close(stop)
	wg.Wait()
	t.Logf("%d half-open connections dialled, %v closed for room", dials.Load(), turnedAway(metrics.ConnEvicted))

	// The requests in progress were not cut: their bodies complete and are answered.
	for i, c := range busy {
		if err := finish[i](); err != nil {
			t.Fatalf("busy connection %d was closed: %v", i, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		status, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
			t.Fatalf("busy connection %d after the flood: %q %v", i, status, err)
		}
		_ = c.Close()
	}
	testutil.Eventually(t, 10*time.Second, "every connection closed", func() bool {
		return metricValue(t, m, "engine_http_connections") == 0
	})
}

// The listener's rules for idle connections, step by step: at the limit the oldest idle
// connection of the address holding the most is closed for a newcomer; a busy connection never
// is, nor an address's last idle one; an address at its own limit gives up its own oldest.
func TestConnLimiterClosesIdleForRoom(t *testing.T) {
	t.Parallel()
	l, m, accepted := acceptingLimiter(t, 4, 3, func(l *connLimiter) { l.reserve, l.reservePerIP = 1, 1 }, func(lc *limitedConn) {
		go func() { // the server waiting on its client, closing when the client does
			if _, err := lc.Read(make([]byte, 1)); err != nil {
				_ = lc.Close()
			}
		}()
	})
	type client struct {
		net.Conn
		lc *limitedConn
	}
	dial := func(ip string) client {
		t.Helper()
		c, err := dialFrom(ip, l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		select {
		case lc := <-accepted:
			testutil.Eventually(t, 10*time.Second, "the server reading", lc.waiting.Load)
			return client{c, lc}
		case <-time.After(10 * time.Second):
			t.Fatalf("a connection from %s was not accepted", ip)
			return client{}
		}
	}
	closed := func(c client) bool {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err)
	}
	count := func(reason string) float64 {
		v, _ := m.Value(`engine_http_connections_refused_total{reason="` + reason + `"}`)
		return v
	}

	a1, a2, a3 := dial("127.0.0.2"), dial("127.0.0.2"), dial("127.0.0.2")
	b1 := dial("127.0.0.3")
	l.setIdle(b1.lc, false)
	c1 := dial("127.0.0.4") // at the limit: .2 holds the most idle, its oldest goes
	if !closed(a1) || count(metrics.ConnEvicted) != 1 {
		t.Fatalf("the oldest idle connection of the biggest holder was not closed (evicted %v)", count(metrics.ConnEvicted))
	}
	a4 := dial("127.0.0.2") // .2 again: still the biggest holder, pays for itself
	if !closed(a2) {
		t.Fatal("the second oldest of .2 was not closed")
	}
	l.setIdle(a3.lc, false)
	l.setIdle(a4.lc, false)
	// Busy a3 a4 b1 and idle c1, .4's only one: nothing may be closed, the newcomer takes the reserve.
	d1 := dial("127.0.0.5")
	if !d1.lc.spare {
		t.Fatal("with no idle connection to spare, the newcomer was not put on the reserve")
	}
	if n, idle, spare := l.open(); n != 4 || idle != 1 || spare != 1 {
		t.Fatalf("open %d idle %d spare %d", n, idle, spare)
	}
	// .2 at its own limit (three) gives up its oldest idle one, even a busy address's last.
	l.setIdle(a3.lc, true)
	_ = c1.Close()
	testutil.Eventually(t, 10*time.Second, "c1's place free", func() bool { n, _, _ := l.open(); return n == 3 })
	a5 := dial("127.0.0.2")
	a6 := dial("127.0.0.2")
	if !closed(a3) || a5.lc.spare || a6.lc.spare {
		t.Fatal(".2 at its limit did not give up its own idle connection")
	}
	if v := count(metrics.ConnEvicted); v != 3 {
		t.Fatalf("%v closed for room, want 3", v)
	}
	// Busy connections were never closed: the server still reads what a4 sends.
	if _, err := a4.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the server reading a4's byte", func() bool { return !a4.lc.waiting.Load() })
	l.mu.Lock()
	defer l.mu.Unlock()
	if a4.lc.released || b1.lc.released {
		t.Fatal("a busy connection was closed for room")
	}
}
