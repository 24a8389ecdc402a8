package core

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
)

func (s *fakeState) forgotten() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.forgot)
}

// A module deleted from the model has its keys deleted after it stopped, once; a module that only
// stops keeps them; a status its old instance sets afterwards is dropped; a deletion Redis refuses
// is tried again on the next pass; a module added back before that is not deleted.
func TestDeletedModuleForgotten(t *testing.T) {
	t.Parallel()
	tc := newTestCore(t, `
drivers:
  - {id: drv-d, module_name: Display, role: device, binary: /bin/d1}
modules:
  - {id: m1, driver_id: drv-d, running: true}
  - {id: m2, driver_id: drv-d, running: true}
  - {id: m3, driver_id: drv-d}
`, nil)
	ctx := t.Context()
	tc.reconcile(ctx)
	tc.sup.take()

	if err := tc.store.Delete(ctx, model.KindModule, "m2"); err != nil {
		t.Fatal(err)
	}
	apply(t, tc.store, `modules: [{id: m1, driver_id: drv-d, running: false}]`)
	tc.reconcile(ctx)
	if got := tc.sup.take(); !slices.Equal(got, []string{"stop m1", "stop m2"}) && !slices.Equal(got, []string{"stop m2", "stop m1"}) {
		t.Fatalf("supervisor calls %q", got)
	}
	if got := tc.state.forgotten(); !slices.Equal(got, []string{"m2"}) {
		t.Fatalf("forgotten %q, want [m2] (m1 only stopped)", got)
	}
	if _, err := tc.Host().SetStatus(ctx, &proto.SetStatusRequest{ModuleId: "m2", Name: "connected", ValueJson: []byte("false")}); err != nil {
		t.Fatal(err)
	}
	if v, err := tc.state.Status(ctx, "m2"); err != nil || len(v) != 0 {
		t.Fatalf("a status set by the deleted module's old instance was written: %v, %v", v, err)
	}
	tc.reconcile(ctx)
	if got := tc.state.forgotten(); len(got) != 1 {
		t.Fatalf("forgotten again: %q", got)
	}

	// Redis refuses: kept, and deleted on a later pass; m3, added back meanwhile, is not.
	tc.state.mu.Lock()
	tc.state.forgetErr = state.ErrUnavailable
	tc.state.mu.Unlock()
	for _, id := range []string{"m1", "m3"} {
		if err := tc.store.Delete(ctx, model.KindModule, id); err != nil {
			t.Fatal(err)
		}
	}
	tc.reconcile(ctx)
	if got := tc.state.forgotten(); len(got) != 1 {
		t.Fatalf("forgotten with Redis refusing: %q", got)
	}
	apply(t, tc.store, `modules: [{id: m3, driver_id: drv-d}]`)
	tc.state.mu.Lock()
	tc.state.forgetErr = nil
	tc.state.mu.Unlock()
	tc.reconcile(ctx)
	if got := tc.state.forgotten(); !slices.Equal(got, []string{"m2", "m1"}) {
		t.Fatalf("forgotten %q, want [m2 m1]", got)
	}
}

// In a cluster the owner deletes the keys: the node that would host the module now. While that
// is a node that is down but not yet marked down, nobody does; once it is marked down, the node
// that takes its share does. A node replaying its log deletes nothing.
func TestDeletedModuleForgottenByItsOwner(t *testing.T) {
	t.Parallel()
	tc, elsewhere := twoNodes(t, &fakePeers{})
	ctx := t.Context()
	cl := tc.cfg.Cluster.(*fakeCluster)

	replayed := "mod-19" // twoNodes answers the first module n2 owns
	cl.mu.Lock()
	cl.caughtUp = false
	cl.mu.Unlock()
	if err := tc.store.Delete(ctx, model.KindModule, replayed); err != nil {
		t.Fatal(err)
	}
	tc.reconcile(ctx)
	cl.mu.Lock()
	cl.caughtUp = true
	cl.mu.Unlock()
	tc.reconcile(ctx)

	if err := tc.store.Delete(ctx, model.KindModule, elsewhere); err != nil {
		t.Fatal(err)
	}
	tc.reconcile(ctx)
	if got := tc.state.forgotten(); slices.Contains(got, elsewhere) {
		t.Fatalf("n1 deleted the keys of %s, which n2 owns", elsewhere)
	}
	cl.mu.Lock()
	cl.nodes = []raftfsm.Node{{ID: "n1", RaftAddr: "n1:7000", Up: true}, {ID: "n2", RaftAddr: "n2:7000"}}
	cl.epoch++
	cl.mu.Unlock()
	tc.reconcile(ctx)
	got := tc.state.forgotten()
	if !slices.Equal(got, []string{elsewhere}) {
		t.Fatalf("forgotten %q, want [%s] (%s was deleted during the replay)", got, elsewhere, replayed)
	}
}

// The owner of a deleted module's keys is the node its old constraint would place it on now; with
// no such node up (or no constraint), the owner under the ring of every up node; standalone, the
// node itself.
func TestDeletedOwner(t *testing.T) {
	t.Parallel()
	plan := placement.NewPlacer().Plan([]placement.Node{
		{ID: "n1", Labels: placement.Labels{"site": "a"}}, {ID: "n2", Labels: placement.Labels{"site": "b"}},
	})
	v := &view{ring: plan.All(), plan: plan}
	for i := range 20 {
		id := fmt.Sprintf("mod-%d", i)
		if got := v.deletedOwner("n1", id, placement.Labels{"site": "b"}); got != "n2" {
			t.Fatalf("owner of %s placed at site=b: %s", id, got)
		}
		if got := v.deletedOwner("n1", id, placement.Labels{"site": "c"}); got != plan.All().Owner(id) {
			t.Fatalf("owner of %s placed where no node is: %s, want %s", id, got, plan.All().Owner(id))
		}
		if got := v.deletedOwner("n1", id, nil); got != plan.All().Owner(id) {
			t.Fatalf("owner of unconstrained %s: %s", id, got)
		}
	}
	if got := (&view{}).deletedOwner("n1", "mod-0", placement.Labels{"site": "b"}); got != "n1" {
		t.Fatalf("standalone owner: %s", got)
	}
}

// A module deleted while its owner changed to a node that never saw it leave — the owner
// restarted and was marked up again between the deletion and the pass that stopped the module on
// its stand-in host — has its keys deleted by the node that saw it leave, once forgetGrace has
// passed: the owner knows nothing to delete. They were left in Redis until the leader's sweep.
func TestDeletedModuleForgottenWhenItsOwnerNeverSawIt(t *testing.T) {
	t.Parallel()
	tc, mod := twoNodes(t, &fakePeers{})
	ctx := t.Context()
	cl := tc.cfg.Cluster.(*fakeCluster)
	setN2 := func(up bool) {
		cl.mu.Lock()
		cl.nodes = []raftfsm.Node{{ID: "n1", RaftAddr: "n1:7000", Up: true}, {ID: "n2", RaftAddr: "n2:7000", Up: up}}
		cl.epoch++
		cl.mu.Unlock()
	}
	tc.sup.take()
	setN2(false) // n2 stops: n1 takes its share
	tc.reconcile(ctx)
	if got := tc.sup.take(); !slices.ContainsFunc(got, func(c string) bool { return strings.HasPrefix(c, "start "+mod+" ") }) {
		t.Fatalf("n1 did not start %s while n2 was down: %q", mod, got)
	}

	// Deleted, and n2 back up (a new process: it never had the module in its model) before n1's pass.
	if err := tc.store.Delete(ctx, model.KindModule, mod); err != nil {
		t.Fatal(err)
	}
	setN2(true)
	tc.reconcile(ctx)
	if got := tc.sup.take(); !slices.Contains(got, "stop "+mod) {
		t.Fatalf("n1 did not stop the deleted %s: %q", mod, got)
	}
	if got := tc.state.forgotten(); len(got) != 0 {
		t.Fatalf("forgotten at once by a node that is not the owner: %q", got)
	}

	// forgetGrace later (its record aged rather than the test waiting): n1 deletes them itself.
	g := tc.deleted.pending[mod]
	g.since = g.since.Add(-forgetGrace)
	tc.deleted.pending[mod] = g
	tc.reconcile(ctx)
	if got := tc.state.forgotten(); !slices.Equal(got, []string{mod}) {
		t.Fatalf("forgotten %q, want [%s]: nobody deletes the keys of a module whose owner never saw it leave", got, mod)
	}
	if _, ok := tc.deleted.pending[mod]; ok {
		t.Fatal("still pending after its deletion")
	}
}
