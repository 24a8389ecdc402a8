package core

import (
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
)

// The leader keeps the cluster's record in a real Redis: written as soon as it leads, rewritten
// with the new members when they change and left alone while they do not; once it no longer
// leads it never writes again, so a deposed leader leaves its successor's record as it is.
func TestClusterRecordFollowsTheLeader(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	raw := r.Client(t)
	st, err := state.New(t.Context(), state.Options{URL: r.URL, NodeID: "n1", LossCheck: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	fc := &fakeCluster{leader: true, nodes: []raftfsm.Node{{ID: "n1", Up: true}, {ID: "n2", Up: true}}}
	c := &Core{cfg: Config{NodeID: "n1", Cluster: fc, State: st}, log: hclog.NewNullLogger()}
	var k recordKeeper
	read := func() string { return raw.Get(t.Context(), state.ClusterKey).Val() }
	members := func() []string {
		rec, ok, err := st.Cluster(t.Context())
		if err != nil || !ok {
			t.Fatalf("no cluster record: %v", err)
		}
		return rec.Members
	}

	k.check(t.Context(), c)
	if got := members(); len(got) != 2 {
		t.Fatalf("record of %v, want n1, n2", got)
	}
	first := read()
	k.check(t.Context(), c)
	if again := read(); again != first {
		t.Fatalf("the record changed with the same members: %s, then %s", first, again)
	}

	fc.mu.Lock()
	fc.nodes = append(fc.nodes, raftfsm.Node{ID: "n3", Up: true})
	fc.mu.Unlock()
	k.check(t.Context(), c)
	if got := members(); len(got) != 3 {
		t.Fatalf("record of %v after n3 joined, want n1, n2, n3", got)
	}

	fc.mu.Lock()
	fc.leader = false
	fc.mu.Unlock()
	successor := `{"members":["n1","n2","n3","n4"],"leader":"n2","at":"2030-01-01T00:00:00Z"}`
	if err := raw.Set(t.Context(), state.ClusterKey, successor, 0).Err(); err != nil {
		t.Fatal(err)
	}
	k.check(t.Context(), c)
	if got := read(); got != successor {
		t.Fatalf("a deposed leader wrote %s over its successor's record", got)
	}
}
