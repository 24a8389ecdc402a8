package peer

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/jsonscan"
	"github.com/placeos-go/engine/raftfsm"
)

// Local is this node's engine as other nodes use it (package core).
type Local interface {
	// ExecuteHere runs a call on this node only; a module hosted elsewhere is an
	// errkind.Conflict error naming the owner.
	ExecuteHere(ctx context.Context, req call.Request) (call.Result, error)
	// DebugHere streams the log lines of a module this node hosts.
	DebugHere(ctx context.Context, moduleID string, fn func(level, msg string)) (cancel func(), err error)
	// NodeStatus is this node's status document (drivers, modules, builds), JSON-encodable.
	NodeStatus(ctx context.Context) (any, error)
}

// Membership is the cluster's membership and replicated log (package raftfsm).
type Membership interface {
	Roster
	Join(ctx context.Context, m raftfsm.Member) error
	RemoveNode(ctx context.Context, id string) error
	// ApplyForwarded applies a Raft command a follower forwarded to the leader.
	ApplyForwarded(ctx context.Context, cmd []byte) error
}

// ServerConfig configures a Server. Local and Members are required.
type ServerConfig struct {
	Logger  hclog.Logger
	Local   Local
	Members Membership
	// Leave starts this node's graceful leave and shutdown (POST /cluster/leave naming it).
	Leave func()
	// DebugQueue bounds the lines waiting for a slow debugger peer (default 256).
	DebugQueue int
	// MaxBodyBytes limits a request body (default 32 MiB: a forwarded model write or execute
	// carries what a client may send, 8 MiB, and its encoding).
	MaxBodyBytes int64
}

// Server answers the node-to-node routes on the cluster port.
type Server struct {
	cfg     ServerConfig
	log     hclog.Logger
	handler http.Handler

	mu       sync.Mutex
	srv      *http.Server
	done     chan struct{}
	execLn   net.Listener
	sessions map[*execSession]struct{}
	stop     atomic.Bool    // Close began: sessions stop reading and finish their calls
	execWG   sync.WaitGroup // the exec accept loop and sessions
	jobs     chan execJob   // calls for an idle worker
	quit     chan struct{}  // closed by Close: workers end

	open      atomic.Bool // the port takes every connection (Proof.Open): Host is checked too
	warns     warnLimit   // refusals of browser-shaped requests, which any web page can send
	strangers warnLimit   // refusals of non-members, apart: a page's requests must not hide them
}

// NewServer returns the node-to-node routes of this node.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.DebugQueue <= 0 {
		cfg.DebugQueue = 256
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	s := &Server{cfg: cfg, log: cfg.Logger.Named("peer"), jobs: make(chan execJob), quit: make(chan struct{})}
	r := httpwire.NewRouter(func(w http.ResponseWriter, r *http.Request, wrongMethod bool) {
		if wrongMethod {
			s.fail(w, r, errkind.Wrap(errkind.MethodNotAllowed, nil, "method %s not allowed on %s", r.Method, r.URL.Path), call.Target{})
			return
		}
		s.fail(w, r, errkind.Wrap(errkind.NoRoute, nil, "no route for %s %s", r.Method, r.URL.Path), call.Target{})
	})
	n := httpwire.NodeBase
	r.Handle(http.MethodPost, n+"/command/{module}/execute", s.handleExecute)
	r.Handle(http.MethodGet, n+"/command/{module}/debugger", s.handleDebugger)
	r.Handle(http.MethodPost, joinPath, s.handleJoin)
	r.Handle(http.MethodPost, n+"/cluster/leave", s.handleLeave)
	r.Handle(http.MethodPost, n+"/cluster/apply", s.handleApply)
	r.Handle(http.MethodGet, n+"/cluster/members/{node}", s.handleMember)
	r.Handle(http.MethodGet, n+"/status", s.handleStatus)
	s.handler = s.middleware(r)
	return s
}

// Handler is the node-to-node routes with their middleware. A request carries the TLS state of
// its connection in its context (Serve puts it there; WithTLS for tests); none means plain TCP.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers the HTTP connections of port in the background until Close.
func (s *Server) Serve(port *Port) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The port accepts the connections (its failed accepts: Port.accept); this logger takes the
	// rest net/http reports, and would take a failed accept as the client API's does.
	errLog, _ := httpwire.ServerErrorLog(s.log, "cluster port", port.Addr().String())
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// The whole request, body included; a debugger WebSocket is free of it once upgraded. No
		// write timeout: a forwarded execute answers within its own deadline.
		ReadTimeout:    30 * time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       errLog,
		ConnContext:    func(ctx context.Context, c net.Conn) context.Context { return WithTLS(ctx, tlsOf(c)) },
	}
	srv, done := s.srv, make(chan struct{})
	s.done = done
	s.open.Store(port.open())
	s.execLn = port.Exec()
	s.execWG.Add(1)
	go s.acceptExec(s.execLn)
	go func() {
		defer close(done)
		if err := srv.Serve(port.HTTP()); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("node-to-node server stopped", "error", err)
		}
	}()
}

// Close stops serving, lets requests in flight finish until ctx ends, and waits.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	execErr := s.closeExec(ctx)
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	<-done
	return errors.Join(execErr, err)
}

type tlsKey struct{}

// WithTLS returns ctx carrying the TLS state of the connection a request came on (nil: plain TCP).
func WithTLS(ctx context.Context, cs *tls.ConnectionState) context.Context {
	if cs == nil {
		return context.WithValue(ctx, tlsKey{}, (*peerCert)(nil))
	}
	// Who the peer is, once per connection rather than per request: its fingerprint is a hash.
	p := peerOf(cs)
	return context.WithValue(ctx, tlsKey{}, &p)
}

// peerFrom is the TLS peer a request came from (nil: plain TCP).
func peerFrom(ctx context.Context) *peerCert {
	p, _ := ctx.Value(tlsKey{}).(*peerCert)
	return p
}

// joinPath is the one route a certificate of the CA reaches before its node is a member.
const joinPath = httpwire.NodeBase + "/cluster/join"

// debugAttachTimeout bounds attaching to a module's log lines.
const debugAttachTimeout = 10 * time.Second

// writeTimeout drops a debugger peer whose TCP window stays shut.
const writeTimeout = 10 * time.Second

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, t call.Target) {
	httpwire.WriteError(w, r, s.log, err, t)
}

// middleware gives every request an id and a body limit and recovers a panicking handler. The
// port admitted only connections that proved a node opened them (Proof); a request a browser
// could have sent is refused all the same (browserRequest), and over TLS the certificate must
// name a member, but for a join (admitMember). The caller a node acts for comes from its headers
// (auth.NodeCaller).
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ex := &exchange{}
		rid := httpwire.GetRequestID(r.Header)
		if !httpwire.AcceptableRequestID(rid) {
			rid = httpwire.NewRequestID()
		}
		ex.rid[0] = rid
		httpwire.SetRequestIDValue(w.Header(), ex.rid[:])
		ex.ctx.Init(r.Context(), &ex.rid[0])
		r = r.WithContext(&ex.ctx)
		defer func() {
			if s.log.IsDebug() {
				s.log.Debug("request", "request_id", rid, "method", r.Method, "path", r.URL.Path,
					"peer", peerFrom(r.Context()).name(), "duration", time.Since(start))
			}
		}()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value, compared as net/http does
					panic(v)
				}
				s.log.Error("handler panicked", "request_id", rid, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				s.fail(w, r, errkind.New(errkind.Internal, "handler panicked"), call.Target{})
			}
		}()
		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.fail(w, r, &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}, call.Target{})
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		if why := browserRequest(r, s.open.Load()); why != "" {
			s.warns.log(s.log, "node route refused: a request a browser could have sent", "remote", r.RemoteAddr,
				"method", r.Method, "path", r.URL.Path, "reason", why)
			s.fail(w, r, errkind.Wrap(ErrBrowserRequest, nil, "%v: %s", ErrBrowserRequest, why), call.Target{})
			return
		}
		if p := peerFrom(r.Context()); p != nil {
			if p.node == "" {
				s.fail(w, r, ErrNodesOnly, call.Target{})
				return
			}
			// A joining node is no member yet; the join handler takes only its own node's certificate.
			admit := admitMember
			if r.URL.Path == joinPath {
				admit = notRevoked
			}
			if err := admit(s.cfg.Members, *p); err != nil {
				s.strangers.log(s.log, "node route refused", "remote", r.RemoteAddr, "peer", p.node, "path", r.URL.Path, "reason", err.Error())
				s.fail(w, r, err, call.Target{})
				return
			}
		}
		// The request's context is changed in place, not derived again: r carries it already.
		ex.ctx.SetCaller(auth.NodeCaller(r.Header))
		next.ServeHTTP(w, r)
	})
}

// exchange is what the middleware keeps per request, in one allocation: the context that carries
// the request id and the caller, and the id as the X-Request-ID header's value.
type exchange struct {
	ctx httpwire.Context
	rid [1]string
}

// POST /api/core/v1/command/{module}/execute, body {"__exec__": fn, fn: args}: runs here if this
// node hosts the module, else 409 naming the owner so the caller retries there.
func (s *Server) handleExecute(w http.ResponseWriter, r *http.Request) {
	t := call.Target{ModuleID: r.PathValue("module")}
	data, err := httpwire.ReadBody(r)
	if err != nil {
		s.fail(w, r, err, t)
		return
	}
	fn, args, err := execBody(data)
	if err != nil {
		s.fail(w, r, err, t)
		return
	}
	timeout, err := httpwire.Timeout(r)
	if err != nil {
		s.fail(w, r, err, t)
		return
	}
	res, err := s.cfg.Local.ExecuteHere(r.Context(), call.Request{
		Target: t, Function: fn, Args: args, Caller: auth.CallerFrom(r.Context()),
		RequestID: httpwire.RequestID(r.Context()), Timeout: timeout,
	})
	if err != nil {
		s.fail(w, r, err, t)
		return
	}
	httpwire.WriteRaw(w, res.Code, res.Value)
}

// execBody reads a forwarded execute's body, {"__exec__": fn, fn: args}, in place (package
// jsonscan): the arguments are handed on as the sending node wrote them, as the client sent them,
// never decoded. Its answers are those of decoding the body into map[string]json.RawMessage (a
// key given twice counts with its last value; a body that is not a JSON object is refused with
// the decoder's own message).
func execBody(data []byte) (fn string, args json.RawMessage, err error) {
	t := jsonscan.TrimSpace(data)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		var body map[string]json.RawMessage
		if err := json.Unmarshal(data, &body); err != nil { // the decoder's message for what is not an object
			return "", nil, errkind.Wrap(httpwire.ErrMalformedJSON, nil, "malformed JSON body: %v", err)
		}
		return "", nil, errBadExecBody // null: a map of nothing
	}
	var stack [4]jsonscan.Member
	members := jsonscan.Members(t, stack[:0])
	value := func(name string) json.RawMessage { // the last member of that name, nil for none
		for i := len(members) - 1; i >= 0; i-- {
			if members[i].Is(name) {
				return members[i].Value
			}
		}
		return nil
	}
	raw := value("__exec__")
	if s, ok := jsonscan.String(raw); ok {
		fn = s
	} else if raw == nil || json.Unmarshal(raw, &fn) != nil {
		fn = ""
	}
	if fn == "" {
		return "", nil, errBadExecBody
	}
	return fn, value(fn), nil
}

var errBadExecBody = errkind.Wrap(httpwire.ErrBadBody, nil, `body must be {"__exec__": "<function>", "<function>": <args>}`)

// GET /api/core/v1/command/{module}/debugger: a WebSocket of [severity, "line"] frames for a
// module this node hosts, for as long as the caller keeps it open. It attaches before upgrading,
// so a module this node does not host is an ordinary error answer the caller can read.
func (s *Server) handleDebugger(w http.ResponseWriter, r *http.Request) {
	t := call.Target{ModuleID: r.PathValue("module")}
	lines := make(chan []byte, s.cfg.DebugQueue)
	slow := make(chan struct{})
	var once sync.Once
	ctx, cancelCtx := context.WithTimeout(r.Context(), debugAttachTimeout)
	cancel, err := s.cfg.Local.DebugHere(ctx, t.ModuleID, func(level, msg string) {
		b, _ := json.Marshal([]any{severityNumber(level), msg})
		select {
		case lines <- b:
		default:
			once.Do(func() { close(slow) })
		}
	})
	cancelCtx()
	if err != nil {
		s.fail(w, r, err, t)
		return
	}
	defer cancel()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // nodes only
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	defer func() { _ = conn.Close() }()
	// The reader only notices the peer closing.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for {
		select {
		case b := <-lines:
			_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if conn.WriteMessage(websocket.TextMessage, b) != nil {
				return
			}
		case <-slow:
			s.log.Warn("debugger peer too slow, closing the stream", "module", t.ModuleID)
			return
		case <-gone:
			return
		}
	}
}

// POST /api/core/v1/cluster/join {"id", "raft_addr", "http_addr", "labels"?, "non_voter"?} (a
// "cert" in the body is ignored)
func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if err := httpwire.DecodeJSON(r, &req); err != nil {
		s.fail(w, r, err, call.Target{})
		return
	}
	if req.ID == "" || req.RaftAddr == "" || req.HTTPAddr == "" {
		s.fail(w, r, errkind.Wrap(httpwire.ErrBadParameter, nil, "join needs id, raft_addr and http_addr"), call.Target{})
		return
	}
	req.Cert = "" // without TLS there is none: no node has an identity of its own
	if p := peerFrom(r.Context()); p != nil {
		if p.node != req.ID {
			s.fail(w, r, errkind.Wrap(ErrNodesOnly, nil, "the certificate of node %q cannot join as %q", p.node, req.ID), call.Target{})
			return
		}
		// The certificate the node joins with, from its connection: the leader refuses it when it
		// was revoked, and records it for the node's removal to revoke.
		req.Cert = p.cert
	}
	if err := s.cfg.Members.Join(r.Context(), raftfsm.Member(req)); err != nil {
		s.fail(w, r, err, call.Target{})
		return
	}
	httpwire.WriteRaw(w, http.StatusOK, []byte(`{"joined":true}`))
}

// POST /api/core/v1/cluster/leave {"id"}: the node named leaves the cluster; this node itself when
// id is its own. The id is required and must be a member: a body naming the node any other way
// ({"node": …}) once made the node asked leave, and an id no member has was a silent success.
func (s *Server) handleLeave(w http.ResponseWriter, r *http.Request) {
	id, err := leaveTarget(r)
	if err == nil {
		if member, _ := standing(s.cfg.Members, id); !member {
			err = leaveRefusal(s.cfg.Members, id)
		}
	}
	if err != nil {
		s.fail(w, r, err, call.Target{})
		return
	}
	self := id == s.cfg.Members.ID()
	s.log.Info("removal of a node asked", "id", id, "self", self, "by", peerFrom(r.Context()).name(), "remote", r.RemoteAddr)
	if !self {
		if err := s.cfg.Members.RemoveNode(r.Context(), id); err != nil {
			s.fail(w, r, err, call.Target{})
			return
		}
	} else if s.cfg.Leave != nil {
		s.cfg.Leave()
	}
	httpwire.WriteRaw(w, http.StatusOK, []byte(`{"left":true}`))
}

// leaveTarget reads the leave body strictly: exactly {"id": "<node>"}.
func leaveTarget(r *http.Request) (string, error) {
	data, err := httpwire.ReadBody(r)
	if err != nil {
		return "", err
	}
	var req struct {
		ID string `json:"id"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		// The decoder's message names an unknown field: json: unknown field "node".
		return "", errkind.Wrap(httpwire.ErrBadParameter, nil, `leave body must be {"id": "<node id>"}: %v`, err)
	}
	if req.ID == "" {
		return "", errkind.Wrap(httpwire.ErrBadParameter, nil, `leave body must be {"id": "<node id>"}: the node to remove, this node's own id to make it leave`)
	}
	return req.ID, nil
}

// POST /api/core/v1/cluster/apply: a Raft command forwarded by a follower.
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request) {
	cmd, err := httpwire.ReadBody(r)
	if err != nil {
		s.fail(w, r, err, call.Target{})
		return
	}
	if err := s.cfg.Members.ApplyForwarded(r.Context(), cmd); err != nil {
		s.fail(w, r, unsealedWrite(cmd, err), call.Target{})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
