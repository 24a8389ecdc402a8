package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// A leader whose disk fills steps down (its log write fails) and, once the disk is freed, takes
// every write the next leader committed meanwhile, by itself. node3's data dir is a small tmpfs:
// the test needs root (or CAP_SYS_ADMIN) and fails, rather than skips, without it.
func TestLeaderDiskFullCatchesUp(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, nil)
	n1, n3 := c.nodes[0], c.nodes[2]
	mountSmallDisk(t, c, n3, 8<<20)
	c.bootstrap(context.Background())
	c.waitLeader()
	makeLeader(t, c, n3)

	filler := filepath.Join(n3.dir, "filler")
	fillDisk(t, filler)
	w := &writer{t: t, via: n1}
	// node3 takes writes as long as its log file has room inside (bbolt grows it in steps); the
	// first that needs more fails there, which makes it step down, and the others elect a leader.
	testutil.Eventually(t, 30*time.Second, "node3 stepping down with a full disk, the others writing on", func() bool {
		w.write(1, 0)
		id, _ := n1.s().Leader()
		return id != "" && id != n3.id && n1.s().raft.LastIndex() > n3.s().raft.LastIndex()+5
	})
	freeDisk(t, filler)
	w.write(5, 0)
	w.caughtUp(n3)
}

// The case that left a node behind for good: the full-disk node holds entries the others never
// got (an old leader's last writes), so the next leader's entries conflict with them. Raft
// deletes the conflicting suffix, then fails to store the new entries (they need more room than
// the deletion gave back); without suffixLog its record of its last entry names a deleted one and
// it refuses every later append, also after the disk is freed. The restart of node3 stands in for
// the race that gives the old leader such entries while it runs (its log write of a batch succeeds,
// its step-down comes before the batch reaches the others): Raft starts from what its log store
// says, so what follows is the same.
func TestLeaderDiskFullConflictingSuffix(t *testing.T) {
	t.Parallel()
	logs := &testutil.LockedBuffer{}
	c := newCluster(t, 3, func(cfg *Config) {
		if cfg.NodeID == "node3" {
			cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})
		}
	})
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	mountSmallDisk(t, c, n3, 8<<20)
	c.bootstrap(context.Background())
	c.waitLeader()
	makeLeader(t, c, n3)

	// node3 alone logs one small entry no other node gets, and steps down without a quorum.
	c.stop(n1)
	c.stop(n2)
	before := n3.s().raft.LastIndex()
	cmd, err := ApplyCommand(&model.File{Zones: []*model.Zone{{ID: "lost", Name: "lost"}}})
	if err != nil {
		t.Fatal(err)
	}
	n3.s().raft.Apply(cmd, time.Second)
	testutil.Eventually(t, 5*time.Second, "node3 logged an entry the others lack, and stepped down", func() bool {
		return n3.s().raft.LastIndex() > before && n3.s().raft.State() != raft.Leader
	})
	// node1 and node2 go on without node3 (with it up they would elect it, its log being the
	// longer one, and commit its entry), then node3 returns to a full disk.
	c.stop(n3)
	c.start(n1)
	c.start(n2)
	c.waitLeader(n1, n2)
	w := &writer{t: t, via: n1}
	w.write(40, 4000) // large entries: more than the deletion of node3's one gives back
	filler := filepath.Join(n3.dir, "filler")
	fillDisk(t, filler)
	c.start(n3)
	testutil.Eventually(t, 15*time.Second, "node3 clearing its conflicting entry, then failing to store the leader's", func() bool {
		w.write(1, 4000)
		return strings.Contains(logs.String(), "clearing log suffix") && strings.Contains(logs.String(), "failed to append to logs")
	})
	freeDisk(t, filler)
	w.caughtUp(n3)
}

// writer makes zone writes through one node and remembers those acknowledged.
type writer struct {
	t     *testing.T
	via   *testNode
	n     int
	acked []string
}

// write makes n writes whose zones carry a description of size bytes; failures are expected
// while the cluster changes leader.
func (w *writer) write(n, size int) {
	for range n {
		w.n++
		id := fmt.Sprintf("zone-%03d", w.n)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := w.via.s().Apply(ctx, &model.File{Zones: []*model.Zone{{ID: id, Name: id, Description: strings.Repeat("x", size)}}})
		cancel()
		if err == nil {
			w.acked = append(w.acked, id)
		}
	}
}

// caughtUp waits until n has every acknowledged write.
func (w *writer) caughtUp(n *testNode) {
	w.t.Helper()
	if len(w.acked) == 0 {
		w.t.Fatal("no write was acknowledged")
	}
	since := time.Now()
	testutil.Eventually(w.t, 15*time.Second, n.id+" has every acknowledged write after its disk was freed", func() bool {
		m, _ := n.s().Model()
		for _, id := range w.acked {
			if m.Zones[id] == nil {
				return false
			}
		}
		return true
	})
	w.t.Logf("%s caught up %s after its disk was freed (%d writes acknowledged)", n.id, time.Since(since).Round(time.Millisecond), len(w.acked))
}

// makeLeader hands leadership to n and waits until every running node knows it.
func makeLeader(t *testing.T, c *cluster, n *testNode) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, n.id+" leads", func() bool {
		l := c.waitLeader()
		if l == n {
			return true
		}
		_ = l.s().raft.LeadershipTransferToServer(raft.ServerID(n.id), raft.ServerAddress(n.raftAddr)).Error()
		return false
	})
}

// mountSmallDisk mounts a tmpfs of size bytes on n's data dir until the test ends, when n stops
// before it is unmounted.
func mountSmallDisk(t *testing.T, c *cluster, n *testNode, size int) {
	t.Helper()
	if err := syscall.Mount("tmpfs", n.dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v (the test needs root or CAP_SYS_ADMIN)", n.dir, err)
	}
	t.Cleanup(func() {
		c.stop(n)
		if err := syscall.Unmount(n.dir, 0); err != nil {
			_ = syscall.Unmount(n.dir, syscall.MNT_DETACH)
		}
	})
}

// fillDisk writes path until its file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4 << 10, 512} {
		buf := bytes.Repeat([]byte{0xcc}, chunk)
		for {
			_, err := f.Write(buf)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

func freeDisk(t *testing.T, filler string) {
	t.Helper()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
}
