package core

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/metrics"
	"github.com/placeos-go/engine/placement"
	"github.com/placeos-go/engine/raftfsm"
)

const sitesModel = `
drivers:
  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}
  - {id: drv-b, module_name: Camera, role: device, binary: /bin/camera, placement: {site: b}}
modules:
  - {id: m-a, driver_id: drv-d, running: true, placement: {site: a}}
  - {id: m-b, driver_id: drv-b, running: true}
  - {id: m-c, driver_id: drv-d, running: true, placement: {site: c}}
  - {id: m-c-stopped, driver_id: drv-d, placement: {site: c}}
`

// TestPlacementConstraints: constrained modules are owned within their eligible nodes, started
// only there, and one with no eligible node up is unplaced — 503 with the reason on execute, in
// the node status, the cluster document and the gauge — until an eligible node is up.
func TestPlacementConstraints(t *testing.T) {
	t.Parallel()
	site := func(s string) placement.Labels { return placement.Labels{"site": s} }
	cl := &fakeCluster{epoch: 1, caughtUp: true, leader: true, nodes: []raftfsm.Node{
		{ID: "n1", RaftAddr: "n1:7000", Up: true, Labels: site("a")},
		{ID: "n2", RaftAddr: "n2:7000", Up: true, Labels: site("b"), NonVoter: true},
		{ID: "n3", RaftAddr: "n3:7000", Up: false, Labels: site("b"), NonVoter: true},
	}}
	met := metrics.New()
	peers := &fakePeers{}
	tc := newTestCore(t, sitesModel, func(c *Config) { c.Cluster, c.Peers, c.Metrics = cl, peers, met })
	tc.sup.meta = displayMeta
	for _, id := range []string{"m-a", "m-b", "m-c"} {
		if err := tc.state.SetMetadata(t.Context(), id, []byte(displayMeta)); err != nil {
			t.Fatal(err)
		}
	}
	tc.reconcile(t.Context())
	owners := func() map[string]string {
		out := map[string]string{}
		for _, id := range []string{"m-a", "m-b", "m-c"} {
			out[id], _ = tc.Owner(id)
		}
		return out
	}
	if o := owners(); o["m-a"] != "n1" || o["m-b"] != "n2" || o["m-c"] != "" {
		t.Fatalf("owners %v", o)
	}
	if started := tc.sup.take(); !slices.ContainsFunc(started, func(s string) bool { return strings.Contains(s, "m-a") }) ||
		slices.ContainsFunc(started, func(s string) bool { return strings.Contains(s, "m-b") || strings.Contains(s, "m-c") }) {
		t.Fatalf("n1 started %v; want m-a only", started)
	}

	exec := func(id string) error {
		_, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: id}, Function: "power", Args: json.RawMessage(`[true]`)})
		return err
	}
	err := exec("m-c")
	if p := errkind.Classify(err); !errors.Is(err, ErrUnplaced) || p.Status != 503 || !strings.Contains(p.Message, `module "m-c" is unplaced: no node up with site=c (no member of the cluster has these labels)`) {
		t.Fatalf("execute of an unplaced module: %v (%+v)", err, p)
	}
	if len(peers.calls) != 0 {
		t.Fatalf("an unplaced module's call went to a node: %v", peers.calls)
	}
	if err := exec("m-b"); err != nil || len(peers.calls) != 1 || !strings.HasPrefix(peers.calls[0], "n2:7000 ") {
		t.Fatalf("m-b: %v, forwarded %v", err, peers.calls)
	}
	// Forwarded here by a node with another view: the same 503, not a 409.
	if _, err := tc.ExecuteHere(t.Context(), call.Request{Target: call.Target{ModuleID: "m-c"}, Function: "power", Args: json.RawMessage(`[true]`)}); !errors.Is(err, ErrUnplaced) {
		t.Fatalf("ExecuteHere of an unplaced module: %v", err)
	}
	if _, err := tc.Debug(t.Context(), "m-c", func(string, string) {}); !errors.Is(err, ErrUnplaced) {
		t.Fatalf("debug of an unplaced module: %v", err)
	}

	want := []UnplacedModule{{ID: "m-c", Placement: "site=c", Reason: "no node up with site=c (no member of the cluster has these labels)"}}
	st, _ := tc.NodeStatus(t.Context())
	if got := st.(map[string]any)["unplaced"]; !slices.Equal(got.([]UnplacedModule), want) {
		t.Fatalf("node status unplaced %+v", got)
	}
	info, err := tc.Cluster(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ci := info.(ClusterInfo)
	if !slices.Equal(ci.Unplaced, want) || ci.Nodes[1].Labels["site"] != "b" || ci.Nodes[1].Voter || !ci.Nodes[0].Voter {
		t.Fatalf("cluster %+v", ci)
	}
	if v, ok := met.Value(`engine_modules_unplaced{constraint="site=c"}`); !ok || v != 1 {
		t.Fatalf("gauge %v %v", v, ok)
	}

	// n2 goes, n3 comes: m-b follows to n3 only; a site=c node comes up: m-c is placed.
	cl.mu.Lock()
	cl.nodes[1].Up, cl.nodes[2].Up = false, true
	cl.nodes = append(cl.nodes, raftfsm.Node{ID: "n4", RaftAddr: "n4:7000", Up: true, Labels: site("c")})
	cl.epoch++
	cl.mu.Unlock()
	tc.reconcile(t.Context())
	if o := owners(); o["m-a"] != "n1" || o["m-b"] != "n3" || o["m-c"] != "n4" {
		t.Fatalf("owners after n2 left and n3, n4 came: %v", o)
	}
	if err := exec("m-c"); err != nil {
		t.Fatalf("m-c once n4 is up: %v", err)
	}
	if _, ok := met.Value(`engine_modules_unplaced{constraint="site=c"}`); ok {
		t.Fatal("the gauge still lists site=c")
	}
	if ci, _ := tc.Cluster(t.Context()); len(ci.(ClusterInfo).Unplaced) != 0 {
		t.Fatalf("still unplaced: %+v", ci.(ClusterInfo).Unplaced)
	}
}

// TestSystemLookupBesideAnUnplacedModule: a system's lookup is written by the ring of every up
// node, even when an unplaced module has the system's id.
func TestSystemLookupBesideAnUnplacedModule(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{epoch: 1, caughtUp: true, leader: true, nodes: []raftfsm.Node{
		{ID: "n1", RaftAddr: "n1:7000", Up: true, Labels: placement.Labels{"site": "a"}},
	}}
	tc := newTestCore(t, `
drivers: [{id: drv-d, module_name: Display, role: device, binary: /bin/display}]
modules:
  - {id: dup, driver_id: drv-d, running: true, placement: {site: b}}
  - {id: m-a, driver_id: drv-d, running: true}
systems: [{id: dup, name: Room, modules: [m-a]}]
`, func(c *Config) { c.Cluster = cl })
	tc.reconcile(t.Context())
	if err := tc.unplacedErr("dup"); !errors.Is(err, ErrUnplaced) {
		t.Fatalf("module dup: %v", err)
	}
	if got, err := tc.state.Lookup(t.Context(), "dup"); err != nil || got["Display/1"] != "m-a" {
		t.Fatalf("system dup's lookup: %v, %v", got, err)
	}
}
