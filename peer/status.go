package peer

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
)

// maxStatus bounds a node's status answer (about 1 MB at 10 000 modules).
const maxStatus = 32 << 20

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
// GET /api/core/v1/status on the client API).
func (p *Client) NodeStatus(ctx context.Context, addr string) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.scheme+"://"+addr+httpwire.NodeBase+"/status", nil)
	if err != nil {
		return nil, errkind.Wrap(errkind.BadRequest, err, "request to node %s", addr)
	}
	if rid := httpwire.RequestID(ctx); rid != "" {
		httpwire.SetRequestID(req.Header, rid)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, late(ctx, addr)
		}
		return nil, p.unreachable(addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxStatus))
	if err != nil {
		return nil, errkind.Wrap(errkind.Unavailable, err, "reading the status of node %s", addr)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, httpwire.ProblemOf(resp.StatusCode, data, addr)
	}
	if !json.Valid(data) {
		return nil, errkind.Wrap(errkind.Unavailable, nil, "node %s answered its status with something that is not JSON", addr)
	}
	return data, nil
}
