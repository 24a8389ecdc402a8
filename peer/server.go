package peer

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
)

// Local is this node's engine as other nodes use it (package core).
type Local interface {
	// ExecuteHere runs a call on this node only; a module hosted elsewhere is an
	// errkind.Conflict error naming the owner.
	ExecuteHere(ctx context.Context, req call.Request) (call.Result, error)
	// DebugHere streams the log lines of a module this node hosts.
	DebugHere(ctx context.Context, moduleID string, fn func(level, msg string)) (cancel func(), err error)
}

// Membership is the cluster's membership and replicated log (package raftfsm).
type Membership interface {
	ID() string
	Join(ctx context.Context, id, raftAddr, httpAddr string) error
	RemoveNode(ctx context.Context, id string) error
	// ApplyForwarded applies a Raft command a follower forwarded to the leader.
	ApplyForwarded(ctx context.Context, cmd []byte) error
}

// ServerConfig configures a Server. Logger, Local and Members are required.
type ServerConfig struct {
	Logger  hclog.Logger
	Local   Local
	Members Membership
	// Leave starts this node's graceful leave and shutdown (POST /cluster/leave naming it).
	Leave func()
	// DebugQueue bounds the lines waiting for a slow debugger peer (default 256).
	DebugQueue int
}

// Server answers the node-to-node routes.
type Server struct {
	cfg ServerConfig
	log hclog.Logger
}

// NewServer returns the node-to-node routes of this node.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.DebugQueue <= 0 {
		cfg.DebugQueue = 256
	}
	return &Server{cfg: cfg, log: cfg.Logger.Named("peer")}
}

// debugAttachTimeout bounds attaching to a module's log lines.
const debugAttachTimeout = 10 * time.Second

// writeTimeout drops a debugger peer whose TCP window stays shut.
const writeTimeout = 10 * time.Second

// Routes registers the node-to-node routes through handle (the HTTP server's, which
// authenticates every request first).
func (s *Server) Routes(handle func(method, path string, h http.HandlerFunc)) {
	n := httpwire.NodeBase
	handle(http.MethodPost, n+"/command/{module}/execute", s.nodesOnly(s.handleExecute))
	handle(http.MethodGet, n+"/command/{module}/debugger", s.nodesOnly(s.handleDebugger))
	handle(http.MethodPost, n+"/cluster/join", s.nodesOnly(s.handleJoin))
	handle(http.MethodPost, n+"/cluster/leave", s.nodesOnly(s.handleLeave))
	handle(http.MethodPost, n+"/cluster/apply", s.nodesOnly(s.handleApply))
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, t call.Target) {
	httpwire.WriteError(w, r, s.log, err, t)
}

// nodesOnly admits requests from other nodes (the authentication middleware makes a request with
// the right cluster secret a node caller); users get 403, even admins.
func (s *Server) nodesOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !auth.CallerFrom(r.Context()).Node {
			s.fail(w, r, ErrNodesOnly, call.Target{})
			return
		}
		h(w, r)
	}
}

// POST /api/core/v1/command/{module}/execute, body {"__exec__": fn, fn: args}: runs here if this
// node hosts the module, else 409 naming the owner so the caller retries there.
func (s *Server) handleExecute(w http.ResponseWriter, r *http.Request) {
	t := call.Target{ModuleID: mux.Vars(r)["module"]}
	var body map[string]json.RawMessage
	if err := httpwire.DecodeJSON(r, &body); err != nil {
		s.fail(w, r, err, t)
		return
	}
	var fn string
	if err := json.Unmarshal(body["__exec__"], &fn); err != nil || fn == "" {
		s.fail(w, r, errkind.Wrap(httpwire.ErrBadBody, nil, `body must be {"__exec__": "<function>", "<function>": <args>}`), t)
		return
	}
	timeout, err := httpwire.Timeout(r)
	if err != nil {
		s.fail(w, r, err, t)
		return
	}
	res, err := s.cfg.Local.ExecuteHere(r.Context(), call.Request{
		Target: t, Function: fn, Args: body[fn], Caller: auth.CallerFrom(r.Context()),
		RequestID: httpwire.RequestID(r.Context()), Timeout: timeout,
	})
	if err != nil {
		s.fail(w, r, err, t)
		return
	}
	httpwire.WriteRaw(w, res.Code, res.Value)
}

// GET /api/core/v1/command/{module}/debugger: a WebSocket of [severity, "line"] frames for a
// module this node hosts, for as long as the caller keeps it open. It attaches before upgrading,
// so a module this node does not host is an ordinary error answer the caller can read.
func (s *Server) handleDebugger(w http.ResponseWriter, r *http.Request) {
	t := call.Target{ModuleID: mux.Vars(r)["module"]}
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

// POST /api/core/v1/cluster/join {"id", "raft_addr", "http_addr"}
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
	if err := s.cfg.Members.Join(r.Context(), req.ID, req.RaftAddr, req.HTTPAddr); err != nil {
		s.fail(w, r, err, call.Target{})
		return
	}
	httpwire.WriteRaw(w, http.StatusOK, []byte(`{"joined":true}`))
}

// POST /api/core/v1/cluster/leave {"id"?}: the node named, or this node.
func (s *Server) handleLeave(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if r.ContentLength != 0 {
		if err := httpwire.DecodeJSON(r, &req); err != nil {
			s.fail(w, r, err, call.Target{})
			return
		}
	}
	if req.ID != "" && req.ID != s.cfg.Members.ID() {
		if err := s.cfg.Members.RemoveNode(r.Context(), req.ID); err != nil {
			s.fail(w, r, err, call.Target{})
			return
		}
	} else if s.cfg.Leave != nil {
		s.cfg.Leave()
	}
	httpwire.WriteRaw(w, http.StatusOK, []byte(`{"left":true}`))
}

// POST /api/core/v1/cluster/apply: a Raft command forwarded by a follower.
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request) {
	cmd, err := httpwire.ReadBody(r)
	if err != nil {
		s.fail(w, r, err, call.Target{})
		return
	}
	if err := s.cfg.Members.ApplyForwarded(r.Context(), cmd); err != nil {
		s.fail(w, r, err, call.Target{})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
