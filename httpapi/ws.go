package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/internal/lazyq"
	"github.com/placeos-go/engine/metrics"
)

// WebSocket defaults (Config.WS* zero values).
const (
	// WSQueueSize bounds a session's outgoing queue; a client that lets it fill is disconnected.
	WSQueueSize = 256
	// WSQueueBytes bounds the bytes of a session's outgoing queue as well: 256 messages may be
	// 256 exec results of a megabyte each. 4 MiB holds the 256 messages of a burst of ordinary
	// notifications (a few hundred bytes to a few KB each) and several large answers, while a
	// user's 100 sessions that never read hold at most some 400 MiB rather than tens of GB. One
	// message larger than the bound may wait besides (lazyq's MaxSize), so no answer is too big
	// for a client that reads.
	WSQueueBytes = 4 << 20
	// WSPongInterval is PlaceOS's unsolicited "pong" period; clients treat it as a heartbeat.
	// Each heartbeat also pings, and a client silent from one heartbeat to the next is dropped.
	WSPongInterval = 80 * time.Second
	// WSMaxMessageBytes bounds a request frame (exec arguments included).
	WSMaxMessageBytes = 1 << 20
	// WSMaxInFlight bounds concurrent execs per session; past it the session stops reading.
	WSMaxInFlight = 64
	// WSMaxBinds bounds the bindings of one session; a bind past it is refused.
	WSMaxBinds = 1000
	// WSMaxDebugs bounds the debug streams of one session; a debug past it is refused. Each
	// stream of a module another node runs is a connection to that node's cluster port.
	WSMaxDebugs = 32
	// WSMaxSessionsPerUser bounds the sessions of one user id; an upgrade past it is refused.
	WSMaxSessionsPerUser = 100
	// WSMaxSessions bounds the sessions of this node; an upgrade past it is refused.
	WSMaxSessions = 10000
	// wsWriteTimeout drops a client whose TCP window stays shut.
	wsWriteTimeout = 10 * time.Second
	// wsReadBuffer is gorilla's read buffer, held by every session for its whole life. Requests
	// are a few hundred bytes; a larger frame is read past the buffer, straight into the message.
	wsReadBuffer = 1024
	// wsWriterLinger is how long a session's writer goroutine waits for the next message before it
	// ends: a session receiving notifies keeps one writer, an idle one holds none.
	wsWriterLinger = time.Second
	// wsSocketBuffer fixes the kernel send buffer of a session. Autotuning would let each slow
	// client park megabytes in the kernel (a node holds thousands of sessions), and it would
	// hide a slow client from the queue bound for just as long.
	wsSocketBuffer = 64 << 10
)

func (c *Config) wsDefaults() {
	if c.WSQueueSize <= 0 {
		c.WSQueueSize = WSQueueSize
	}
	if c.WSQueueBytes <= 0 {
		c.WSQueueBytes = WSQueueBytes
	}
	if c.WSPongInterval <= 0 {
		c.WSPongInterval = WSPongInterval
	}
	if c.WSMaxMessageBytes <= 0 {
		c.WSMaxMessageBytes = WSMaxMessageBytes
	}
	if c.WSMaxInFlight <= 0 {
		c.WSMaxInFlight = WSMaxInFlight
	}
	if c.WSMaxBinds <= 0 {
		c.WSMaxBinds = WSMaxBinds
	}
	if c.WSMaxDebugs <= 0 {
		c.WSMaxDebugs = WSMaxDebugs
	}
	if c.WSMaxSessionsPerUser <= 0 {
		c.WSMaxSessionsPerUser = WSMaxSessionsPerUser
	}
	if c.WSMaxSessions <= 0 {
		c.WSMaxSessions = WSMaxSessions
	}
}

// wsRegistry tracks open sessions so Close can end them (hijacked connections are not the HTTP
// server's any more).
type wsRegistry struct {
	mu     sync.Mutex
	closed bool // no new session: the server is closing
	// draining refuses new execs once Close began; gate orders each exec's execs.Add before
	// Close's waits for them (a WaitGroup may not grow from zero during a Wait).
	gate     sync.RWMutex
	draining bool
	sessions map[*wsSession]struct{}
	wg       sync.WaitGroup
	// Places taken against the session limits, from before the upgrade until the session ends.
	places  int
	perUser map[string]int
	// heads are the notify heads of every binding, shared by those with the same id and meta.
	heads map[string]*wsHead
	// skew moves the clock sessions judge their credential's expiry by; tests only, to reach
	// a request read after the expiry but before the session's timer fired.
	skew atomic.Int64
}

// WSSessions is the number of open WebSocket sessions.
func (s *Server) WSSessions() int {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	return len(s.ws.sessions)
}

func (s *Server) closeSessions() {
	s.ws.mu.Lock()
	for ss := range s.ws.sessions {
		ss.kill("server closing")
	}
	s.ws.mu.Unlock()
	s.ws.wg.Wait()
}

// wsWriteBuffers lends gorilla a write buffer for each message only: an idle session holds none.
var wsWriteBuffers sync.Pool

// upgrader is a session's WebSocket upgrader.
func (s *Server) upgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		// The middleware applied the origin rule (checkBrowser), to the credential that
		// authenticated: a header or query token from another origin is fine.
		CheckOrigin:     func(*http.Request) bool { return true },
		ReadBufferSize:  wsReadBuffer,
		WriteBufferSize: 4096,
		WriteBufferPool: &wsWriteBuffers,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			s.writeError(w, r, errkind.Wrap(httpwire.ErrBadParameter, reason, "websocket upgrade"), call.Target{})
		},
	}
}

// GET /api/engine/v2/systems/control: the WebSocket control API (docs/protocol.md §7). The middleware
// has authenticated the caller: a failure there is a plain 401 before any upgrade.
func (s *Server) handleControl(w http.ResponseWriter, r *http.Request) {
	caller := auth.CallerFrom(r.Context())
	if !s.takePlace(w, r, caller) {
		return
	}
	conn, err := s.upgrader().Upgrade(w, r, nil)
	if err != nil {
		s.releasePlace(caller)
		return // the upgrader answered
	}
	if tc := tcpConn(conn.NetConn()); tc != nil {
		_ = tc.SetWriteBuffer(wsSocketBuffer)
	}
	ctx, cancel := sessionContext(s.base, caller)
	ss := &wsSession{
		s:      s,
		conn:   conn,
		caller: caller,
		ctx:    ctx,
		cancel: cancel,
		dead:   make(chan struct{}),
		log: s.log.Named("ws").With("request_id", RequestID(r.Context()), "user", caller.UserID,
			"remote", r.RemoteAddr),
	}
	ss.out.Init(lazyq.Config[[]byte]{Limit: s.cfg.WSQueueSize, Size: msgSize, MaxSize: s.cfg.WSQueueBytes,
		Linger: wsWriterLinger, Handle: ss.writeQueued, WG: &s.ws.wg})
	s.ws.mu.Lock()
	if s.ws.closed {
		s.ws.mu.Unlock()
		_ = conn.Close()
		cancel()
		s.releasePlace(caller)
		return
	}
	s.ws.sessions[ss] = struct{}{}
	s.ws.wg.Add(1)
	// Keys swapped since the caller was authenticated: EndRevokedSessions, which holds the same
	// lock, did not see this session, so it is judged here.
	s.endIfRevoked(ss)
	s.ws.mu.Unlock()
	s.cfg.Metrics.AddWSSessions(1)
	ss.log.Debug("websocket session opened")
	ss.mu.Lock()
	ss.beat = time.AfterFunc(s.cfg.WSPongInterval, ss.heartbeat)
	ss.mu.Unlock()
	if !caller.Expires.IsZero() {
		// The context's own deadline timer is the session's expiry: nothing runs until it fires.
		context.AfterFunc(ctx, func() {
			if errors.Is(context.Cause(ctx), errCredentialExpired) {
				ss.expire()
			}
		})
	}
	go ss.readLoop()
}

// errCredentialExpired is the cause of a session's context ending at its credential's expiry.
var errCredentialExpired = errors.New("the credential that opened the session has expired")

// sessionContext is a session's context: cancelled when the session ends, when the server's
// drain period ends (parent, the server's base context) and, for a credential that expires, at
// that moment too. The deadline bounds everything the session starts — an
// exec's (forwarded to another node, it travels with the call), a bind's look-up, a debug attach
// — so nothing it asked for outlives its credential. A credential that never expires gets no
// timer at all.
func sessionContext(parent context.Context, caller auth.Caller) (context.Context, context.CancelFunc) {
	ctx := auth.WithCaller(parent, caller)
	if caller.Expires.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadlineCause(ctx, caller.Expires, errCredentialExpired)
}

// takePlace counts a session against the node's and the user's session limits before the
// upgrade, answering 503 (shutting down) or 429 (a limit reached) when there is none.
func (s *Server) takePlace(w http.ResponseWriter, r *http.Request, caller auth.Caller) bool {
	perUser := !s.cfg.Auth.Disabled() // under --auth none every caller is the same anonymous admin
	s.ws.mu.Lock()
	closed := s.ws.closed
	var limit, msg string
	switch {
	case closed:
	case s.ws.places >= s.cfg.WSMaxSessions:
		limit, msg = metrics.WSLimitNodeSessions, fmt.Sprintf("too many WebSocket sessions on this node (limit %d)", s.cfg.WSMaxSessions)
	case perUser && s.ws.perUser[caller.UserID] >= s.cfg.WSMaxSessionsPerUser:
		limit, msg = metrics.WSLimitUserSessions, fmt.Sprintf("too many WebSocket sessions for user %q (limit %d)", caller.UserID, s.cfg.WSMaxSessionsPerUser)
	default:
		s.ws.places++
		s.ws.perUser[caller.UserID]++
	}
	s.ws.mu.Unlock()
	switch {
	case closed:
		s.writeError(w, r, errkind.Wrap(ErrUnavailable, nil, "server is shutting down"), call.Target{})
		return false
	case limit != "":
		s.refuseLimit(w, r, limit, msg)
		return false
	}
	return true
}

// releasePlace gives back what takePlace took.
func (s *Server) releasePlace(caller auth.Caller) {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	s.ws.places--
	if s.ws.perUser[caller.UserID]--; s.ws.perUser[caller.UserID] <= 0 {
		delete(s.ws.perUser, caller.UserID)
	}
}

// refuseLimit counts an upgrade refused by a session limit, answers 429 (errkind.TooMany) and
// says so in the log at most every 10 s: a flood must not flood the log too. refuseOverLimit is
// its twin for a command a session's limit refuses.
func (s *Server) refuseLimit(w http.ResponseWriter, r *http.Request, limit, msg string) {
	s.cfg.Metrics.WSRefused(limit)
	if s.limitLog.ok() {
		s.log.Warn("limit reached: refused (counted in engine_websocket_refused_total; this line at most every 10 s)",
			"limit", limit, "message", msg, "request_id", RequestID(r.Context()), "remote", r.RemoteAddr)
	}
	s.writeError(w, r, errkind.Wrap(errkind.TooMany, nil, "%s", msg), call.Target{})
}

// every lets something happen at most once per period (log lines about floods).
type every struct{ last atomic.Int64 }

func (e *every) ok() bool {
	const period = int64(10 * time.Second)
	now := time.Now().UnixNano()
	last := e.last.Load()
	return now-last >= period && e.last.CompareAndSwap(last, now)
}

type bindKey struct {
	sys, mod string
	index    int
	name     string
}

type debugKey struct {
	sys, mod string
	index    int
}

// wsSession is one WebSocket client. One goroutine reads; execs run concurrently on their own
// goroutines; a writer goroutine exists only while messages are queued (ws_out.go), so an idle
// session is its reader alone.
type wsSession struct {
	s      *Server
	conn   *websocket.Conn
	caller auth.Caller
	ctx    context.Context // cancelled when the session ends: in-flight execs stop
	cancel context.CancelFunc
	log    hclog.Logger

	// out is the bounded outgoing queue; its consumer is the writer.
	out      lazyq.Queue[[]byte]
	dead     chan struct{}
	killOnce sync.Once
	why      string
	code     int // the close frame's code
	// wmu is held for every write of a message to conn: the writer's and those written inline
	// (send), so that nothing queued is overtaken.
	wmu sync.Mutex
	// heard is set by every frame the client sends (pongs included) and cleared by each heartbeat;
	// busy is set while the reader handles a frame rather than reading the next.
	heard, busy atomic.Bool

	mu     sync.Mutex // guards binds, debugs, beat and pinged
	binds  map[bindKey]*wsBinding
	debugs map[debugKey]func()
	beat   *time.Timer // the heartbeat; nil once the session ended
	pinged bool        // a heartbeat has pinged the client

	sem   chan struct{} // made by the first exec
	execs sync.WaitGroup
}

// wsBinding holds notifications back until the bind's success has been queued, so a client
// always sees success before the first notify.
type wsBinding struct {
	head   *wsHead
	cancel func()

	mu    sync.Mutex
	ready bool
	early [][]byte
}

// WSCloseCredentialExpired is the close code of a session whose credential expired, or was
// revoked (an API key removed from the keys file, or its role lowered): either way "the
// credential no longer holds, sign in again", and the close reason says which. RFC 6455 leaves
// 4000–4999 to applications; 1008 (policy violation) would fit as well, but it is also what a
// server sends for any refused message, so a client could not tell "fetch a fresh token" from
// "stop sending that". 4001 reads as HTTP's 401. PlaceOS clients reconnect on any close, and a
// reconnect authenticates afresh.
const WSCloseCredentialExpired = 4001

// kill ends the session; safe from any goroutine, including delivery callbacks (it never blocks).
func (ss *wsSession) kill(why string) { ss.end(why, websocket.CloseGoingAway, false) }

// killSlow ends a session whose client does not read, counting it once.
func (ss *wsSession) killSlow() { ss.end("slow client", websocket.CloseGoingAway, true) }

// expire ends a session whose credential has expired, through the same path as any other end.
func (ss *wsSession) expire() {
	if ss.end("credential expired", WSCloseCredentialExpired, false) {
		ss.log.Info("websocket session ended: its credential expired (the client reconnects with a fresh one)",
			"expired_at", ss.caller.Expires.UTC().Format(time.RFC3339))
	}
}

// revoker is an Authenticator whose credentials can be withdrawn while sessions they opened
// last (auth.Authenticator: API keys reloaded).
type revoker interface {
	Revoked(auth.Caller) (why string, revoked bool)
}

// EndRevokedSessions ends, with close 4001, every session whose caller the Authenticator now
// revokes; call it once the API keys were replaced (auth.Authenticator.OnAPIKeysChange). A
// session keeps the clearance it opened with for every request, so one whose key lost its role
// ends too.
func (s *Server) EndRevokedSessions() {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	for ss := range s.ws.sessions {
		s.endIfRevoked(ss)
	}
}

// endIfRevoked ends ss if its caller is revoked now. The caller holds s.ws.mu.
func (s *Server) endIfRevoked(ss *wsSession) {
	r, ok := s.cfg.Auth.(revoker)
	if !ok {
		return
	}
	if why, revoked := r.Revoked(ss.caller); revoked && ss.end("credential revoked", WSCloseCredentialExpired, false) {
		ss.log.Info("websocket session ended: its credential was revoked (the client reconnects with a valid one)", "reason", why)
	}
}

// expired ends the session if its credential has expired by now, and says so. The context's
// timer may fire a little late; a request read in between must not run for an expired caller.
func (ss *wsSession) expired() bool {
	if ss.caller.Expires.IsZero() {
		return false // no clock read per frame for a credential that never expires
	}
	if ss.caller.ExpiredAt(time.Now().Add(time.Duration(ss.s.ws.skew.Load()))) {
		ss.expire()
		return true
	}
	return false
}

// end ends the session once: the writer sends the close frame and closes the connection, which
// wakes the reader, which cleans up. It reports whether this call ended it.
func (ss *wsSession) end(why string, code int, slow bool) bool {
	ended := false
	ss.killOnce.Do(func() {
		ended = true
		ss.why, ss.code = why, code
		close(ss.dead)
		if slow {
			ss.s.cfg.Metrics.WSSlowDisconnect()
		}
		ss.out.Stop(ss.closeConn)
	})
	return ended
}

// truncate is s cut to at most n bytes, at a character's start: a close frame's reason must be
// UTF-8 (RFC 6455) as a text frame must.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (ss *wsSession) readLoop() {
	defer ss.s.ws.wg.Done()
	defer ss.cleanup()
	ss.conn.SetReadLimit(ss.s.cfg.WSMaxMessageBytes)
	ss.conn.SetPongHandler(func(string) error { ss.heard.Store(true); return nil })
	for {
		typ, data, err := ss.conn.ReadMessage()
		if err != nil {
			if websocket.IsUnexpectedCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				ss.log.Debug("websocket read ended", "error", err)
			}
			ss.kill("read ended")
			return
		}
		if ss.expired() {
			continue // the connection closes; nothing more runs for this caller
		}
		// The client spoke. While the frame is handled (an exec waiting for a place, an answer
		// for the socket) its next frames, pongs included, wait unread: that is not silence.
		ss.heard.Store(true)
		ss.busy.Store(true)
		switch {
		case typ != websocket.TextMessage && typ != websocket.BinaryMessage:
		case string(data) == "ping":
			ss.send(wsPong)
		default:
			ss.handle(data)
		}
		ss.busy.Store(false)
	}
}

// cleanup releases everything the session holds: bindings, debug streams, in-flight execs.
func (ss *wsSession) cleanup() {
	ss.kill("closed")
	ss.cancel()
	ss.mu.Lock()
	binds, debugs := ss.binds, ss.debugs
	ss.binds, ss.debugs = nil, nil
	ss.beat.Stop()
	ss.beat = nil
	ss.mu.Unlock()
	for _, b := range binds {
		ss.release(b)
	}
	for _, c := range debugs {
		c()
	}
	ss.execs.Wait()
	s := ss.s
	s.ws.mu.Lock()
	delete(s.ws.sessions, ss)
	s.ws.mu.Unlock()
	s.releasePlace(ss.caller)
	s.cfg.Metrics.AddWSSessions(-1)
	ss.log.Debug("websocket session closed", "reason", ss.why, "bindings", len(binds), "debug_streams", len(debugs))
}

// handle answers one request frame. Execs run concurrently; the rest is quick and runs inline,
// which also keeps bind/unbind of one key in the order the client sent them.
func (ss *wsSession) handle(data []byte) {
	req, err := parseWSRequest(data)
	if err != nil {
		pe := err.(*wsParseError)
		ss.reply(errorReply(pe.id, pe.code, http.StatusBadRequest, pe.msg))
		return
	}
	switch req.Cmd {
	case "bind":
		ss.bind(req)
	case "unbind":
		ss.unbind(req)
	case "exec":
		if ss.sem == nil { // only this goroutine sets it; execs read it after their go statement
			ss.sem = make(chan struct{}, ss.s.cfg.WSMaxInFlight)
		}
		select {
		case ss.sem <- struct{}{}:
		case <-ss.dead:
			return
		}
		if !ss.s.admitExec(ss) {
			<-ss.sem
			ss.replyError(req, ErrShuttingDown, "")
			return
		}
		go func() {
			defer ss.execs.Done()
			defer func() { <-ss.sem }()
			ss.exec(req)
		}()
	case "debug":
		ss.debug(req)
	case "ignore":
		ss.ignore(req)
	}
}

// replyError answers a request with err mapped as for REST.
func (ss *wsSession) replyError(req *wsRequest, err error, rid string) {
	p := errkind.Classify(err)
	msg := p.Message
	log := ss.log.With("id", req.ID, "cmd", req.Cmd, "system", req.Sys, "module_name", req.Mod, "name", req.Name, "error", err)
	if rid != "" {
		log = log.With("exec_request_id", rid)
	}
	if p.Internal {
		msg = "unexpected failure (request id " + rid + ")"
		log.Error("websocket request failed")
	} else {
		log.Debug("websocket request failed")
	}
	r := errorReply(req.ID, p.Code, p.Status, msg)
	if errors.Is(err, ErrShuttingDown) {
		// The session closes next, which drops the messages its queue holds: written now.
		ss.sendNow(ss.encode(r))
		return
	}
	ss.reply(r)
}
