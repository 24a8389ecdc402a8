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
// Admission, in order: a remote address (an IPv4 address or an IPv6 /64) holding perIP
// connections is refused ("per_ip"); below max the connection is admitted; past max it may take
// one of reserve slots (at most reservePerIP per address), where it is served one probe
// (GET / or /api/core/v1/ready) within probeLife and closed, and any other request gets 503;
// when the reserve is full too it is refused ("limit").
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

	lastWarn atomic.Int64 // unix nanoseconds of the last "refusing connections" log line
}

type addrConns struct{ all, spare int }

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
		lc, reason := l.admit(c)
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

func (l *connLimiter) admit(c net.Conn) (*limitedConn, string) {
	key := addrKey(c.RemoteAddr())
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddr[key]
	if a == nil {
		a = &addrConns{}
	}
	lc := &limitedConn{Conn: c, l: l, key: key}
	switch {
	case a.all >= l.perIP:
		return nil, metrics.ConnRefusedPerIP
	case l.normal < l.max:
		l.normal++
	case l.spare < l.reserve && a.spare < l.reservePerIP:
		l.spare++
		a.spare++
		lc.spare, lc.until = true, time.Now().Add(l.probeLife)
		_ = c.SetDeadline(lc.until)
	default:
		return nil, metrics.ConnRefusedLimit
	}
	a.all++
	l.byAddr[key] = a
	return lc, ""
}

func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	a := l.byAddr[c.key]
	if c.spare {
		l.spare--
		a.spare--
	} else {
		l.normal--
	}
	if a.all--; a.all == 0 {
		delete(l.byAddr, c.key)
	}
	l.mu.Unlock()
	l.met.AddHTTPConnections(-1)
}

// open is the number of connections admitted and not yet closed (normal, on the reserve).
func (l *connLimiter) open() (normal, spare int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.normal, l.spare
}

// warn logs refusals at most every ten seconds: a flood must not flood the log as well.
func (l *connLimiter) warn(reason string, remote net.Addr) {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(10*time.Second) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	normal, spare := l.open()
	l.log.Warn("refusing HTTP connections: connection limit reached (counted in engine_http_connections_refused_total)",
		"reason", reason, "remote", remote.String(), "open", normal, "probe_reserve_open", spare,
		"max_conns", l.max, "max_conns_per_ip", l.perIP)
}

// addrKey is what the per-address limit counts by: the IP address, or its /64 for IPv6 (one
// host usually holds a whole /64).
func addrKey(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		return ip4.String()
	}
	return ta.IP.Mask(net.CIDRMask(64, 128)).String()
}

// limitedConn is an admitted connection; closing it frees its place. A connection on the probe
// reserve keeps every deadline at or before its end of life, whatever the HTTP server asks for.
type limitedConn struct {
	net.Conn
	l      *connLimiter
	key    string
	spare  bool
	until  time.Time
	closed sync.Once
	// writeBy is the write deadline in force (zero: none), under writeMu.
	writeMu sync.Mutex
	writeBy time.Time
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() { c.l.release(c) })
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
	for c != nil {
		if lc, ok := c.(*limitedConn); ok {
			if lc.spare {
				return context.WithValue(ctx, reserveKey{}, true)
			}
			return ctx
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return ctx
		}
		c = u.NetConn()
	}
	return ctx
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
