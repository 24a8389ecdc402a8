package peer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
)

// A node whose view is behind (it was down while another node joined) does not list a newcomer,
// yet must take Raft from it if the newcomer now leads: it asks the members it lists whether they
// do (GET /cluster/members/{node}). One member's word is enough, as a member is trusted with
// everything anyway.

// GET /api/core/v1/cluster/members/{node}?cert=<fingerprint>: {"member": true|false} in this
// node's view; false for a revoked certificate (this node may know of a removal the asking node
// has not applied yet). An older node ignores cert.
func (s *Server) handleMember(w http.ResponseWriter, r *http.Request) {
	member, _ := standing(s.cfg.Members, r.PathValue("node"))
	if cert := r.URL.Query().Get("cert"); cert != "" && s.cfg.Members.Revoked(cert) {
		member = false
	}
	httpwire.WriteJSON(w, http.StatusOK, map[string]bool{"member": member})
}

// IsMember asks the node whose cluster port is at addr whether node, holding the certificate of
// fingerprint cert ("" for any), is a member in its view.
func (p *Client) IsMember(ctx context.Context, addr, node, cert string) (bool, error) {
	u := p.scheme + "://" + addr + httpwire.NodeBase + "/cluster/members/" + url.PathEscape(node)
	if cert != "" {
		u += "?cert=" + url.QueryEscape(cert)
	}
	status, data, err := p.do(ctx, http.MethodGet, addr, u, nil, nil, httpwire.RequestID(ctx))
	if err != nil {
		return false, err
	}
	if status != http.StatusOK {
		return false, httpwire.ProblemOf(status, data, addr)
	}
	var answer struct {
		Member bool `json:"member"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return false, errkind.Wrap(errkind.Unavailable, err, "node %s answered a membership question with %q", addr, data)
	}
	return answer.Member, nil
}

// How long a member's answer holds, and how long one question may take.
const (
	vouchFor     = 10 * time.Second
	vouchTimeout = 2 * time.Second
)

// vouchers asks the members this node lists about a node it does not list, and remembers the
// answer for vouchFor: a refused node that keeps calling costs one round of questions that long,
// and a vouched connection checks again that often (memberConn), not at every recheck.
type vouchers struct {
	ask func(ctx context.Context, addr, node, cert string) (bool, error) // Client.IsMember

	mu      sync.Mutex
	answers map[peerCert]vouch
}

type vouch struct {
	member bool
	until  time.Time
}

// vouched reports whether a member other than self and p's node, in r's node table, says p is a
// member.
func (v *vouchers) vouched(r Roster, p peerCert) bool {
	now := time.Now()
	v.mu.Lock()
	a, ok := v.answers[p]
	v.mu.Unlock()
	if ok && now.Before(a.until) {
		return a.member
	}
	member := false
	for _, n := range r.Nodes() {
		if n.ID == r.ID() || n.ID == p.node || n.RaftAddr == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), vouchTimeout)
		yes, err := v.ask(ctx, n.RaftAddr, p.node, p.cert)
		cancel()
		if err == nil && yes {
			member = true
			break
		}
	}
	v.mu.Lock()
	if v.answers == nil {
		v.answers = map[peerCert]vouch{}
	}
	v.answers[p] = vouch{member: member, until: now.Add(vouchFor)}
	v.mu.Unlock()
	return member
}

// admitRaftVouched is admitRaft, where a node this node's view does not list is also admitted
// when a member it lists vouches for it.
func (v *vouchers) admitRaftVouched(r Roster, p peerCert) error {
	err := admitRaft(r, p)
	if errors.Is(err, ErrNotMember) && v.ask != nil && v.vouched(r, p) {
		return nil
	}
	return err
}
