package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/metrics"
)

// WebSocket defaults (Config.WS* zero values).
const (
	// WSQueueSize bounds a session's outgoing queue; a client that lets it fill is disconnected.
	WSQueueSize = 256
	// WSPongInterval is PlaceOS's unsolicited "pong" period; clients treat it as a heartbeat.
	WSPongInterval = 80 * time.Second
	// WSMaxMessageBytes bounds a request frame (exec arguments included).
	WSMaxMessageBytes = 1 << 20
	// WSMaxInFlight bounds concurrent execs per session; past it the session stops reading.
	WSMaxInFlight = 64
	// WSMaxBinds bounds the bindings of one session; a bind past it is refused.
	WSMaxBinds = 1000
	// WSMaxSessionsPerUser bounds the sessions of one user id; an upgrade past it is refused.
	WSMaxSessionsPerUser = 100
	// WSMaxSessions bounds the sessions of this node; an upgrade past it is refused.
	WSMaxSessions = 10000
	// wsWriteTimeout drops a client whose TCP window stays shut.
	wsWriteTimeout = 10 * time.Second
	// wsSocketBuffer fixes the kernel send buffer of a session. Autotuning would let each slow
	// client park megabytes in the kernel (a node holds thousands of sessions), and it would
	// hide a slow client from the queue bound for just as long.
	wsSocketBuffer = 64 << 10
)

func (c *Config) wsDefaults() {
	if c.WSQueueSize <= 0 {
		c.WSQueueSize = WSQueueSize
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
	mu       sync.Mutex
	closed   bool
	sessions map[*wsSession]struct{}
	wg       sync.WaitGroup
	// Places taken against the session limits, from before the upgrade until the session ends.
	places  int
	perUser map[string]int
}

// WSSessions is the number of open WebSocket sessions.
func (s *Server) WSSessions() int {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	return len(s.ws.sessions)
}

func (s *Server) closeSessions() {
	s.ws.mu.Lock()
	s.ws.closed = true
	for ss := range s.ws.sessions {
		ss.kill("server closing")
	}
	s.ws.mu.Unlock()
	s.ws.wg.Wait()
}

// GET /api/engine/v2/systems/control: the WebSocket control API (docs/protocol.md §7). The middleware
// has authenticated the caller: a failure there is a plain 401 before any upgrade.
func (s *Server) handleControl(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{
		// The middleware applied the origin rule (checkBrowser), to the credential that
		// authenticated: a header or query token from another origin is fine.
		CheckOrigin:     func(*http.Request) bool { return true },
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			s.writeError(w, r, errkind.Wrap(httpwire.ErrBadParameter, reason, "websocket upgrade"), call.Target{})
		},
	}
	caller := auth.CallerFrom(r.Context())
	if !s.takePlace(w, r, caller) {
		return
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.releasePlace(caller)
		return // the upgrader answered
	}
	if tc := tcpConn(conn.NetConn()); tc != nil {
		_ = tc.SetWriteBuffer(wsSocketBuffer)
	}
	ctx, cancel := context.WithCancel(auth.WithCaller(context.Background(), caller))
	ss := &wsSession{
		s:      s,
		conn:   conn,
		caller: caller,
		ctx:    ctx,
		cancel: cancel,
		send:   make(chan []byte, s.cfg.WSQueueSize),
		dead:   make(chan struct{}),
		binds:  map[bindKey]*wsBinding{},
		debugs: map[debugKey]func(){},
		sem:    make(chan struct{}, s.cfg.WSMaxInFlight),
		log: s.log.Named("ws").With("request_id", RequestID(r.Context()), "user", caller.UserID,
			"remote", r.RemoteAddr),
	}
	s.ws.mu.Lock()
	if s.ws.closed {
		s.ws.mu.Unlock()
		_ = conn.Close()
		cancel()
		s.releasePlace(caller)
		return
	}
	s.ws.sessions[ss] = struct{}{}
	s.ws.wg.Add(2)
	s.ws.mu.Unlock()
	s.cfg.Metrics.AddWSSessions(1)
	ss.log.Debug("websocket session opened")
	go ss.writeLoop()
	go ss.readLoop()
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
		s.cfg.Metrics.WSRefused(limit)
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

// refuseLimit answers 429 (errkind.TooMany) and says so in the log at most every 10 s: a flood
// must not flood the log too.
func (s *Server) refuseLimit(w http.ResponseWriter, r *http.Request, limit, msg string) {
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

// wsSession is one WebSocket client. One goroutine reads, one writes; execs run concurrently
// on their own goroutines; everything sent goes through the bounded send queue.
type wsSession struct {
	s      *Server
	conn   *websocket.Conn
	caller auth.Caller
	ctx    context.Context // cancelled when the session ends: in-flight execs stop
	cancel context.CancelFunc
	log    hclog.Logger

	send     chan []byte
	dead     chan struct{}
	killOnce sync.Once
	why      string
	// wmu is held for every write to conn: the writer's, and an exec's own reply (replyNow).
	wmu sync.Mutex
	// queued counts the messages enqueued and not written yet: an exec writes its reply itself
	// only when there are none, so nothing queued before it is overtaken.
	queued atomic.Int64

	mu     sync.Mutex // guards binds and debugs
	binds  map[bindKey]*wsBinding
	debugs map[debugKey]func()

	sem   chan struct{}
	execs sync.WaitGroup
}

// wsBinding holds notifications back until the bind's success has been queued, so a client
// always sees success before the first notify.
type wsBinding struct {
	id     int64
	meta   json.RawMessage
	cancel func()

	mu    sync.Mutex
	ready bool
	early [][]byte
}

// kill ends the session; safe from any goroutine, including delivery callbacks (it never blocks).
func (ss *wsSession) kill(why string) {
	ss.killOnce.Do(func() {
		ss.why = why
		close(ss.dead)
	})
}

// killSlow ends a session whose client does not read, counting it once.
func (ss *wsSession) killSlow() {
	ss.killOnce.Do(func() {
		ss.why = "slow client"
		close(ss.dead)
		ss.s.cfg.Metrics.WSSlowDisconnect()
	})
}

// enqueue queues a message without ever blocking: a client that does not read is disconnected,
// so it slows neither the Redis reader nor other sessions.
func (ss *wsSession) enqueue(msg []byte) {
	select {
	case <-ss.dead:
		return
	default:
	}
	ss.queued.Add(1)
	select {
	case ss.send <- msg:
	default:
		ss.queued.Add(-1)
		ss.log.Warn("websocket client too slow: outgoing queue full, disconnecting", "queue", cap(ss.send))
		ss.killSlow()
	}
}

// replyNow sends an exec's reply from the exec's own goroutine when nothing is queued and no
// write is under way (the usual case for a client waiting on its call), saving the hand-off to
// the writer; else it queues the reply as enqueue does. The write is bounded as the writer's.
func (ss *wsSession) replyNow(msg []byte) {
	if ss.wmu.TryLock() {
		if ss.queued.Load() == 0 {
			select {
			case <-ss.dead:
			default:
				ss.write(msg)
			}
			ss.wmu.Unlock()
			return
		}
		ss.wmu.Unlock()
	}
	ss.enqueue(msg)
}

// write writes one message; the caller holds wmu. A failed write ends the session.
func (ss *wsSession) write(b []byte) bool {
	_ = ss.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	if err := ss.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		ss.kill("write failed: " + err.Error())
		return false
	}
	return true
}

func (ss *wsSession) reply(r wsReply) {
	b, err := json.Marshal(r)
	if err != nil {
		// Only a value that is not valid JSON gets here: tell the client rather than go quiet.
		ss.log.Error("reply does not encode", "error", err, "id", r.ID)
		b, _ = json.Marshal(errorReply(r.ID, errkind.CodeUnexpectedFailure, http.StatusInternalServerError, "reply does not encode as JSON"))
	}
	ss.enqueue(b)
}

func (ss *wsSession) writeLoop() {
	defer ss.s.ws.wg.Done()
	t := time.NewTicker(ss.s.cfg.WSPongInterval)
	defer t.Stop()
	defer func() { _ = ss.conn.Close() }() // wakes the reader, which cleans up
	write := func(b []byte) bool {
		ss.wmu.Lock()
		defer ss.wmu.Unlock()
		return ss.write(b)
	}
	for {
		select {
		case b := <-ss.send:
			ok := write(b)
			ss.queued.Add(-1)
			if !ok {
				return
			}
		case <-t.C:
			if !write([]byte("pong")) {
				return
			}
		case <-ss.dead:
			ss.wmu.Lock() // no exec's reply after the close frame: replyNow sees dead
			_ = ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
			_ = ss.conn.WriteMessage(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, truncate(ss.why, 100)))
			ss.wmu.Unlock()
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (ss *wsSession) readLoop() {
	defer ss.s.ws.wg.Done()
	defer ss.cleanup()
	ss.conn.SetReadLimit(ss.s.cfg.WSMaxMessageBytes)
	for {
		typ, data, err := ss.conn.ReadMessage()
		if err != nil {
			if websocket.IsUnexpectedCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				ss.log.Debug("websocket read ended", "error", err)
			}
			ss.kill("read ended")
			return
		}
		if typ != websocket.TextMessage && typ != websocket.BinaryMessage {
			continue
		}
		if string(data) == "ping" {
			ss.enqueue([]byte("pong"))
			continue
		}
		ss.handle(data)
	}
}

// cleanup releases everything the session holds: bindings, debug streams, in-flight execs.
func (ss *wsSession) cleanup() {
	ss.kill("closed")
	ss.cancel()
	ss.mu.Lock()
	binds, debugs := ss.binds, ss.debugs
	ss.binds, ss.debugs = map[bindKey]*wsBinding{}, map[debugKey]func(){}
	ss.mu.Unlock()
	for _, b := range binds {
		if b.cancel != nil {
			b.cancel()
		}
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
	s.cfg.Metrics.AddWSBindings(-len(binds))
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
		select {
		case ss.sem <- struct{}{}:
		case <-ss.dead:
			return
		}
		ss.execs.Add(1)
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
	ss.reply(errorReply(req.ID, p.Code, p.Status, msg))
}
