package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/placeos-go/engine/errkind"
)

// PeerClient makes node-to-node calls: executes forwarded to a module's owner, Raft commands
// forwarded to the leader, and joins. It keeps connections to peers open for reuse.
type PeerClient struct {
	secret string
	hc     *http.Client
}

// NewPeerClient returns a client that sends secret with every call.
func NewPeerClient(secret string) *PeerClient {
	return &PeerClient{secret: secret, hc: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}}
}

// Exec runs fn on moduleID at the node whose HTTP address is addr. A node that does not host the
// module answers 409, returned as an errkind.Conflict error; an unreachable node is
// errkind.Unavailable; a driver failure comes back as *errkind.DriverError.
func (p *PeerClient) Exec(ctx context.Context, addr, moduleID, fn string, args json.RawMessage, userID, requestID string) (json.RawMessage, int, error) {
	if len(args) == 0 {
		args = json.RawMessage("[]")
	}
	fnJSON, _ := json.Marshal(fn)
	body := make([]byte, 0, len(args)+len(fnJSON)*2+16)
	body = append(body, `{"__exec__":`...)
	body = append(append(body, fnJSON...), ',')
	body = append(append(append(body, fnJSON...), ':'), args...)
	body = append(body, '}')
	path := NodeBase + "/command/" + url.PathEscape(moduleID) + "/execute"
	if dl, ok := ctx.Deadline(); ok {
		path += fmt.Sprintf("?timeout=%d", max(time.Until(dl).Milliseconds(), 1))
	}
	resp, err := p.post(ctx, addr, path, body, func(h http.Header) {
		h.Set(UserIDHeader, userID)
		h.Set(RequestIDHeader, requestID)
	})
	if err != nil {
		return nil, 0, err
	}
	if resp.status < 300 {
		return resp.body, resp.status, nil
	}
	return nil, 0, resp.err(addr)
}

// Forward sends a Raft command to the leader (raftfsm.Forwarder).
func (p *PeerClient) Forward(ctx context.Context, addr string, cmd []byte) error {
	resp, err := p.post(ctx, addr, NodeBase+"/cluster/apply", cmd, nil)
	if err != nil {
		return err
	}
	if resp.status >= 300 {
		return resp.err(addr)
	}
	return nil
}

// Join asks the member at addr to add this node to the cluster.
func (p *PeerClient) Join(ctx context.Context, addr, id, raftAddr, httpAddr string) error {
	body, _ := json.Marshal(joinRequest{ID: id, RaftAddr: raftAddr, HTTPAddr: httpAddr})
	resp, err := p.post(ctx, addr, NodeBase+"/cluster/join", body, nil)
	if err != nil {
		return err
	}
	if resp.status >= 300 {
		return resp.err(addr)
	}
	return nil
}

type peerResponse struct {
	status int
	body   []byte
}

func (p *PeerClient) post(ctx context.Context, addr, path string, body []byte, header func(http.Header)) (*peerResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, errkind.Wrap(errkind.BadRequest, err, "peer request to %s", addr)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.secret != "" {
		req.Header.Set(ClusterSecretHeader, p.secret)
	}
	if header != nil {
		header(req.Header)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errkind.Wrap(errkind.Timeout, ctx.Err(), "node %s did not answer in time", addr)
		}
		return nil, errkind.Wrap(errkind.Unavailable, err, "node %s is unreachable", addr)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, errkind.Wrap(errkind.Unavailable, err, "reading the answer of node %s", addr)
	}
	return &peerResponse{status: resp.StatusCode, body: data}, nil
}

// err turns a peer's error response back into an error of the same kind, so that a failure
// reaches the original caller as if it had happened here.
func (r *peerResponse) err(addr string) error {
	var body ErrorBody
	if json.Unmarshal(r.body, &body) != nil || body.Message == "" {
		body.Message = fmt.Sprintf("node %s answered %d", addr, r.status)
	}
	if body.Error == CodeRequestFailed.String() {
		return &errkind.DriverError{Message: body.Message, Backtrace: body.Backtrace, Code: r.status}
	}
	kind := errkind.Internal
	switch r.status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		kind = errkind.BadRequest
	case http.StatusUnauthorized:
		kind = errkind.Unauthorized
	case http.StatusForbidden:
		kind = errkind.Forbidden
	case http.StatusNotFound:
		kind = errkind.NotFound
	case http.StatusConflict:
		kind = errkind.Conflict
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		kind = errkind.Unavailable
	case http.StatusGatewayTimeout:
		kind = errkind.Timeout
	}
	if body.Error == CodeSystemNotFound.String() {
		return fail(ErrSystemNotFound, nil, "%s", body.Message)
	}
	return errkind.Wrap(kind, nil, "%s", body.Message)
}
