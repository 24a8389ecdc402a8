package core

import (
	"fmt"
	"slices"
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
