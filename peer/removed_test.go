package peer_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
	"github.com/placeos-go/engine/raftfsm"
)

// staleRoster is a removed node's own view: its table and configuration still list it.
type staleRoster struct {
	id      string
	nodes   []raftfsm.Node
	servers []raftfsm.Server
}

func (r *staleRoster) ID() string                         { return r.id }
func (r *staleRoster) Nodes() []raftfsm.Node              { return r.nodes }
func (r *staleRoster) Servers() ([]raftfsm.Server, error) { return r.servers, nil }
func (r *staleRoster) Revoked(string) bool                { return false }

// TestRemovalWatch: a node whose own view still lists it, cut off from any leader, asks a member
// over the cluster port, learns it is not one, and says so once at ERROR, naming who said it;
// with a leader again it is a member. A node that never was listed (joining) is not "removed".
func TestRemovalWatch(t *testing.T) {
	t.Parallel()
	member := newNode(t) // lists n1 and n2, not n3
	var logs testutil.LockedBuffer
	var leader atomic.Value
	leader.Store("")
	roster := &staleRoster{id: "n3", servers: []raftfsm.Server{{ID: "n3"}, {ID: nodeID}},
		nodes: []raftfsm.Node{{ID: "n3"}, {ID: nodeID, RaftAddr: member.addr}}}
	asker := peer.NewClient(proved)
	t.Cleanup(asker.Close)
	w := peer.NewRemovalWatch(peer.RemovalConfig{Logger: logTo(&logs), Roster: roster, Asker: asker,
		Leader: func() string { return leader.Load().(string) }})

	w.Check(t.Context())
	w.Check(t.Context())
	err := w.Removed()
	if !errors.Is(err, peer.ErrRemoved) || errkind.Classify(err).Status != 503 ||
		!strings.Contains(err.Error(), "node "+nodeID+" ("+member.addr+") does not list it") {
		t.Fatalf("removed: %v", err)
	}
	if n := strings.Count(logs.String(), "[ERROR] membership: this node was removed from the cluster"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}

	leader.Store(nodeID)
	w.Check(t.Context())
	if err := w.Removed(); err != nil || !strings.Contains(logs.String(), "a member of the cluster again") {
		t.Fatalf("with a leader: %v\n%s", err, logs.String())
	}

	// Joining: neither the configuration nor the table lists it yet.
	joining := peer.NewRemovalWatch(peer.RemovalConfig{Roster: &staleRoster{id: "n4", nodes: roster.nodes}, Asker: asker,
		Leader: func() string { return "" }})
	joining.Check(t.Context())
	if err := joining.Removed(); err != nil {
		t.Fatalf("a joining node: %v", err)
	}
}

// TestRemovalWatchOverTLS: over TLS a member refuses a removed node's certificate outright — 403
// not a member, or revoked once an operator removed it — and the watch reads either as removal.
func TestRemovalWatchOverTLS(t *testing.T) {
	t.Parallel()
	cs := newCerts(t, "n1", "n3")
	member := newNode(t, func(s *setup) { s.proof = peer.Proof{TLS: cs.of(t, "n1")} })
	member.members.setTable("n1", "n2")
	mine := cs.of(t, "n3")
	asker := newClient(t, peer.Proof{TLS: mine})
	roster := &staleRoster{id: "n3", servers: []raftfsm.Server{{ID: "n3"}, {ID: "n1"}},
		nodes: []raftfsm.Node{{ID: "n3"}, {ID: "n1", RaftAddr: member.addr}}}
	w := peer.NewRemovalWatch(peer.RemovalConfig{Roster: roster, Asker: asker, Leader: func() string { return "" }})

	w.Check(t.Context())
	if err := w.Removed(); err == nil || !strings.Contains(err.Error(), "node n1 ("+member.addr+") refuses it") ||
		!strings.Contains(err.Error(), "not a member") {
		t.Fatalf("not a member: %v", err)
	}
	member.members.revoke(mine.Fingerprint())
	w.Check(t.Context())
	if err := w.Removed(); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked: %v", err)
	}
}
