package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/raftfsm"
)

// Client makes node-to-node calls to other nodes' cluster ports. It keeps connections to peers
// open for reuse.
type Client struct {
	proof  Proof
	scheme string // http or https
	hc     *http.Client

	mu       sync.Mutex
	links    map[string]*execLink // by address: the exec connections (execlink.go)
	httpOnly map[string]time.Time // nodes that refused the exec protocol, until when
	closed   bool
	timings  linkTimings
}

// maxConnsPerNode bounds the HTTP connections this node holds to one other node's cluster port.
const maxConnsPerNode = 64

// NewClient returns a client that proves this node on every connection it opens (its
// certificate, or the cluster greeting), as the other nodes' ports demand.
func NewClient(proof Proof) *Client {
	// Dialled per connection, so that a certificate reloaded on SIGHUP is used from then on.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return proof.Dial(ctx, addr, 0)
	}
	tr := &http.Transport{
		// Bounded: node-to-node requests follow clients' (GET /api/core/v1/status/cluster asks
		// every node for any authenticated caller), and without a bound a user's 1000 concurrent
		// reads made this node open 450 connections at once to another node's cluster port,
		// filling its handshake places (red team). Past it a request waits for a connection.
		MaxConnsPerHost:     maxConnsPerNode,
		MaxIdleConnsPerHost: maxConnsPerNode,
		IdleConnTimeout:     90 * time.Second,
		Proxy:               nil, // node-to-node calls never go through a proxy
	}
	c := &Client{proof: proof, scheme: "http", links: map[string]*execLink{},
		httpOnly: map[string]time.Time{}, timings: defaultLinkTimings}
	if proof.TLS != nil {
		c.scheme = "https"
		tr.DialTLSContext = dial
	} else {
		tr.DialContext = dial
	}
	c.hc = &http.Client{Transport: tr}
	return c
}

// Exec runs a checked call on the node at addr, which should host req.Target.ModuleID, for
// req.Caller and within ctx's deadline. A node that does not host the module answers 409,
// returned as an errkind.Conflict error; an unreachable node is errkind.Unavailable; a driver
// failure comes back as *errkind.DriverError.
//
// The call goes over the exec protocol (frame.go), or over HTTP to a node that does not speak it.
func (p *Client) Exec(ctx context.Context, addr string, req call.Request) (call.Result, error) {
	status, data, err := p.execFrames(ctx, addr, &req)
	if errors.Is(err, errNoExecProtocol) {
		status, data, err = p.execHTTP(ctx, addr, &req)
	}
	if err != nil {
		return call.Result{}, err
	}
	if status >= 300 {
		return call.Result{}, httpwire.ProblemOf(status, data, addr)
	}
	return call.Result{ModuleID: req.Target.ModuleID, Value: data, Code: status}, nil
}

// execHTTP is Exec over the HTTP execute route.
func (p *Client) execHTTP(ctx context.Context, addr string, req *call.Request) (int, []byte, error) {
	args := req.Args
	if len(args) == 0 {
		args = emptyArgs
	}
	// The arguments go as they came (checked, never decoded here); the function name is the only
	// thing encoded.
	fnJSON := jsonString(req.Function)
	body := make([]byte, 0, len(args)+len(fnJSON)*2+16)
	body = append(body, `{"__exec__":`...)
	body = append(append(body, fnJSON...), ',')
	body = append(append(append(body, fnJSON...), ':'), args...)
	body = append(body, '}')
	target := make([]byte, 0, len(p.scheme)+len(addr)+len(req.Target.ModuleID)+64)
	target = append(append(append(target, p.scheme...), "://"...), addr...)
	target = append(append(target, httpwire.NodeBase+"/command/"...), url.PathEscape(req.Target.ModuleID)...)
	target = append(target, "/execute"...)
	if dl, ok := ctx.Deadline(); ok {
		target = strconv.AppendInt(append(target, "?timeout="...), max(time.Until(dl).Milliseconds(), 1), 10)
	}
	return p.post(ctx, addr, string(target), body, &req.Caller, req.RequestID)
}

// jsonString is s as a JSON string, as json.Marshal writes it; a plain name (printable ASCII that
// neither JSON nor Marshal's HTML escaping changes) is only quoted.
func jsonString(s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return b
		}
	}
	return append(append(append(make([]byte, 0, len(s)+2), '"'), s...), '"')
}

// Forward sends a Raft command to the leader at addr (raftfsm.Forwarder).
func (p *Client) Forward(ctx context.Context, addr string, cmd []byte) error {
	return p.postOK(ctx, addr, httpwire.NodeBase+"/cluster/apply", cmd)
}

// Join asks the member at addr to add this node (m: its id, addresses, labels and vote) to the
// cluster.
func (p *Client) Join(ctx context.Context, addr string, m raftfsm.Member) error {
	body, _ := json.Marshal(joinRequest(m))
	return p.postOK(ctx, addr, httpwire.NodeBase+"/cluster/join", body)
}

// Remove asks the member at addr to remove node id from the cluster, revoking the certificates
// it joined with (POST /cluster/leave {"id"}; id must not be that member's own: it would leave).
func (p *Client) Remove(ctx context.Context, addr, id string) error {
	body, _ := json.Marshal(map[string]string{"id": id})
	return p.postOK(ctx, addr, httpwire.NodeBase+"/cluster/leave", body)
}

// postOK posts as the node itself and wants a 2xx.
func (p *Client) postOK(ctx context.Context, addr, path string, body []byte) error {
	status, data, err := p.post(ctx, addr, p.scheme+"://"+addr+path, body, nil, httpwire.RequestID(ctx))
	if err != nil {
		return err
	}
	if status >= 300 {
		return httpwire.ProblemOf(status, data, addr)
	}
	return nil
}

// post sends body to target (a URL of addr) as the node itself (caller nil) or for caller.
func (p *Client) post(ctx context.Context, addr, target string, body []byte, caller *auth.Caller, requestID string) (int, []byte, error) {
	return p.do(ctx, http.MethodPost, addr, target, body, caller, requestID)
}

// do is one request to target (a URL of addr) with body (nil: none) and its answer.
func (p *Client) do(ctx context.Context, method, addr, target string, body []byte, caller *auth.Caller, requestID string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, nil, errkind.Wrap(errkind.BadRequest, err, "request to node %s", addr)
	}
	if body != nil {
		req.Header["Content-Type"] = jsonContentType
	}
	if caller != nil {
		auth.SetNodeCredentials(req.Header, *caller)
	} // else the node acting for itself: the receiving node trusts it as an admin
	if requestID != "" {
		httpwire.SetRequestID(req.Header, requestID)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, late(ctx, addr)
		}
		return 0, nil, p.unreachable(addr, err)
	}
	defer resp.Body.Close()
	var data []byte
	if n := resp.ContentLength; n >= 0 && n <= maxAnswer {
		data = make([]byte, n) // the answer in one allocation: an execute's is usually small
		_, err = io.ReadFull(resp.Body, data)
	} else {
		data, err = io.ReadAll(resp.Body)
	}
	if err != nil {
		return 0, nil, errkind.Wrap(errkind.Unavailable, err, "reading the answer of node %s", addr)
	}
	return resp.StatusCode, data, nil
}

// jsonContentType is the Content-Type of every request, shared (net/http only reads it).
var jsonContentType = []string{"application/json"}

// maxAnswer is the largest answer read in one allocation of its declared length; a larger one
// (or one of unknown length) is read as it comes.
const maxAnswer = 1 << 20

// joinRequest is the join route's body: the joining node as raftfsm records it.
type joinRequest raftfsm.Member

// unreachable is the error of a node that did not answer. Where the failure says why — a
// certificate of another cluster, a plain HTTP server where a cluster port was expected, a connection closed
// before a word (a greeting refused) — the message says so, since nothing else would tell an
// operator that the nodes are set up differently.
func (p *Client) unreachable(addr string, err error) error {
	switch {
	case errors.Is(err, clustertls.ErrNotACluster):
		return errkind.Wrap(errkind.Unavailable, err, "node %s is not of this cluster", addr)
	case p.proof.TLS != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return errkind.Wrap(ErrNotClusterPort, err,
			"%s answered plain HTTP: it is not a cluster port (a client API? name a member's --raft-addr)", addr)
	case p.proof.TLS == nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		// net/http's word for a connection closed before its request went out, unexported
		strings.Contains(err.Error(), "server closed idle connection")):
		return errkind.Wrap(errkind.Unavailable, err,
			"node %s is unreachable: it closed the connection at once (does it run TLS, or have another --cluster-secret?)", addr)
	}
	return errkind.Wrap(errkind.Unavailable, err, "node %s is unreachable", addr)
}
