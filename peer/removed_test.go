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
	err := w.NotMember()
	if !errors.Is(err, peer.ErrNotInCluster) || errkind.Classify(err).Status != 503 ||
		!strings.Contains(err.Error(), "node "+nodeID+" ("+member.addr+") does not list it") {
		t.Fatalf("removed: %v", err)
	}
	if n := strings.Count(logs.String(), "[ERROR] membership: this node is not a member of the cluster"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}

	leader.Store(nodeID)
	w.Check(t.Context())
	if err := w.NotMember(); err != nil || !strings.Contains(logs.String(), "a member of the cluster again") {
		t.Fatalf("with a leader: %v\n%s", err, logs.String())
	}

	// Restarted before any snapshot: its table is empty, and the members it asks are those of
	// its Raft configuration.
	fresh := peer.NewRemovalWatch(peer.RemovalConfig{Roster: &staleRoster{id: "n3", servers: []raftfsm.Server{{ID: "n3"}, {ID: nodeID, RaftAddr: member.addr}}},
		Asker: asker, Leader: func() string { return "" }})
	fresh.Check(t.Context())
	if err := fresh.NotMember(); err == nil || !strings.Contains(err.Error(), "node "+nodeID+" ("+member.addr+") does not list it") {
		t.Fatalf("restarted with no table: %v", err)
	}

	// Joining: neither the configuration nor the table lists it yet.
	joining := peer.NewRemovalWatch(peer.RemovalConfig{Roster: &staleRoster{id: "n4", nodes: roster.nodes}, Asker: asker,
		Leader: func() string { return "" }, Joins: true})
	joining.Check(t.Context())
	if err := joining.NotMember(); err != nil {
		t.Fatalf("a joining node: %v", err)
	}
}

// TestRemovalWatchRestartedOutside: the rolling-upgrade drill's node, restarted without --join
// after it left (SIGTERM) or after its removal reached it, said "catching up" for ever. Its own
// Raft configuration does not list it and no leader talks to it: it is not a member, says so
// once, names the members' cluster ports to --join, and answers in state "not a member". A
// leader that talks to it has it in its configuration after all; a node with no Raft state and
// no --join has no cluster; a node that joins on this start (--join) with its old table is
// neither, until the leader's entries reach it.
func TestRemovalWatchRestartedOutside(t *testing.T) {
	t.Parallel()
	var logs testutil.LockedBuffer
	var leader atomic.Value
	leader.Store("")
	left := &staleRoster{id: "n3", servers: []raftfsm.Server{{ID: "n1", RaftAddr: "10.0.0.1:7000"}, {ID: "n2", RaftAddr: "10.0.0.2:7000"}},
		nodes: []raftfsm.Node{{ID: "n1", RaftAddr: "10.0.0.1:7000"}, {ID: "n2", RaftAddr: "10.0.0.2:7000"}, {ID: "n3"}}}
	w := peer.NewRemovalWatch(peer.RemovalConfig{Logger: logTo(&logs), Roster: left,
		Leader: func() string { return leader.Load().(string) }})
	w.Check(t.Context())
	w.Check(t.Context())
	err := w.NotMember()
	if !errors.Is(err, peer.ErrNotInCluster) || !strings.Contains(err.Error(), "its Raft configuration no longer lists it") ||
		!strings.Contains(err.Error(), "--join 10.0.0.1:7000,10.0.0.2:7000") || !strings.Contains(err.Error(), "wipe its data directory") {
		t.Fatalf("restarted outside: %v", err)
	}
	if p := errkind.Classify(err); p.Status != 503 || p.State != peer.NotMemberState {
		t.Fatalf("restarted outside: %+v", p)
	}
	if n := strings.Count(logs.String(), "[ERROR] membership: this node is not a member of the cluster"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}
	leader.Store("n1")
	w.Check(t.Context())
	if err := w.NotMember(); err != nil {
		t.Fatalf("with a leader talking to it: %v", err)
	}

	// Its table from before the snapshot does not list it either (no snapshot yet): the same.
	bare := &staleRoster{id: "n3", servers: left.servers}
	w = peer.NewRemovalWatch(peer.RemovalConfig{Roster: bare, Leader: func() string { return "" }})
	w.Check(t.Context())
	if err := w.NotMember(); err == nil || !strings.Contains(err.Error(), "does not list it, and it was started without --join") {
		t.Fatalf("restarted outside, no table: %v", err)
	}
	// No Raft state, no --join: no cluster at all.
	w = peer.NewRemovalWatch(peer.RemovalConfig{Roster: &staleRoster{id: "n9"}, Leader: func() string { return "" }})
	w.Check(t.Context())
	if err := w.NotMember(); err == nil || !strings.Contains(err.Error(), "no Raft state") || !strings.Contains(err.Error(), "--bootstrap") {
		t.Fatalf("no Raft state: %v", err)
	}
	// Rejoining with --join: its old table lists it, its configuration not yet.
	w = peer.NewRemovalWatch(peer.RemovalConfig{Roster: left, Leader: func() string { return "" }, Joins: true})
	w.Check(t.Context())
	if err := w.NotMember(); err != nil {
		t.Fatalf("rejoining: %v", err)
	}
	// Joined, and a leader reached it; then it lost the leader, and its configuration no longer
	// lists it: removed right after it joined.
	w = peer.NewRemovalWatch(peer.RemovalConfig{Roster: left, Leader: func() string { return "" }, Joins: true,
		Contacted: func() bool { return true }})
	w.Check(t.Context())
	if err := w.NotMember(); err == nil || !strings.Contains(err.Error(), "no longer lists it") {
		t.Fatalf("removed after it joined: %v", err)
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
	if err := w.NotMember(); err == nil || !strings.Contains(err.Error(), "node n1 ("+member.addr+") refuses it") ||
		!strings.Contains(err.Error(), "not a member") {
		t.Fatalf("not a member: %v", err)
	}
	member.members.revoke(mine.Fingerprint())
	w.Check(t.Context())
	if err := w.NotMember(); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked: %v", err)
	}
}

// TestRemovalWatchOneMemberBehind: a member that loses its leader (an election) asks the others,
// and one of them is behind — it was down while this node joined, or it is joining itself — so
// it does not list this node, while another member does. One such answer made a healthy member
// call itself removed (ERROR, 503 "not a member" on every execute, not ready, the hint to wipe
// its data directory) until a leader reached it again. A member that lists it outweighs any
// number that do not; with none listing it, it is not a member.
func TestRemovalWatchOneMemberBehind(t *testing.T) {
	t.Parallel()
	behind := newNode(t) // lists n1 and n2, not n3
	current := newNode(t)
	current.members.setTable("n1", "n2", "n3")
	var logs testutil.LockedBuffer
	// "a-…" is asked first: the members are asked in the order of their ids.
	roster := &staleRoster{id: "n3", servers: []raftfsm.Server{{ID: "n3"}, {ID: "a-behind", RaftAddr: behind.addr}, {ID: "b-current", RaftAddr: current.addr}}}
	asker := peer.NewClient(proved)
	t.Cleanup(asker.Close)
	w := peer.NewRemovalWatch(peer.RemovalConfig{Logger: logTo(&logs), Roster: roster, Asker: asker, Leader: func() string { return "" }})
	w.Check(t.Context())
	if err := w.NotMember(); err != nil {
		t.Fatalf("a member one other member lists: %v\n%s", err, logs.String())
	}
	if strings.Contains(logs.String(), "not a member") {
		t.Fatalf("logged:\n%s", logs.String())
	}
	// Once the one that listed it no longer does, it is not a member, and the answer names the
	// first member that said so.
	current.members.setTable("n1", "n2")
	w.Check(t.Context())
	if err := w.NotMember(); err == nil || !strings.Contains(err.Error(), "node a-behind ("+behind.addr+") does not list it") {
		t.Fatalf("no member lists it: %v", err)
	}
}
