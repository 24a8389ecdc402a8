package raftfsm

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// A follower that fails an append (its disk full) while the leader writes from many callers
// catches up once it can store again, from the same leader. With hashicorp/raft's pipelined
// replication (MaxRPCsInFlight 2, its default), the leader's pipeline to it could deadlock on
// that failure: its decoder stops, one more append is sent and waits for a decoder that waits
// in turn, and the follower, still sent heartbeats, never got another entry; the leader's Raft
// also never shut down.
func TestFollowerFailingAppendsCatchesUp(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, nil)
	n3 := c.nodes[2]
	mountSmallDisk(t, c, n3, 8<<20)
	c.bootstrap(context.Background())
	leader := c.waitLeader()
	if leader == n3 {
		makeLeader(t, c, c.nodes[0])
		leader = c.nodes[0]
	}
	filler := filepath.Join(n3.dir, "filler")
	fillDisk(t, filler)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []string
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				id := fmt.Sprintf("zone-%d-%02d", g, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				// Large: past the room left inside node3's log file, which bbolt grows in steps.
				err := leader.s().Apply(ctx, &model.File{Zones: []*model.Zone{{ID: id, Name: id, Description: strings.Repeat("x", 4000)}}})
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if behind := leader.s().raft.LastIndex() - n3.s().raft.LastIndex(); behind < 100 {
		t.Fatalf("node3 is %d entries behind with its disk full: it stored what it should have failed", behind)
	}
	freeDisk(t, filler)
	if id, _ := leader.s().Leader(); id != leader.id {
		t.Logf("the leader changed to %s meanwhile", id)
	}
	testutil.Eventually(t, 20*time.Second, "node3 with every acknowledged write", func() bool {
		m, _ := n3.s().Model()
		for _, id := range acked {
			if m.Zones[id] == nil {
				return false
			}
		}
		return true
	})
	// The leader's Raft shuts down: no replication of it is stuck.
	c.stop(leader)
}
