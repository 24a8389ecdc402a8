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

// GET /api/core/v1/cluster/members/{node}: {"member": true|false} in this node's view.
func (s *Server) handleMember(w http.ResponseWriter, r *http.Request) {
	member, _ := standing(s.cfg.Members, r.PathValue("node"))
	httpwire.WriteJSON(w, http.StatusOK, map[string]bool{"member": member})
}

// IsMember asks the node whose cluster port is at addr whether node is a member in its view.
func (p *Client) IsMember(ctx context.Context, addr, node string) (bool, error) {
	status, data, err := p.do(ctx, http.MethodGet, addr, p.scheme+"://"+addr+httpwire.NodeBase+"/cluster/members/"+url.PathEscape(node),
		nil, nil, httpwire.RequestID(ctx))
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
	ask func(ctx context.Context, addr, node string) (bool, error) // Client.IsMember

	mu      sync.Mutex
	answers map[string]vouch
}

type vouch struct {
	member bool
	until  time.Time
}

// vouched reports whether a member other than self and node, in r's node table, says node is a
// member.
func (v *vouchers) vouched(r Roster, node string) bool {
	now := time.Now()
	v.mu.Lock()
	a, ok := v.answers[node]
	v.mu.Unlock()
	if ok && now.Before(a.until) {
		return a.member
	}
	member := false
	for _, n := range r.Nodes() {
		if n.ID == r.ID() || n.ID == node || n.RaftAddr == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), vouchTimeout)
		yes, err := v.ask(ctx, n.RaftAddr, node)
		cancel()
		if err == nil && yes {
			member = true
			break
		}
	}
	v.mu.Lock()
	if v.answers == nil {
		v.answers = map[string]vouch{}
	}
	v.answers[node] = vouch{member: member, until: now.Add(vouchFor)}
	v.mu.Unlock()
	return member
}

// admitRaftVouched is admitRaft, where a node this node's view does not list is also admitted
// when a member it lists vouches for it.
func (v *vouchers) admitRaftVouched(r Roster, node string) error {
	err := admitRaft(r, node)
	if errors.Is(err, ErrNotMember) && v.ask != nil && v.vouched(r, node) {
		return nil
	}
	return err
}
