package raftfsm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestLongNamesFromAnOlderEngineReplay: a node whose Raft log and snapshot hold a name past the
// 255-byte bound — written by an engine from before it — replays and restores it as it was after
// a restart (the bound is not part of the deterministic apply, so an older node and a newer one
// agree on every entry); a new write of such a name is refused before it reaches the log, with a
// 400 naming the field and the length.
func TestLongNamesFromAnOlderEngineReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	long := strings.Repeat("n", 300)
	c := newCluster(t, 1, nil)
	c.bootstrap(ctx)
	n := c.waitLeader()
	if err := n.s().Apply(ctx, parse(t, testModel)); err != nil {
		t.Fatal(err)
	}
	// An older engine's write: proposed as it was, with no bound on the name.
	legacy := parse(t, `modules: [{id: mod-a, driver_id: drv-display, running: true, custom_name: `+long+`}]`)
	if err := n.s().propose(ctx, must(ApplyCommand(legacy))); err != nil {
		t.Fatalf("an older engine's entry: %v", err)
	}
	last := n.s().raft.LastIndex()
	err := n.s().Apply(ctx, parse(t, `systems: [{id: sys-2, name: `+long+`}]`))
	if !errors.Is(err, errkind.BadRequest) || statusOf(err) != 400 || !strings.Contains(err.Error(), `system "sys-2": name is 300 bytes long`) {
		t.Fatalf("a new long name: %v, want a 400 naming the field", err)
	}
	if got := n.s().raft.LastIndex(); got != last {
		t.Fatalf("the refused write reached the log (index %d -> %d)", last, got)
	}
	// The legacy entity can still be written, its name as it is.
	if err := n.s().Apply(ctx, parse(t, `modules: [{id: mod-a, driver_id: drv-display, running: false, custom_name: `+long+`}]`)); err != nil {
		t.Fatalf("a write keeping the stored name: %v", err)
	}
	hasLegacy := func() bool {
		s := n.s()
		if s == nil {
			return false
		}
		m, _ := s.Model()
		return m.Modules["mod-a"] != nil && m.Modules["mod-a"].CustomName == long
	}
	// Replayed from the log, then restored from a snapshot.
	for _, snapshot := range []bool{false, true} {
		if snapshot {
			if err := n.s().raft.Snapshot().Error(); err != nil {
				t.Fatal(err)
			}
		}
		c.stop(n)
		c.start(n)
		testutil.Eventually(t, 10*time.Second, "the long name replayed", hasLegacy)
	}
}
