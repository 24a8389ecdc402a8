package httpapi

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/addrkey"
	"github.com/placeos-go/engine/metrics"
)

// Connection limits (docs/protocol.md §6.1). Defaults of Config.MaxConns and the probe reserve.
const (
	// DefaultMaxConns bounds the API listener's open connections, WebSocket sessions included.
	// It is lowered at start to fit the process's open-files limit (see fdBudget).
	DefaultMaxConns = 16384
	// probeReserve connections may be admitted beyond MaxConns, at most probeReservePerIP from one
	// remote address; they serve one liveness or readiness probe each and nothing else.
	probeReserve      = 64
	probeReservePerIP = 4
	// probeConnLife bounds the whole life of a connection on the probe reserve: every deadline
	// on it is clamped to this long after it was accepted.
	probeConnLife = 5 * time.Second
	// fdReserve descriptors are left to everything but the API listener (Raft, Redis, driver
	// processes, repositories, log files); a quarter of the limit when the limit is small.
	fdReserve = 1024
)

// connLimiter is the API listener with its connection limits. It never blocks Accept on a limit:
// a connection past a limit is closed at once (with a reset, so it leaves nothing in TIME_WAIT),
// which keeps the kernel's accept queue drained, so a probe queued behind a flood is reached.
//
// A connection is idle while no request is being served on it: from its accept until its first
// request's headers are read (a slow TLS handshake or request header included), and again
// between keep-alive requests (http.Server.ConnState tells which, see connState). An idle
// connection holds a place without using it, and holding one costs a client nothing (no
// credentials, a few bytes every few seconds), so idle connections do not keep newcomers out:
// where a limit would refuse a newcomer, an idle connection is closed to make room for it
// instead, as nginx drains its reusable connections — the oldest of the address holding the
// most (see evict and connList.oldest). A flood of half-open connections from a few addresses
// thus pays for its own room, and a client elsewhere that sends its request promptly is served.
// Busy connections (a request being served, a WebSocket session) are never closed for room.
//
// Admission, in order: a remote address (an IPv4 address or an IPv6 /64) holding perIP
// connections gives up its oldest idle one, or is refused ("per_ip") if it has none; below max
// the connection is admitted; at max an idle connection of the biggest holder is closed for it
// ("evicted"); with none to spare it may take one of reserve slots (at most reservePerIP per
// address), where it is served one probe (GET / or /api/core/v1/ready) within probeLife and
// closed, and any other request gets 503; when the reserve is full too it is refused ("limit").
type connLimiter struct {
	net.Listener
	max, perIP, reserve, reservePerIP int
	probeLife                         time.Duration
	met                               *metrics.Metrics
	log                               hclog.Logger

	mu     sync.Mutex
	normal int
	spare  int
	byAddr map[string]*addrConns
	idle   int      // idle connections
	addrs  addrHeap // the addresses holding idle connections, the one holding most first
	ticks  uint64   // idle transitions so far: the order of connections becoming idle

	lastWarn atomic.Int64 // unix nanoseconds of the last "connection limit" log line
}

type addrConns struct {
	all, spare int
	idle       connList // this address's idle connections, oldest first
	at         int      // its index in connLimiter.addrs, -1 when it holds no idle connection
}

func newConnLimiter(ln net.Listener, max, perIP int, met *metrics.Metrics, log hclog.Logger) *connLimiter {
	return &connLimiter{
		Listener: ln, max: max, perIP: perIP, reserve: probeReserve, reservePerIP: probeReservePerIP,
		probeLife: probeConnLife, met: met, log: log, byAddr: map[string]*addrConns{},
	}
}

// Accept returns the next connection within the limits, closing those past them.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc, evicted, reason := l.admit(c)
		if evicted != nil {
			// A plain close: an idle keep-alive client sees the end of a connection it may
			// reuse, which HTTP clients retry on a new one.
			_ = evicted.Conn.Close()
			l.met.AddHTTPConnections(-1)
			l.met.HTTPConnRefused(metrics.ConnEvicted)
			l.warn(metrics.ConnEvicted, evicted.RemoteAddr())
		}
		if lc != nil {
			l.met.AddHTTPConnections(1)
			return lc, nil
		}
		l.met.HTTPConnRefused(reason)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		l.warn(reason, c.RemoteAddr())
	}
}

// admit places c within the limits, or says why it cannot (the refusal reason). It may close an
// idle connection for room: that one is returned, already released, for the caller to close.
func (l *connLimiter) admit(c net.Conn) (lc, evicted *limitedConn, reason string) {
	key := addrkey.Of(c.RemoteAddr())
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddr[key]
	if a == nil {
		a = &addrConns{at: -1}
	}
	lc = &limitedConn{Conn: c, l: l, key: key}
	if a.all >= l.perIP {
		if evicted = a.idle.oldest(); evicted == nil {
			return nil, nil, metrics.ConnRefusedPerIP
		}
		l.releaseLocked(evicted) // a place of this address, and of the listener
	}
	switch {
	case l.normal < l.max:
		l.normal++
	case evicted == nil && l.evict(&evicted): // (not nil: the address's place was the listener's too)
		l.normal++
	case l.spare < l.reserve && a.spare < l.reservePerIP:
		l.spare++
		a.spare++
		lc.spare, lc.until = true, time.Now().Add(l.probeLife)
		_ = c.SetDeadline(lc.until)
	default:
		return nil, evicted, metrics.ConnRefusedLimit
	}
	a.all++
	l.byAddr[key] = a
	if !lc.spare {
		l.setIdleLocked(lc, a, true)
	}
	return lc, evicted, ""
}

// evict releases an idle connection to make room for a newcomer, and reports whether there was
// one: one of the address holding the most idle connections, so that a flood pays for its own
// room and a client elsewhere is not closed for it. An address's last idle connection is never
// taken for another address (its request may be on the way: a client holds one connection
// while it waits for a flood to let it in), so a flood from a few addresses is always the one
// to pay; a flood from as many addresses as there are places, one connection each, is refused as
// before. l.mu is held.
func (l *connLimiter) evict(c **limitedConn) bool {
	if len(l.addrs) == 0 || l.addrs[0].idle.n < 2 {
		return false
	}
	*c = l.addrs[0].idle.oldest()
	l.releaseLocked(*c)
	return true
}

func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	done := l.releaseLocked(c)
	l.mu.Unlock()
	if done {
		l.met.AddHTTPConnections(-1)
	}
}

// releaseLocked gives c's place back, once (a connection evicted is released then, and again
// when the server closes it); l.mu is held.
func (l *connLimiter) releaseLocked(c *limitedConn) bool {
	if c.released {
		return false
	}
	c.released = true
	a := l.byAddr[c.key]
	l.setIdleLocked(c, a, false)
	if c.spare {
		l.spare--
		a.spare--
	} else {
		l.normal--
	}
	if a.all--; a.all == 0 {
		delete(l.byAddr, c.key)
	}
	return true
}

// setIdle marks c idle (closable for room) or busy, as the HTTP server reports it.
func (l *connLimiter) setIdle(c *limitedConn, idle bool) {
	l.mu.Lock()
	if !c.released && !c.spare {
		l.setIdleLocked(c, l.byAddr[c.key], idle)
	}
	l.mu.Unlock()
}

func (l *connLimiter) setIdleLocked(c *limitedConn, a *addrConns, idle bool) {
	switch {
	case c.idle == idle:
		return
	case idle:
		l.ticks++
		c.idleSince = l.ticks
		l.idle++
		a.idle.push(c)
	default:
		l.idle--
		a.idle.remove(c)
	}
	c.idle = idle
	l.addrs.update(a)
}

// connState is http.Server.ConnState: a connection is busy from the moment its request's headers
// are read until the server waits for the next request (or for ever, once hijacked by a
// WebSocket upgrade).
func connState(c net.Conn, state http.ConnState) {
	lc := limitedOf(c)
	if lc == nil {
		return
	}
	switch state {
	case http.StateActive, http.StateHijacked:
		lc.l.setIdle(lc, false)
	case http.StateIdle:
		lc.l.setIdle(lc, true)
	}
}

// open is the number of connections admitted and not yet closed: normal ones (idle among them)
// and those on the reserve.
func (l *connLimiter) open() (normal, idle, spare int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.normal, l.idle, l.spare
}

// warn logs refusals at most every ten seconds: a flood must not flood the log as well.
func (l *connLimiter) warn(reason string, remote net.Addr) {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(10*time.Second) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	normal, idle, spare := l.open()
	l.log.Warn("HTTP connection limit reached: refusing new connections, or closing idle ones for them (counted in engine_http_connections_refused_total)",
		"reason", reason, "remote", remote.String(), "open", normal, "idle", idle, "probe_reserve_open", spare,
		"max_conns", l.max, "max_conns_per_ip", l.perIP)
}

// limitedConn is an admitted connection; closing it frees its place. A connection on the probe
// reserve keeps every deadline at or before its end of life, whatever the HTTP server asks for.
type limitedConn struct {
	net.Conn
	l     *connLimiter
	key   string
	spare bool
	until time.Time
	// Under l.mu: released (its place given back), idle (in its address's idle list).
	released, idle bool
	prev, next     *limitedConn // in its address's idle list
	idleSince      uint64       // the limiter's count of idle transitions when this one became idle
	// waiting: a Read is under way, the server waits on the client.
	waiting atomic.Bool
	// writeBy is the write deadline in force (zero: none), under writeMu.
	writeMu sync.Mutex
	writeBy time.Time
}

func (c *limitedConn) Read(b []byte) (int, error) {
	c.waiting.Store(true)
	n, err := c.Conn.Read(b)
	c.waiting.Store(false)
	return n, err
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.l.release(c)
	return err
}

func (c *limitedConn) clamp(t time.Time) time.Time {
	if c.spare && (t.IsZero() || t.After(c.until)) {
		return c.until
	}
	return t
}

func (c *limitedConn) SetDeadline(t time.Time) error {
	t = c.clamp(t)
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.writeBy = t
	return c.Conn.SetDeadline(t)
}
func (c *limitedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// SetWriteDeadline leaves the deadline in force when t is less than a second later: every
// response and every WebSocket message sets one (now + a timeout of minutes or seconds), and
// each set costs a timer update in the runtime; a deadline up to a second early is as good.
func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	t = c.clamp(t)
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if !t.IsZero() && !c.writeBy.IsZero() && !t.Before(c.writeBy) && t.Sub(c.writeBy) < time.Second {
		return nil
	}
	c.writeBy = t
	return c.Conn.SetWriteDeadline(t)
}

// CloseWrite half-closes the connection, as net/http does before closing one whose client may
// still be sending (so that the client reads the answer rather than a reset).
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn is the connection underneath (as tls.Conn names it).
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

// tcpConn finds the TCP connection under c's wrappers (this listener's, TLS), nil if none.
func tcpConn(c net.Conn) *net.TCPConn {
	for c != nil {
		if tc, ok := c.(*net.TCPConn); ok {
			return tc
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}

type reserveKey struct{}

// connContext marks the requests of a connection on the probe reserve (http.Server.ConnContext).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if lc := limitedOf(c); lc != nil && lc.spare {
		return context.WithValue(ctx, reserveKey{}, true)
	}
	return ctx
}

// limitedOf finds this listener's connection under c's wrappers (TLS), nil if none.
func limitedOf(c net.Conn) *limitedConn {
	for c != nil {
		if lc, ok := c.(*limitedConn); ok {
			return lc
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}

func onReserve(ctx context.Context) bool { b, _ := ctx.Value(reserveKey{}).(bool); return b }

// isProbe is a liveness or readiness probe: the only requests served on the probe reserve.
func isProbe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.URL.Path == "/" || r.URL.Path == NodeBase+"/ready")
}

// fdBudget is how many connections the API listener may hold within the process's open-files
// limit (RLIMIT_NOFILE, which the Go runtime raises to its hard limit at start), leaving
// fdReserve descriptors (a quarter of a small limit) to everything else and room for the probe
// reserve; 0 when the limit is unknown or unlimited.
func fdBudget() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 { // unlimited, or as good as
		return 0
	}
	n := int(rl.Cur)
	return max(n-min(fdReserve, n/4)-probeReserve, 16)
}
