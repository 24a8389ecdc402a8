package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/placeos-go/engine/errkind"
)

// Cluster is this node's part in the cluster: the node-to-node routes and GET /cluster. The
// composition root implements it over core and the Raft store.
type Cluster interface {
	// ExecLocal runs fn on a module this node hosts; a module hosted elsewhere is an
	// errkind.Conflict error naming the owner.
	ExecLocal(ctx context.Context, moduleID, fn string, args json.RawMessage, userID, requestID string) (json.RawMessage, int, error)
	Join(ctx context.Context, id, raftAddr, httpAddr string) error
	// Leave takes a node out of the cluster; "" is this node.
	Leave(ctx context.Context, id string) error
	// ApplyForwarded applies a model or node-table command a follower forwarded to the leader.
	ApplyForwarded(ctx context.Context, cmd []byte) error
	// Info is the GET /api/engine/v2/cluster document.
	Info(ctx context.Context) (any, error)
}

// Node-to-node request headers.
const (
	// ClusterSecretHeader carries --cluster-secret on node-to-node calls.
	ClusterSecretHeader = "X-Cluster-Secret"
	// UserIDHeader carries the originating user of a forwarded call; it is trusted only on
	// requests that carry the cluster secret.
	UserIDHeader = "X-User-ID"
)

// ErrNoCluster is answered by cluster routes on a node that is not part of a cluster.
var ErrNoCluster = errkind.New(errkind.NotFound, "this node is not part of a cluster")

func (s *Server) clusterRoutes(handle func(method, path string, h http.HandlerFunc)) {
	handle(http.MethodGet, ClientBase+"/cluster", s.handleClusterInfo)
	n := NodeBase
	handle(http.MethodPost, n+"/command/{module}/execute", s.nodeOnly(s.handleNodeExecute))
	handle(http.MethodPost, n+"/cluster/join", s.nodeOnly(s.handleJoin))
	handle(http.MethodPost, n+"/cluster/leave", s.nodeOnly(s.handleLeave))
	handle(http.MethodPost, n+"/cluster/apply", s.nodeOnly(s.handleApply))
}

// nodeOnly admits node-to-node calls only (the authentication middleware makes a request with
// the right cluster secret a node caller), on a node that is part of a cluster.
func (s *Server) nodeOnly(h http.HandlerFunc) http.HandlerFunc {
	node := s.RequireNode(h)
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Cluster == nil {
			s.writeError(w, r, ErrNoCluster, target{})
			return
		}
		node(w, r)
	}
}

// POST /api/core/v1/command/{module}/execute, body {"__exec__": fn, fn: args}: runs here if this
// node hosts the module, else 409 naming the owner so the caller retries there.
func (s *Server) handleNodeExecute(w http.ResponseWriter, r *http.Request) {
	t := target{ModuleID: mux.Vars(r)["module"]}
	var body map[string]json.RawMessage
	if err := decodeBody(r, &body); err != nil {
		s.writeError(w, r, err, t)
		return
	}
	var fn string
	if err := json.Unmarshal(body["__exec__"], &fn); err != nil || fn == "" {
		s.writeError(w, r, fail(ErrBadBody, err, `body must be {"__exec__": "<function>", "<function>": <args>}`), t)
		return
	}
	timeout, err := s.execTimeout(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, code, err := s.cfg.Cluster.ExecLocal(ctx, t.ModuleID, fn, body[fn], r.Header.Get(UserIDHeader), RequestID(r.Context()))
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	writeRaw(w, code, res)
}

type joinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

// POST /api/core/v1/cluster/join {"id", "raft_addr", "http_addr"}
func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err, target{})
		return
	}
	if req.ID == "" || req.RaftAddr == "" || req.HTTPAddr == "" {
		s.writeError(w, r, fail(ErrBadParameter, nil, "join needs id, raft_addr and http_addr"), target{})
		return
	}
	if err := s.cfg.Cluster.Join(r.Context(), req.ID, req.RaftAddr, req.HTTPAddr); err != nil {
		s.writeError(w, r, err, target{})
		return
	}
	writeRaw(w, http.StatusOK, []byte(`{"joined":true}`))
}

// POST /api/core/v1/cluster/leave {"id"?}: the node named, or this node.
func (s *Server) handleLeave(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			s.writeError(w, r, err, target{})
			return
		}
	}
	if err := s.cfg.Cluster.Leave(r.Context(), req.ID); err != nil {
		s.writeError(w, r, err, target{})
		return
	}
	writeRaw(w, http.StatusOK, []byte(`{"left":true}`))
}

// POST /api/core/v1/cluster/apply: a Raft command forwarded by a follower.
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request) {
	cmd, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, readErr(err), target{})
		return
	}
	if err := s.cfg.Cluster.ApplyForwarded(r.Context(), cmd); err != nil {
		s.writeError(w, r, err, target{})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GET /api/engine/v2/cluster
func (s *Server) handleClusterInfo(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Cluster == nil {
		s.writeError(w, r, ErrNoCluster, target{})
		return
	}
	info, err := s.cfg.Cluster.Info(r.Context())
	if err != nil {
		s.writeError(w, r, err, target{})
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// decodeBody reads a JSON body into v, telling malformed JSON from a body that is too large.
func decodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return readErr(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fail(ErrMalformedJSON, err, "malformed JSON body: %v", err)
	}
	return nil
}

// readErr keeps a body-too-large error as it is (Classify answers 413) and calls anything else
// a bad body.
func readErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return fail(ErrBadBody, err, "reading the request body: %v", err)
}
