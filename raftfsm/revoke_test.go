package raftfsm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// certOf is the fingerprint the tests give a node's certificate.
func certOf(id string) string { return "cert-" + id }

func withCerts(cfg *Config) {
	id := cfg.NodeID
	cfg.Certificate = func() string { return certOf(id) }
}

// TestRemovalRevokesTheCertificate: the certificate a node joined with is recorded, and removing
// the node (an operator's removal, through any member) revokes it on every node: a join with it is
// refused whichever member takes it, after a leader change, and after a restart from a snapshot.
// A new certificate for the same name joins. A node that leaves by itself is not revoked.
func TestRemovalRevokesTheCertificate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, withCerts)
	c.bootstrap(ctx)
	leader := c.waitLeader()
	for _, n := range c.nodes {
		testutil.Eventually(t, 10*time.Second, n.id+"'s own certificate recorded", func() bool {
			e, ok := nodeState(leader.s(), n.id)
			return ok && slices.Equal(e.Certs, []string{certOf(n.id)})
		})
	}

	gone := Member{ID: "node4", RaftAddr: testutil.FreeAddr(t), HTTPAddr: "127.0.0.1:1", NonVoter: true, Cert: certOf("node4")}
	f := c.followers()[0]
	if err := f.s().Join(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := f.s().RemoveNode(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.running() {
		testutil.Eventually(t, 5*time.Second, n.id+" knows the revocation", func() bool { return n.s().Revoked(gone.Cert) })
	}
	// It was up: its entry stays until the leader releases it (removal.go).
	testutil.Eventually(t, 10*time.Second, "the removed node released", func() bool {
		_, ok := nodeState(f.s(), gone.ID)
		return !ok
	})
	wantRevoked := func(s *Store, what string) {
		t.Helper()
		err := s.Join(ctx, gone)
		if !errors.Is(err, errkind.Forbidden) || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("%s: a join with the revoked certificate: %v", what, err)
		}
		if _, ok := nodeState(s, gone.ID); ok {
			t.Fatalf("%s: the revoked certificate's node is in the table", what)
		}
	}
	wantRevoked(f.s(), "through a follower")
	wantRevoked(leader.s(), "on the leader")

	// A leader change: the revocation is replicated state, not the old leader's.
	old := leader
	c.stop(old)
	leader = c.waitLeader()
	wantRevoked(leader.s(), "after a leader change")
	c.start(old)

	// A restart from a snapshot (Restore, not only replay).
	if err := leader.s().raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	c.stop(leader)
	c.start(leader)
	testutil.Eventually(t, 10*time.Second, "the restarted node's revocation", func() bool { return leader.s().Revoked(gone.Cert) })
	leader = c.waitLeader()
	wantRevoked(leader.s(), "after a restart from a snapshot")

	// The same name with a new certificate joins; the old one stays revoked.
	fresh := gone
	fresh.Cert = "cert-node4-new"
	if err := leader.s().Join(ctx, fresh); err != nil {
		t.Fatalf("re-adding with a new certificate: %v", err)
	}
	if e, _ := nodeState(leader.s(), fresh.ID); !slices.Equal(e.Certs, []string{fresh.Cert}) {
		t.Fatalf("the re-added node's certificates: %v", e.Certs)
	}
	if !leader.s().Revoked(gone.Cert) || leader.s().Revoked(fresh.Cert) {
		t.Fatal("re-adding changed what is revoked")
	}

	// A node that leaves by itself (SIGTERM) is not revoked: it is most often restarted.
	leader = c.waitLeader()
	f = c.followers()[0]
	if err := f.s().Leave(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "the node gone", func() bool {
		_, ok := nodeState(leader.s(), f.id)
		return !ok
	})
	if leader.s().Revoked(certOf(f.id)) {
		t.Fatal("a node's own leave revoked its certificate")
	}
}

// TestJoinCannotMoveALiveMember: a join naming a member the leader is in contact with, at another
// address, or naming another node at that member's address, is refused (409) and the member keeps
// the Raft log; once the member is down (it moved), its address may change.
func TestJoinCannotMoveALiveMember(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, nil)
	c.bootstrap(ctx)
	leader := c.waitLeader()
	f := c.followers()[0]
	elsewhere := testutil.FreeAddr(t)
	for _, j := range []Member{
		{ID: f.id, RaftAddr: elsewhere, HTTPAddr: f.httpAddr},
		{ID: f.id, RaftAddr: elsewhere, HTTPAddr: f.httpAddr, NonVoter: true},
		{ID: "intruder", RaftAddr: f.raftAddr, HTTPAddr: "127.0.0.1:1"},
	} {
		for _, via := range []*testNode{leader, f} {
			err := via.s().Join(ctx, j)
			if !errors.Is(err, errkind.Conflict) || !strings.Contains(err.Error(), "live") {
				t.Fatalf("join %+v through %s: %v", j, via.id, err)
			}
		}
	}
	for _, srv := range configuration(t, leader.s()) {
		if srv.ID == f.id && srv.RaftAddr != f.raftAddr || srv.ID == "intruder" {
			t.Fatalf("the configuration changed: %+v", configuration(t, leader.s()))
		}
	}
	if err := leader.s().Apply(ctx, &model.File{Zones: []*model.Zone{{ID: "z-after", Name: "Z"}}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "the member still replicating", func() bool {
		m, _ := f.s().Model()
		return m.Zones["z-after"] != nil
	})
	if n, _ := nodeState(leader.s(), f.id); !n.Up {
		t.Fatal("the member was marked down")
	}

	// The same member at the same address (a restart) still joins.
	if err := leader.s().Join(ctx, Member{ID: f.id, RaftAddr: f.raftAddr, HTTPAddr: f.httpAddr}); err != nil {
		t.Fatalf("a restarted member's join: %v", err)
	}

	// The member moves: stopped, it is no longer live, and its join at the new address is taken.
	c.stop(f)
	testutil.Eventually(t, 10*time.Second, "the moved member's join taken", func() bool {
		return leader.s().Join(ctx, Member{ID: f.id, RaftAddr: elsewhere, HTTPAddr: f.httpAddr}) == nil
	})
	f.raftAddr = elsewhere
	c.start(f)
	waitNodeUp(t, leader.s(), f.id, true, 10*time.Second)
}

// TestRevocationAcrossVersions: logs and snapshots of older versions (no certificates, no
// revocations) replay without error and revoke nothing; a snapshot keeps the revoked list; a node
// keeps at most maxCerts certificates.
func TestRevocationAcrossVersions(t *testing.T) {
	t.Parallel()
	f := NewFSM(nil)
	for _, cmd := range []string{
		`{"v":1,"op":"node_upsert","data":{"id":"n1","raft_addr":"a1","http_addr":"h1"}}`,
		`{"v":1,"op":"node_upsert","data":{"id":"n2","raft_addr":"a2","http_addr":"h2"}}`,
		`{"v":1,"op":"node_remove","data":{"id":"n2"}}`,
	} {
		if err := applyCmd(f, []byte(cmd)); err != nil {
			t.Fatalf("an older entry %s: %v", cmd, err)
		}
	}
	if len(f.Revocations()) != 0 || len(f.Nodes()) != 1 {
		t.Fatalf("older entries: revoked %v, nodes %v", f.Revocations(), f.Nodes())
	}
	old := `{"v":1,"version":0,"model":null,"nodes":[{"id":"n1","http_addr":"h1","raft_addr":"a1","up":true,"ready_epoch":0}],"epoch":1}`
	if err := f.Restore(io.NopCloser(strings.NewReader(old))); err != nil {
		t.Fatalf("an older snapshot: %v", err)
	}

	for i := range maxCerts + 2 {
		if err := applyCmd(f, nodeUpsertCommand(Member{ID: "n3", RaftAddr: "a3", Cert: fmt.Sprint("c", i)})); err != nil {
			t.Fatal(err)
		}
	}
	n3, _ := f.Node("n3")
	if len(n3.Certs) != maxCerts || n3.Certs[maxCerts-1] != fmt.Sprint("c", maxCerts+1) {
		t.Fatalf("n3's certificates: %v", n3.Certs)
	}
	if err := applyCmd(f, nodeRemoveCommand("n3", true)); err != nil {
		t.Fatal(err)
	}
	data := persisted(t, f)
	g := NewFSM(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	for _, c := range n3.Certs {
		if node, ok := g.Revoked(c); !ok || node != "n3" {
			t.Fatalf("certificate %s after a snapshot: %q %t", c, node, ok)
		}
	}
	var back snapshotData
	if err := json.Unmarshal(data, &back); err != nil || len(back.Revoked) != maxCerts {
		t.Fatalf("the snapshot's revoked list: %v %v", back.Revoked, err)
	}
}

// TestOlderLeaderRecordsNoCertificate: under a leader that does not know certificates (a rolling
// upgrade: it logs joins without them and removals without revoking), joins and removals work as
// before, and a follower offers its certificate once, not at every check.
func TestOlderLeaderRecordsNoCertificate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var joins atomic.Int32
	c := newCluster(t, 3, func(cfg *Config) {
		withCerts(cfg)
		cfg.Forwarder = olderForwarder{httpForwarder: cfg.Forwarder.(httpForwarder), joins: &joins}
	})
	c.bootstrap(ctx) // the joins of the others, as an older leader logs them: without certificates
	// The leader's own entry has its certificate (it is of this version); the followers' joins
	// through the "older" forwarder lose theirs, and each offers it once.
	testutil.Eventually(t, 10*time.Second, "each follower offering its certificate", func() bool { return joins.Load() >= 2 })
	offered := joins.Load()
	deadline := time.Now().Add(2500 * time.Millisecond) // two more rounds of keepEntryCurrent
	for time.Now().Before(deadline) {
		if joins.Load() > offered {
			t.Fatalf("a follower offered its certificate again: %d joins after %d", joins.Load(), offered)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// olderForwarder forwards as a leader of an older version would log: a join's certificate is
// dropped (an unknown field).
type olderForwarder struct {
	httpForwarder
	joins *atomic.Int32
}

func (f olderForwarder) Forward(ctx context.Context, raftAddr string, cmd []byte) error {
	e, err := decode(cmd)
	if err != nil {
		return err
	}
	switch e.Op {
	case OpJoin:
		f.joins.Add(1)
		var m Member
		if err := decodeData(e, &m); err != nil {
			return err
		}
		m.Cert = ""
		cmd = joinCommand(m)
	}
	return f.httpForwarder.Forward(ctx, raftAddr, cmd)
}
