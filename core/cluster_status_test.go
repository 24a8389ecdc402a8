package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/raftfsm"
)

// TestClusterStatus: this node's status and each other node's as it answered over the cluster
// port, in the cluster's order; a node that is down is not asked, one that fails is listed with
// its error.
func TestClusterStatus(t *testing.T) {
	t.Parallel()
	peers := &fakePeers{}
	tc := newTestCore(t, "drivers:\n  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}\n", func(c *Config) {
		c.Cluster = &fakeCluster{epoch: 1, caughtUp: true, nodes: []raftfsm.Node{
			{ID: "n1", RaftAddr: "n1:7000", Up: true}, {ID: "n2", RaftAddr: "n2:7000", Up: true}, {ID: "n3", RaftAddr: "n3:7000"}}}
		c.Peers = peers
	})
	read := func() []NodeStatusOf {
		t.Helper()
		v, err := tc.ClusterStatus(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return v.(map[string]any)["nodes"].([]NodeStatusOf)
	}
	got := read()
	if len(got) != 3 || got[0].Node != "n1" || got[1].Node != "n2" || got[2].Node != "n3" {
		t.Fatalf("nodes %+v", got)
	}
	var own struct{ Node string }
	if err := json.Unmarshal(got[0].Status, &own); err != nil || own.Node != "n1" || got[0].State != "up" || !got[0].ThisNode || got[1].ThisNode {
		t.Errorf("this node: %+v", got[0])
	}
	if string(got[1].Status) != `{"node":"remote"}` || got[1].Error != "" {
		t.Errorf("n2: %+v", got[1])
	}
	if got[2].State != "down" || got[2].Status != nil || got[2].Error == "" {
		t.Errorf("n3 (down): %+v", got[2])
	}
	peers.mu.Lock()
	asked := append([]string(nil), peers.calls...)
	peers.statusErr = errkind.Wrap(errkind.Unavailable, nil, "node n2:7000 is unreachable")
	peers.mu.Unlock()
	if len(asked) != 1 || asked[0] != "n2:7000 status" {
		t.Errorf("asked %v, want only n2", asked)
	}
	if got := read(); got[1].Status != nil || got[1].Error != "node n2:7000 is unreachable" || got[1].State != "up" {
		t.Errorf("n2 failing: %+v", got[1])
	}
}

// TestClusterWhileCatchingUp: a node that has not caught up with the cluster (just started, its
// table the one of its last snapshot: every node ready for an old epoch) answers that it is
// catching up (503), not its stale table with "ready": true; once caught up, the table.
func TestClusterWhileCatchingUp(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{epoch: 3, nodes: []raftfsm.Node{
		{ID: "n1", RaftAddr: "n1:7000", Up: true, ReadyEpoch: 3}, {ID: "n2", RaftAddr: "n2:7000", Up: true, ReadyEpoch: 3}}}
	tc := newTestCore(t, "drivers:\n  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}\n", func(c *Config) {
		c.Cluster = cl
	})
	_, err := tc.Cluster(t.Context())
	if !errors.Is(err, ErrNodeStarting) || errkind.Classify(err).Status != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "catching up") {
		t.Fatalf("a node catching up answered %v; want 503, catching up", err)
	}
	cl.mu.Lock()
	cl.caughtUp = true
	cl.mu.Unlock()
	v, err := tc.Cluster(t.Context())
	if err != nil || len(v.(ClusterInfo).Nodes) != 2 {
		t.Fatalf("caught up: %v %v", v, err)
	}
}

// TestClusterCountsRightAfterCatchingUp: a node that had just caught up answered GET /cluster
// with every running module counted on itself (the others 0) until its first reconcile pass
// made the ring it routes by: the counts come from the current membership.
func TestClusterCountsRightAfterCatchingUp(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{epoch: 3, caughtUp: true, nodes: []raftfsm.Node{
		{ID: "n1", RaftAddr: "n1:7000", Up: true, ReadyEpoch: 3}, {ID: "n2", RaftAddr: "n2:7000", Up: true, ReadyEpoch: 3}}}
	var yaml strings.Builder
	yaml.WriteString("drivers:\n  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}\nmodules:\n")
	for i := range 20 {
		fmt.Fprintf(&yaml, "  - {id: mod-%02d, driver_id: drv-d, running: true}\n", i)
	}
	tc := newTestCore(t, yaml.String(), func(c *Config) { c.Cluster = cl })
	counts := func() map[string]int {
		t.Helper()
		v, err := tc.Cluster(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, n := range v.(ClusterInfo).Nodes {
			out[n.ID] = n.Modules
		}
		return out
	}
	before := counts() // no reconcile pass yet
	tc.refreshView()   // what the first pass does
	after := counts()
	if !maps.Equal(before, after) || after["n1"]+after["n2"] != 20 || after["n1"] == 0 || after["n2"] == 0 {
		t.Fatalf("module counts before the first pass %v, after it %v", before, after)
	}
}

// TestClusterNotReadyWhileRemoving: a node an operator removed while it was up keeps its modules
// placed on it (removing) until it has stopped them, and only then do the others start them. The
// cluster said ready all along, so "remove it, then wait for ready" went on while those modules
// ran nowhere: it is not ready while a removing node holds modules.
func TestClusterNotReadyWhileRemoving(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{epoch: 3, caughtUp: true, leaderID: "n1", nodes: []raftfsm.Node{
		{ID: "n1", RaftAddr: "n1:7000", Up: true, ReadyEpoch: 3}, {ID: "n2", RaftAddr: "n2:7000", Up: true, ReadyEpoch: 3, Removing: true}}}
	var yaml strings.Builder
	yaml.WriteString("drivers:\n  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}\nmodules:\n")
	for i := range 20 {
		fmt.Fprintf(&yaml, "  - {id: mod-%02d, driver_id: drv-d, running: true}\n", i)
	}
	tc := newTestCore(t, yaml.String(), func(c *Config) { c.Cluster = cl })
	info := func() ClusterInfo {
		t.Helper()
		v, err := tc.Cluster(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return v.(ClusterInfo)
	}
	if ci := info(); ci.Ready || ci.Nodes[1].State != "removing" || ci.Nodes[1].Modules == 0 {
		t.Fatalf("while n2 is removing with modules: %+v; want not ready", ci)
	}
	// Released: n2 gone, the epoch moved, n1 ready for it.
	cl.mu.Lock()
	cl.nodes, cl.epoch = []raftfsm.Node{{ID: "n1", RaftAddr: "n1:7000", Up: true, ReadyEpoch: 4}}, 4
	cl.mu.Unlock()
	if ci := info(); !ci.Ready {
		t.Fatalf("after the release: %+v; want ready", ci)
	}
}
