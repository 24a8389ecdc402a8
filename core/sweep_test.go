package core

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
)

// The sweep deletes what Redis holds of modules and systems the model has not had at two sweeps
// in a row, whatever is left of them (a status, metadata, a start failure, a lookup); it keeps
// what the model has, and what appeared between the two sweeps and is in the model by the
// second (a module created just before a scan); a failing Redis is tried at the next sweep; a
// node that is not the leader, or not caught up, does not sweep and forgets its suspects.
func TestSweepRedis(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{nodes: []raftfsm.Node{{ID: "n1", Up: true, RaftAddr: "127.0.0.1:1"}}, epoch: 1, leader: true, caughtUp: true}
	tc := newTestCore(t, `
drivers:
  - {id: drv-d, module_name: Display, role: device, binary: /bin/d1}
modules:
  - {id: m1, driver_id: drv-d}
systems:
  - {id: sys-1, modules: [m1]}
`, func(c *Config) { c.Cluster = cl })
	ctx := t.Context()
	st := tc.state
	st.mu.Lock()
	st.status["m1"] = map[string]string{"power": "true"}
	st.status["m-status"] = map[string]string{"power": "true"}
	st.meta["m-meta"] = "{}"
	st.errs["m-failed"] = state.ModuleError{Node: "n1", At: time.Now(), Error: "boom"}
	st.lookups["sys-1"] = map[string]string{"Display/1": "m1"}
	st.lookups["sys-gone"] = map[string]string{"Display/1": "m-status"}
	st.status["m-new"] = map[string]string{"power": "true"} // set before its model entry arrives
	st.mu.Unlock()

	tc.sweepRedis(ctx)
	if got := st.forgotten(); len(got) != 0 {
		t.Fatalf("the first sweep deleted %q; it only notes suspects", got)
	}
	apply(t, tc.store, `modules: [{id: m-new, driver_id: drv-d}]`)

	// Not the leader, or not caught up: nothing, and the suspects are forgotten.
	for _, set := range []func(bool){
		func(b bool) { cl.mu.Lock(); cl.leader = b; cl.mu.Unlock() },
		func(b bool) { cl.mu.Lock(); cl.caughtUp = b; cl.mu.Unlock() },
	} {
		set(false)
		tc.sweepRedis(ctx)
		set(true)
		if got := st.forgotten(); len(got) != 0 {
			t.Fatalf("a node that may not sweep deleted %q", got)
		}
		tc.sweepRedis(ctx) // suspects again
	}

	st.mu.Lock()
	st.forgetErr = errors.New("redis away")
	st.mu.Unlock()
	tc.sweepRedis(ctx) // fails: keeps the suspects
	st.mu.Lock()
	st.forgetErr = nil
	st.mu.Unlock()

	tc.sweepRedis(ctx)
	if got, want := st.forgotten(), []string{"m-failed", "m-meta", "m-status"}; !slices.Equal(got, want) {
		t.Fatalf("swept modules %q, want %q", got, want)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.lookups["sys-gone"]; ok {
		t.Fatal("the deleted system's lookup is still there")
	}
	if st.lookups["sys-1"] == nil || st.status["m1"] == nil || st.status["m-new"] == nil {
		t.Fatalf("the sweep deleted keys of the model's modules or systems: lookups %v, status %v", st.lookups, st.status)
	}
}
