package peer

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
)

// GET /api/core/v1/status on the cluster port: this node's drivers, modules and builds, for
// another node that answers for the whole cluster (the operator console's drivers page).
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.cfg.Local.NodeStatus(r.Context())
	if err != nil {
		s.fail(w, r, err, call.Target{})
		return
	}
	httpwire.WriteJSON(w, http.StatusOK, st)
}

// NodeStatus asks the node whose cluster port is at addr for its status (the document of
// GET /api/core/v1/status on the client API), as the caller ctx carries may read it: the other
// node leaves out what that caller may not read (a protected module's failure), as this one does.
func (p *Client) NodeStatus(ctx context.Context, addr string) (json.RawMessage, error) {
	caller := auth.CallerFrom(ctx)
	status, data, err := p.do(ctx, http.MethodGet, addr, p.scheme+"://"+addr+httpwire.NodeBase+"/status", nil, &caller, httpwire.RequestID(ctx))
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, httpwire.ProblemOf(status, data, addr)
	}
	if !json.Valid(data) {
		return nil, errkind.Wrap(errkind.Unavailable, nil, "node %s answered its status with something that is not JSON", addr)
	}
	return data, nil
}
