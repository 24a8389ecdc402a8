package raftfsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

const testModel = `
drivers:
  - {id: drv-display, module_name: Display, role: device, binary: /bin/display}
systems:
  - {id: sys-1, name: Room 1, modules: [mod-a]}
modules:
  - {id: mod-a, driver_id: drv-display, running: true}
`

func parse(t *testing.T, y string) *model.File {
	t.Helper()
	f, err := model.ParseFile([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// waitModule waits until every given node has module id (or, with want false, lacks it).
func waitModule(t *testing.T, nodes []*testNode, id string, want bool) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, "module "+id+" replicated", func() bool {
		for _, n := range nodes {
			m, _ := n.s().Model()
			if (m.Modules[id] != nil) != want {
				return false
			}
		}
		return true
	})
}

// waitNodeUp waits until s's node table has node id marked up (or, with up false, down).
func waitNodeUp(t *testing.T, s *Store, id string, up bool, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, fmt.Sprintf("node %s up=%t", id, up), func() bool {
		n, ok := nodeState(s, id)
		return ok && n.Up == up
	})
}

// configuration is s's Raft configuration.
func configuration(t *testing.T, s *Store) []Server {
	t.Helper()
	servers, err := s.Servers()
	if err != nil {
		t.Fatalf("servers: %v", err)
	}
	return servers
}

func TestThreeNodesReplicateAndForward(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, nil)
	// Join the third node through a follower: Join is forwarded to the leader.
	for _, n := range c.nodes {
		c.start(n)
	}
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	if err := n1.s().Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitLeader(n1)
	if err := n1.s().Join(ctx, Member{ID: n2.id, RaftAddr: n2.raftAddr, HTTPAddr: n2.httpAddr}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "n2 knows the leader's address", func() bool { _, a := n2.s().Leader(); return a != "" })
	if err := n2.s().Join(ctx, Member{ID: n3.id, RaftAddr: n3.raftAddr, HTTPAddr: n3.httpAddr}); err != nil {
		t.Fatalf("join through a follower: %v", err)
	}
	// Joining again, from the node itself, is a no-op.
	testutil.Eventually(t, 5*time.Second, "n3 knows the leader", func() bool { _, a := n3.s().Leader(); return a != "" })
	if err := n3.s().Join(ctx, Member{ID: n3.id, RaftAddr: n3.raftAddr, HTTPAddr: n3.httpAddr}); err != nil {
		t.Fatalf("repeated join: %v", err)
	}
	leader := c.waitLeader()
	if leader != n1 {
		t.Fatalf("leader is %s, want node1", leader.id)
	}
	servers := configuration(t, n1.s())
	voters := 0
	for _, s := range servers {
		if s.Voter {
			voters++
		}
	}
	if voters != 3 {
		t.Fatalf("configuration %+v, want 3 voters", servers)
	}

	// A write on a follower is forwarded and visible everywhere.
	if err := n2.s().Apply(ctx, parse(t, testModel)); err != nil {
		t.Fatalf("apply on follower: %v", err)
	}
	waitModule(t, c.nodes, "mod-a", true)
	if err := n3.s().SaveSetting(ctx, "mod-a", "volume", json.RawMessage(`30`)); err != nil {
		t.Fatal(err)
	}
	if err := n3.s().SetRunning(ctx, "mod-a", false); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "setting and running replicated", func() bool {
		for _, n := range c.nodes {
			m, _ := n.s().Model()
			if mod := m.Modules["mod-a"]; mod == nil || mod.Running || string(mod.Settings["volume"]) != "30" {
				return false
			}
		}
		return true
	})

	// Errors keep their kind and message across the forward.
	err := n2.s().Apply(ctx, parse(t, `modules: [{id: m9, driver_id: nope}]`))
	if !errors.Is(err, errkind.BadRequest) || !strings.Contains(err.Error(), `driver_id: no driver "nope"`) {
		t.Fatalf("invalid write through a follower: %v", err)
	}
	err = n3.s().Delete(ctx, model.KindDriver, "drv-display")
	if !errors.Is(err, errkind.BadRequest) || !strings.Contains(err.Error(), `module "mod-a"`) {
		t.Fatalf("delete of a referenced driver through a follower: %v", err)
	}

	// The node table: three up nodes with their addresses; readiness for the current epoch.
	testutil.Eventually(t, 5*time.Second, "three up nodes on every node", func() bool {
		for _, n := range c.nodes {
			nodes := n.s().Nodes()
			if len(nodes) != 3 {
				return false
			}
			for _, nd := range nodes {
				if !nd.Up || nd.HTTPAddr != c.node(nd.ID).httpAddr || nd.RaftAddr != c.node(nd.ID).raftAddr {
					return false
				}
			}
		}
		return true
	})
	epoch := n3.s().Epoch()
	if err := n3.s().SetNodeReady(ctx, n3.id, epoch); err != nil {
		t.Fatal(err)
	}
	if err := n3.s().SetNodeReady(ctx, n3.id, epoch+1); !errors.Is(err, errkind.Conflict) {
		t.Fatalf("ready for a future epoch: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, "ready replicated", func() bool {
		nd, _ := nodeState(n1.s(), n3.id)
		return nd.ReadyEpoch == epoch
	})
	// The node-to-node entry point refuses garbage and runs only on the leader.
	for _, bad := range []string{`{"v":9,"op":"apply"}`, `{"v":1,"op":"explode","data":{}}`, `[`} {
		if err := n1.s().ApplyForwarded(ctx, []byte(bad)); !errors.Is(err, ErrBadCommand) {
			t.Fatalf("forwarded %s: %v", bad, err)
		}
	}
	if err := n2.s().ApplyForwarded(ctx, SetRunningCommand("mod-a", true)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("forwarded to a follower: %v", err)
	}
	if id, addr := n2.s().Leader(); id != n1.id || addr != n1.httpAddr {
		t.Fatalf("Leader() on a follower = %s %s", id, addr)
	}
	if n2.s().State() != "Follower" || n1.s().State() != "Leader" {
		t.Fatalf("states %s %s", n1.s().State(), n2.s().State())
	}
}

func TestLeaderKilledNewLeaderKeepsWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, nil)
	c.bootstrap(ctx)
	old := c.waitLeader()
	if err := c.followers()[0].s().Apply(ctx, parse(t, testModel)); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"mod-b", "mod-c"} {
		f := parse(t, `modules: [{id: `+id+`, driver_id: drv-display}]`)
		if err := c.running()[i].s().Apply(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	epoch := old.s().Epoch()

	c.stop(old)
	leader := c.waitLeader()
	t.Logf("new leader %s", leader.id)
	for _, id := range []string{"mod-a", "mod-b", "mod-c"} {
		waitModule(t, c.running(), id, true)
	}
	// The new leader marks the old one down, which is a membership change.
	waitNodeUp(t, leader.s(), old.id, false, 5*time.Second)
	if leader.s().Epoch() <= epoch {
		t.Fatalf("epoch %d did not grow past %d", leader.s().Epoch(), epoch)
	}
	// Writes go on with two of three.
	if err := c.followers()[0].s().SetRunning(ctx, "mod-b", true); err != nil {
		t.Fatal(err)
	}
	// The old leader comes back from its data dir, catches up and is marked up.
	c.start(old)
	waitNodeUp(t, leader.s(), old.id, true, 5*time.Second)
	testutil.Eventually(t, 5*time.Second, "old leader caught up", func() bool {
		m, _ := old.s().Model()
		return m.Modules["mod-b"] != nil && m.Modules["mod-b"].Running
	})
}

func TestFollowerDownThenBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, nil)
	c.bootstrap(ctx)
	leader := c.waitLeader()
	f := c.followers()[0]
	waitNodeUp(t, leader.s(), f.id, true, 5*time.Second)
	epoch := leader.s().Epoch()

	c.stop(f)
	waitNodeUp(t, leader.s(), f.id, false, 10*time.Second)
	if got := leader.s().Epoch(); got != epoch+1 {
		t.Fatalf("epoch %d after a node went down, want %d", got, epoch+1)
	}
	if err := leader.s().Apply(ctx, parse(t, testModel)); err != nil {
		t.Fatal(err)
	}

	c.start(f)
	waitNodeUp(t, leader.s(), f.id, true, 5*time.Second)
	waitModule(t, []*testNode{f}, "mod-a", true)
	if got := leader.s().Epoch(); got != epoch+2 {
		t.Fatalf("epoch %d after the node came back, want %d", got, epoch+2)
	}

	// Restarted with a new HTTP address and no explicit join: the node updates its own entry.
	c.stop(f)
	f.httpAddr = ""
	c.start(f)
	testutil.Eventually(t, 8*time.Second, "new http address in the node table", func() bool {
		n, _ := nodeState(leader.s(), f.id)
		return n.HTTPAddr == f.httpAddr && n.Up
	})
	if err := f.s().SetRunning(ctx, "mod-a", false); err != nil {
		t.Fatalf("write from the restarted follower: %v", err)
	}
}

func TestAllRestartFromDataDirs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, nil)
	c.bootstrap(ctx)
	c.waitLeader()
	if err := c.nodes[2].s().Apply(ctx, parse(t, testModel)); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[1].s().SaveSetting(ctx, "mod-a", "input", json.RawMessage(`"hdmi"`)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "setting everywhere", func() bool {
		for _, n := range c.nodes {
			m, _ := n.s().Model()
			if m.Modules["mod-a"] == nil || string(m.Modules["mod-a"].Settings["input"]) != `"hdmi"` {
				return false
			}
		}
		return true
	})
	// Snapshot one node so that its restart goes through Restore as well as log replay.
	if err := c.nodes[1].s().raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	// The log and the snapshot are the engine's user's alone, whatever this test's umask.
	snapshots := 0
	err := filepath.WalkDir(filepath.Join(c.nodes[1].dir, "raft"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.Name() == "state.bin" {
			snapshots++
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s is %s: readable beyond the engine's user", p, perm)
		}
		return nil
	})
	if err != nil || snapshots == 0 {
		t.Fatalf("walking the Raft folder: %v, %d snapshots", err, snapshots)
	}
	want, version := c.nodes[0].s().Model()
	for _, n := range c.nodes {
		c.stop(n)
	}
	for _, n := range c.nodes {
		c.start(n)
		// Bootstrap again as an operator's unchanged start script would: a no-op.
		if err := n.s().Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
	}
	leader := c.waitLeader()
	t.Logf("leader after full restart: %s", leader.id)
	for _, n := range c.nodes {
		testutil.Eventually(t, 5*time.Second, n.id+" replayed the model", func() bool {
			got, v := n.s().Model()
			return v == version && jsonEqual(t, got.File(), want.File())
		})
	}
	if err := c.nodes[0].s().SetRunning(ctx, "mod-a", false); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
	if servers := configuration(t, leader.s()); len(servers) != 3 {
		t.Fatalf("configuration after restart: %+v", servers)
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(x) == string(y)
}

func TestFollowerCutOffCannotWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, nil)
	c.bootstrap(ctx)
	c.waitLeader()
	lone := c.followers()[0]
	for _, n := range c.running() {
		if n != lone {
			c.stop(n)
		}
	}
	// At first the follower may still try the old leader (an Unavailable forward error); once its
	// heartbeat timeout passes it knows there is no leader and says so.
	err := lone.s().Apply(ctx, parse(t, testModel))
	if !errors.Is(err, errkind.Unavailable) {
		t.Fatalf("write without a majority: %v, want an Unavailable error", err)
	}
	testutil.Eventually(t, 5*time.Second, "the lone follower sees no leader", func() bool { id, _ := lone.s().Leader(); return id == "" })
	err = lone.s().SetRunning(ctx, "mod-a", true)
	if !errors.Is(err, ErrNoLeader) || !errors.Is(err, errkind.Unavailable) || !strings.Contains(err.Error(), "not part of a majority") {
		t.Fatalf("write without a majority: %v", err)
	}
	if m, _ := lone.s().Model(); m.Modules["mod-a"] != nil {
		t.Fatal("a refused write changed the model")
	}
}

func TestLeaderLeaveTransfersLeadership(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, nil)
	c.bootstrap(ctx)
	old := c.waitLeader()
	if err := old.s().Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	c.stop(old)
	leader := c.waitLeader()
	if leader == old {
		t.Fatal("the leaving node still leads")
	}
	if servers := configuration(t, leader.s()); len(servers) != 2 {
		t.Fatalf("configuration after leave: %+v", servers)
	}
	testutil.Eventually(t, 5*time.Second, "left node gone from the table", func() bool { _, ok := nodeState(leader.s(), old.id); return !ok })
	// A follower can leave too, and the last voter cannot.
	f := c.followers()[0]
	if err := f.s().Leave(ctx); err != nil {
		t.Fatalf("follower leave: %v", err)
	}
	c.stop(f)
	if err := leader.s().Leave(ctx); !errors.Is(err, errkind.Conflict) || !errors.Is(err, ErrLastVoter) {
		t.Fatalf("last voter leave: %v", err)
	}
}

func TestDeadNodeRemovedAndRejoinsAtNewAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, func(cfg *Config) { cfg.RemoveAfter = 2 * time.Second })
	c.bootstrap(ctx)
	leader := c.waitLeader()
	f := c.followers()[0]
	c.stop(f)
	testutil.Eventually(t, 8*time.Second, "dead follower removed from the configuration", func() bool {
		servers, err := leader.s().Servers()
		_, inTable := nodeState(leader.s(), f.id)
		return err == nil && len(servers) == 2 && !inTable
	})
	// With two voters left and one more dead, removing it would leave no majority: it stays.
	// Only a leader changes the configuration, and a leader that cannot reach a majority steps
	// down; once it has, nothing can remove the dead voter. (Had it removed the voter first, it
	// would lead a one-voter configuration alone and never step down.)
	leader = c.waitLeader() // leadership may have moved while the first follower was removed
	var other *testNode
	for _, n := range c.running() {
		if n != leader {
			other = n
		}
	}
	c.stop(other)
	testutil.Eventually(t, 10*time.Second, "the leader without a majority to step down", func() bool {
		return !leader.s().IsLeader()
	})
	if servers := configuration(t, leader.s()); len(servers) != 2 {
		t.Fatalf("a voter was removed below quorum: %+v", servers)
	}
	c.start(other)
	c.waitLeader(leader, other)

	// The removed node comes back with a new Raft address (fresh port) and the same data dir.
	f.raftAddr = "127.0.0.1:0"
	c.start(f)
	if err := leader.s().Join(ctx, Member{ID: f.id, RaftAddr: f.raftAddr, HTTPAddr: f.httpAddr}); err != nil {
		t.Fatal(err)
	}
	waitNodeUp(t, leader.s(), f.id, true, 5*time.Second)
	servers := configuration(t, leader.s())
	for _, s := range servers {
		if s.ID == f.id && s.RaftAddr != f.raftAddr {
			t.Fatalf("stale address %s kept for %s", s.RaftAddr, f.id)
		}
	}
	if len(servers) != 3 {
		t.Fatalf("configuration after rejoin: %+v", servers)
	}
}

// TestCaughtUpMeansCurrent: a follower that was away while the cluster moved on is CaughtUp only
// once its model holds everything the cluster committed before it came back — not as soon as it
// has replayed its own, older, log — and a Barrier on it returns only when it has applied what
// was committed before the call.
func TestCaughtUpMeansCurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3, nil)
	c.bootstrap(ctx)
	leader := c.waitLeader()
	f := c.followers()[0]
	testutil.Eventually(t, 10*time.Second, "the follower caught up", f.s().CaughtUp)
	// Ready before it stops (as core reports it): not ready any more once it has restarted.
	waitNodeUp(t, leader.s(), f.id, true, 5*time.Second)
	if err := leader.s().SetNodeReady(ctx, f.id, leader.s().Epoch()); err != nil {
		t.Fatal(err)
	}

	c.stop(f)
	const zones = 300
	for i := range zones {
		if err := leader.s().Apply(ctx, &model.File{Zones: []*model.Zone{{ID: fmt.Sprintf("z-%03d", i), Name: "Z"}}}); err != nil {
			t.Fatal(err)
		}
	}
	c.start(f)
	testutil.Eventually(t, 20*time.Second, "the restarted follower caught up", func() bool {
		if !f.s().CaughtUp() {
			return false
		}
		if m, _ := f.s().Model(); len(m.Zones) != zones {
			t.Fatalf("CaughtUp with %d of the %d zones the cluster committed while it was away", len(m.Zones), zones)
		}
		if n, _ := nodeState(f.s(), f.id); n.ReadyEpoch != 0 {
			t.Fatalf("CaughtUp with the table saying it is ready for epoch %d, from before it stopped", n.ReadyEpoch)
		}
		return true
	})

	// A barrier on a follower: a write the leader acknowledged is in the follower's model when
	// the barrier returns.
	if err := leader.s().Apply(ctx, &model.File{Zones: []*model.Zone{{ID: "z-last", Name: "Z"}}}); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := f.s().Barrier(bctx); err != nil {
		t.Fatal(err)
	}
	if m, _ := f.s().Model(); m.Zones["z-last"] == nil {
		t.Fatal("after a barrier the follower's model lacks a write acknowledged before it")
	}
}

// olderLeaderForwarder forwards as httpForwarder, but refuses the commands a leader of a version
// before barriers does not know, as such a leader does (400).
type olderLeaderForwarder struct{ httpForwarder }

func (f olderLeaderForwarder) Forward(ctx context.Context, raftAddr string, cmd []byte) error {
	if e, err := decode(cmd); err == nil && (e.Op == OpBarrier || e.Op == OpSetNodeStarting) {
		return errkind.New(errkind.BadRequest, "bad raft command: unknown op "+e.Op)
	}
	return f.httpForwarder.Forward(ctx, raftAddr, cmd)
}

// upgradedUnderOlderLeader starts a 3-node cluster, stops a follower, runs away (with the
// leader) while it is down, and starts it again as an upgraded node whose leader refuses
// barriers; it returns once that follower has caught up.
func upgradedUnderOlderLeader(t *testing.T, away func(leader *testNode)) (leader, f *testNode) {
	t.Helper()
	c := newCluster(t, 3, nil)
	c.bootstrap(context.Background())
	leader = c.waitLeader()
	f = c.followers()[0]
	c.stop(f)
	away(leader)
	c.cfg = func(cfg *Config) {
		if cfg.NodeID == f.id {
			cfg.Forwarder = olderLeaderForwarder{cfg.Forwarder.(httpForwarder)}
		}
	}
	c.start(f)
	testutil.Eventually(t, 20*time.Second, "the upgraded follower caught up", f.s().CaughtUp)
	return leader, f
}

// TestCaughtUpUnderAnOlderLeader: in a rolling upgrade the first upgraded node is a follower of a
// leader that refuses barriers; it is caught up by the commit index it has heard of instead,
// rather than never (which would stall the upgrade, each node waiting to be ready).
func TestCaughtUpUnderAnOlderLeader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, f := upgradedUnderOlderLeader(t, func(leader *testNode) {
		if err := leader.s().Apply(ctx, &model.File{Zones: []*model.Zone{{ID: "z-while-away", Name: "Z"}}}); err != nil {
			t.Fatal(err)
		}
	})
	if m, _ := f.s().Model(); m.Zones["z-while-away"] == nil {
		t.Fatal("caught up without the write committed while it was away")
	}
}

// TestBarrierUnderAnOlderLeader: a Barrier on a follower of a leader that refuses barriers (a
// rolling upgrade; a PATCH through an upgraded follower asks for one) returns once the follower
// has applied the commit index it has heard of, with a write the leader acknowledged before it,
// instead of failing with the leader's "unknown op" until the leader is upgraded.
func TestBarrierUnderAnOlderLeader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	leader, f := upgradedUnderOlderLeader(t, func(*testNode) {})
	for i := range 5 {
		id := fmt.Sprintf("z-%d", i)
		if err := leader.s().Apply(ctx, &model.File{Zones: []*model.Zone{{ID: id, Name: "Z"}}}); err != nil {
			t.Fatal(err)
		}
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f.s().Barrier(bctx)
		cancel()
		if err != nil {
			t.Fatalf("barrier %d under an older leader: %v", i, err)
		}
		// The follower hears of the commit with the leader's next message: what it applied by
		// then holds the write, or it comes within a heartbeat.
		testutil.Eventually(t, 5*time.Second, "the write in the follower's model", func() bool {
			m, _ := f.s().Model()
			return m.Zones[id] != nil
		})
	}
}

// reelectingForwarder forwards as httpForwarder, but once armed the next model write it forwards
// finds the leader stepping down and elected again: before it answers, leadership goes to another
// node and back, and the answer is the refusal a leader gives while it is not one. Other commands
// (the node's own barriers) pass.
type reelectingForwarder struct {
	httpForwarder
	reelect  func()
	armed    atomic.Bool
	forwards atomic.Int32 // model writes forwarded
	// committed: the armed write is committed before the leader steps down, and its answer lost
	// ("leadership lost while committing"), as when a leader steps down mid-commit.
	committed bool
}

func (f *reelectingForwarder) Forward(ctx context.Context, raftAddr string, cmd []byte) error {
	if e, err := decode(cmd); err == nil && (e.Op == OpApply || e.Op == OpDelete) {
		f.forwards.Add(1)
		if f.armed.CompareAndSwap(true, false) {
			if f.committed {
				if err := f.httpForwarder.Forward(ctx, raftAddr, cmd); err != nil {
					return err
				}
			}
			f.reelect()
			return errkind.New(errkind.Unavailable, ErrNotLeader.Error())
		}
	}
	return f.httpForwarder.Forward(ctx, raftAddr, cmd)
}

// A leader that refused a forwarded write while it had stepped down, and was elected again in a
// later term, is asked again: the follower's write goes through rather than failing as if no
// leader answered (under load a leader misses its lease and is re-elected within milliseconds).
// reelectingCluster is a cluster of three whose node2, a follower, forwards through a
// reelectingForwarder that re-elects the leader (leader) when armed.
func reelectingCluster(ctx context.Context, t *testing.T) (leader, f *testNode, fwd *reelectingForwarder) {
	t.Helper()
	c := newCluster(t, 3, func(cfg *Config) {
		if cfg.NodeID == "node2" && fwd == nil {
			fwd = &reelectingForwarder{httpForwarder: cfg.Forwarder.(httpForwarder)}
			cfg.Forwarder = fwd
		}
	})
	c.bootstrap(ctx)
	leader = c.waitLeader()
	var other *testNode
	for _, n := range c.nodes {
		switch {
		case n.id == "node2":
			f = n
		case n != leader:
			other = n
		}
	}
	if f == leader {
		t.Fatalf("node2 leads; the test needs it a follower")
	}
	transfer := func(from, to *testNode) {
		testutil.Eventually(t, 20*time.Second, "leadership from "+from.id+" to "+to.id, func() bool {
			if to.s().raft.State() == raft.Leader {
				return true
			}
			_ = from.s().raft.LeadershipTransferToServer(raft.ServerID(to.id), raft.ServerAddress(to.raftAddr)).Error()
			return to.s().raft.State() == raft.Leader
		})
	}
	testutil.Eventually(t, 20*time.Second, f.id+" caught up", f.s().CaughtUp)
	fwd.reelect = func() {
		transfer(leader, other)
		transfer(other, leader)
		testutil.Eventually(t, 20*time.Second, f.id+" following "+leader.id+" again", func() bool {
			_, lid := f.s().raft.LeaderWithID()
			return string(lid) == leader.id
		})
	}
	return leader, f, fwd
}

func TestForwardAgainToALeaderElectedAgain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader, f, fwd := reelectingCluster(ctx, t)
	fwd.armed.Store(true)
	if err := f.s().Apply(ctx, &model.File{Zones: []*model.Zone{{ID: "z-reelected", Name: "Z"}}}); err != nil {
		t.Fatalf("a write through a follower whose leader was elected again: %v", err)
	}
	if n := fwd.forwards.Load(); n < 2 {
		t.Fatalf("%d forwards; the test wants the refused one and the one after the re-election", n)
	}
	if m, _ := leader.s().Model(); m.Zones["z-reelected"] == nil {
		t.Fatal("the write is not in the leader's model")
	}
}

// A forwarded delete that its leader committed before it stepped down, its answer lost ("leadership
// lost while committing"), is sent again to the leader elected in a later term: the entity is
// gone, so the delete succeeded. It answered NotFound (404 to the client) in the upgrade drill.
func TestForwardedDeleteCommittedBeforeAReelection(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader, f, fwd := reelectingCluster(ctx, t)
	if err := f.s().Apply(ctx, &model.File{Zones: []*model.Zone{{ID: "z-gone", Name: "Z"}}}); err != nil {
		t.Fatal(err)
	}
	fwd.committed = true
	fwd.armed.Store(true)
	if err := f.s().Delete(ctx, model.KindZone, "z-gone"); err != nil {
		t.Fatalf("a delete committed before its leader stepped down and was elected again: %v", err)
	}
	if m, _ := leader.s().Model(); m.Zones["z-gone"] != nil {
		t.Fatal("the zone is still in the leader's model")
	}
	// A delete of what never existed is still refused.
	if err := f.s().Delete(ctx, model.KindZone, "z-never"); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("delete of an unknown zone: %v, want NotFound", err)
	}
}
