package core

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/raftfsm"
)

// A node that has gone longer without a leader than the others wait before moving its modules
// stops every module it runs (a failed start it holds included), starts nothing while cut off and
// is not ready; once a leader is in contact again and a barrier through it has been applied here, it
// reconciles its share as before.
func TestCutOffStopsModules(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{epoch: 1, caughtUp: true, leader: false, nodes: []raftfsm.Node{{ID: "n1", HTTPAddr: "n1:80", Up: true}}}
	tc := newTestCore(t, roomModel, func(c *Config) { c.Cluster = cl; c.StopWhenCutOff = true })
	tc.sup.meta = displayMeta
	ctx := t.Context()
	tc.reconcile(ctx)
	if got := tc.sup.take(); len(got) != 2 {
		t.Fatalf("started %q, want mod-1 and mod-2", got)
	}

	if tc.checkCutOff(ctx) {
		t.Fatal("in contact with a leader, yet cut off")
	}
	cl.mu.Lock()
	cl.contact = time.Now().Add(-3 * time.Second)
	cl.mu.Unlock()
	if !tc.checkCutOff(ctx) {
		t.Fatal("3 s without a leader is not cut off")
	}
	got := tc.sup.take()
	slices.Sort(got)
	if !slices.Equal(got, []string{"stop mod-1", "stop mod-2"}) {
		t.Fatalf("cut off, the supervisor got %q; want both modules stopped", got)
	}
	tc.reconcile(ctx)
	if got := tc.sup.take(); len(got) != 0 || tc.Ready() {
		t.Fatalf("a pass while cut off made %q (ready %v)", got, tc.Ready())
	}
	if tc.checkCutOff(ctx) {
		t.Fatal("still cut off, yet a change")
	}
	// A call says why the module does not run here: the node is cut off, not the module starting.
	_, err := tc.Execute(ctx, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power", Args: json.RawMessage(`[true]`)})
	if p := errkind.Classify(err); !errors.Is(err, ErrCutOff) || p.Status != 503 || !strings.Contains(p.Message, "no contact with a leader") {
		t.Fatalf("a call while cut off: %v (%+v); want 503 saying the node is cut off", err, p)
	}

	// A leader in contact is not yet the cluster's current model: while this node was cut off
	// the others moved its modules, and the entries that say so may still be on their way. It
	// stays cut off until a barrier through the leader has been applied here (a frozen node
	// started its modules on its old ring 80 ms before it learned they ran elsewhere: two
	// connections to one display).
	cl.mu.Lock()
	cl.contact = time.Time{}
	cl.barrierErr = errkind.New(errkind.Timeout, "barrier not applied yet")
	cl.mu.Unlock()
	if tc.checkCutOff(ctx) {
		t.Fatal("a leader in contact, its barrier not applied here, and the node is no longer cut off")
	}
	tc.reconcile(ctx)
	if got := tc.sup.take(); len(got) != 0 || tc.Ready() {
		t.Fatalf("a pass before the barrier made %q (ready %v)", got, tc.Ready())
	}
	cl.mu.Lock()
	cl.barrierErr = nil
	cl.mu.Unlock()
	if !tc.checkCutOff(ctx) {
		t.Fatal("a leader in contact again, its barrier applied, is no change")
	}
	tc.reconcile(ctx)
	if got := tc.sup.take(); len(got) != 2 || !tc.Ready() {
		t.Fatalf("back in contact, the pass made %q (ready %v); want both started", got, tc.Ready())
	}
}

// A cut-off node answers a call of a module its last ring gives to another node at once with the
// same 503 as for the modules it stopped, rather than forwarding it to an owner it may no longer
// reach (and answering 504 after the link's dial timeout); back in contact, it forwards again
// (fault injection 13, L3).
func TestCutOffNodeDoesNotForward(t *testing.T) {
	t.Parallel()
	peers := &fakePeers{}
	tc, mod := twoNodes(t, peers)
	cl := tc.cfg.Cluster.(*fakeCluster)
	ctx := t.Context()
	req := call.Request{Target: call.Target{ModuleID: mod}, Function: "power", Args: json.RawMessage(`[true]`)}

	cl.mu.Lock()
	cl.contact = time.Now().Add(-12 * time.Second)
	cl.mu.Unlock()
	if !tc.checkCutOff(ctx) {
		t.Fatal("12 s without a leader is not cut off")
	}
	_, err := tc.Execute(ctx, req)
	p := errkind.Classify(err)
	if !errors.Is(err, ErrCutOff) || p.Status != 503 || !strings.Contains(p.Message, "no contact with a leader for 12s") {
		t.Fatalf("a call of another node's module while cut off: %v (%+v); want 503 saying the node is cut off", err, p)
	}
	if len(peers.calls) != 0 {
		t.Fatalf("a cut-off node forwarded %q", peers.calls)
	}

	// Its ring is the old one until a barrier through the leader has been applied here.
	cl.mu.Lock()
	cl.contact = time.Time{}
	cl.barrierErr = errkind.New(errkind.Timeout, "barrier not applied yet")
	cl.mu.Unlock()
	if tc.checkCutOff(ctx) {
		t.Fatal("a leader in contact, its barrier not applied here, and the node is no longer cut off")
	}
	if _, err := tc.Execute(ctx, req); !errors.Is(err, ErrCutOff) || len(peers.calls) != 0 {
		t.Fatalf("a call before the barrier: %v, forwarded %q; want the cut-off 503", err, peers.calls)
	}
	cl.mu.Lock()
	cl.barrierErr = nil
	cl.mu.Unlock()
	if !tc.checkCutOff(ctx) {
		t.Fatal("a leader in contact again, its barrier applied, is no change")
	}
	if res, err := tc.Execute(ctx, req); err != nil || string(res.Value) != `"remote"` || len(peers.calls) != 1 {
		t.Fatalf("back in contact: %+v %v, forwarded %q", res, err, peers.calls)
	}
}
