package core

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/supervisor"
)

// A module whose start has not answered reads like one whose start failed: not connected at once
// on its owner (held by its driver process, so still in status/loaded), and after the pass's wait a runtime error saying for how long
// (counted when read) that the node status lists too; a start that answers after 1 s is slow,
// never hung, and the node is ready with it running.
func TestHungStartReadsLikeAFailedOne(t *testing.T) {
	t.Parallel()
	rc := newRealCore(t, hangModel, nil)
	read := func(id string) call.ModuleRuntime {
		m, _ := rc.store.Model()
		rts, err := rc.ModuleRuntime(t.Context(), []*model.Module{m.Modules[id]})
		if err != nil {
			t.Fatal(err)
		}
		return rts[0]
	}
	testutil.Eventually(t, 10*time.Second, "m-hang's start in flight", func() bool { return rc.inFlight("m-hang") })
	if rt := read("m-hang"); rt.Connected {
		t.Fatalf("a module whose start is in flight reads %+v; want it not connected", rt)
	}

	// Once the driver's process is up, so that the second counted is its start's own.
	testutil.Eventually(t, 10*time.Second, "the driver's process up", func() bool {
		ds := rc.sup.Drivers()
		return len(ds) == 1 && ds[0].State == supervisor.StateRunning
	})
	apply(t, rc.store, `modules: [{id: m-slow, driver_id: drv-t, running: true, settings: {hang_start_ms: 1000}}]`)
	testutil.Eventually(t, 10*time.Second, "m-slow started and the node ready", func() bool { return rc.started("m-slow") && rc.Ready() })
	if rc.started("m-hang") || !rc.inFlight("m-hang") {
		t.Fatal("m-hang's start ended")
	}
	var rt call.ModuleRuntime
	testutil.Eventually(t, 5*time.Second, "m-hang's start recorded as not answering", func() bool {
		rt = read("m-hang")
		return rt.HasRuntimeError
	})
	if rt.Connected || rt.ErrorTimestamp == nil || !strings.HasPrefix(rt.RuntimeError, "start has not answered for ") {
		t.Fatalf("a hung start reads %+v", rt)
	}
	if slow := read("m-slow"); !slow.Connected || slow.HasRuntimeError || slow.RuntimeError != "" {
		t.Fatalf("a start that answered after 1 s reads %+v; want it running, no error", slow)
	}
	rc.state.mu.Lock()
	_, slowRecorded := rc.state.errs["m-slow"]
	writes := rc.state.errWrites
	rc.state.mu.Unlock()
	if slowRecorded || writes != 1 {
		t.Fatalf("m-slow recorded %v, %d module errors written; want only m-hang's", slowRecorded, writes)
	}
	for key, ids := range rc.Loaded() {
		if !slices.Contains(ids, "m-hang") || !slices.Contains(ids, "m-slow") {
			t.Fatalf("status/loaded lists %s: %q; want m-slow and m-hang (held by its process)", key, ids)
		}
	}
	status, _ := rc.NodeStatus(t.Context())
	failures := status.(map[string]any)["failures"].([]ModuleStatus)
	if len(failures) != 1 || failures[0].ID != "m-hang" || !strings.HasPrefix(failures[0].Error, "start has not answered for ") {
		t.Fatalf("node status failures %+v; want m-hang's hung start", failures)
	}
	// The count is made when read.
	testutil.Eventually(t, 10*time.Second, "the count going up", func() bool {
		return read("m-hang").RuntimeError != rt.RuntimeError
	})
}
