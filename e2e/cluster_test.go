package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// cluster is three engine nodes on loopback sharing one Redis, and the engine/system
// messages seen since it started.
type cluster struct {
	*enginetest.Cluster
	t     *testing.T
	ready <-chan *redis.Message
}

const clusterModules = 12

// clusterModel has clusterModules test-driver modules in one system, so they spread over nodes.
func clusterModel(drv string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "drivers: [{id: drv-test, module_name: Test, role: service, binary: %q}]\nmodules:\n", drv)
	var ids []string
	for i := 1; i <= clusterModules; i++ {
		id := fmt.Sprintf("mod-%02d", i)
		ids = append(ids, id)
		fmt.Fprintf(&b, "  - {id: %s, driver_id: drv-test, running: true, settings: {num: %d}}\n", id, i)
	}
	fmt.Fprintf(&b, "systems: [{id: sys-1, name: Floor, modules: [%s]}]\n", strings.Join(ids, ", "))
	return b.String()
}

// startCluster bootstraps node-1 with the model, joins node-2 and node-3 through it and waits
// until the cluster is healthy.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	rds := testutil.StartRedis(t)
	ps := rds.Client(t).Subscribe(context.Background(), "engine/system")
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	c := &cluster{t: t, ready: ps.Channel(redis.WithChannelSize(1000))}
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c.Cluster = enginetest.StartCluster(t, config(rds.URL), "node", 3, clusterModel(drv), clusterModules)
	return c
}

// waitReadyMessage waits for `ready` on engine/system.
func (c *cluster) waitReadyMessage() {
	c.t.Helper()
	var msg *redis.Message
	testutil.Eventually(c.t, 10*time.Second, "ready on engine/system", func() bool {
		select {
		case msg = <-c.ready:
			return true
		default:
			return false
		}
	})
	if msg.Payload != "ready" {
		c.t.Fatalf("engine/system carried %q, want ready", msg.Payload)
	}
}

// drainReady discards the ready messages received so far.
func (c *cluster) drainReady() {
	for {
		select {
		case <-c.ready:
		default:
			return
		}
	}
}

// owners maps each module to the node hosting it (from each node's loaded modules).
func (c *cluster) owners() map[string]string {
	c.t.Helper()
	place, err := c.Placement()
	if err != nil {
		c.t.Fatal(err)
	}
	return place
}

// allAnswer checks that every module answers an execute sent to every live node.
func (c *cluster) allAnswer() {
	c.t.Helper()
	for _, n := range c.Live() {
		for i := 1; i <= clusterModules; i++ {
			slug := fmt.Sprintf("Test_%d", i)
			var r enginetest.Response
			n.Eventually(15*time.Second, slug+" answering through "+n.ID, func() bool {
				r = n.Do("POST", "/api/engine/v2/systems/sys-1/"+slug+"/settings", "[]")
				return r.Status == 200
			})
			if !enginetest.JSONEqual(r.Body, fmt.Sprintf(`{"num": %d}`, i)) {
				c.t.Fatalf("%s via %s answered %s", slug, n.ID, r.Body)
			}
		}
	}
}

// kill SIGKILLs n (no graceful leave) and waits for its driver processes to go.
func (c *cluster) kill(n *enginetest.Node) {
	c.t.Helper()
	testutil.WaitGone(c.t, n.Kill()...)
}

func TestClusterFormsRoutesAndSpreadsModules(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	c.waitReadyMessage()
	ci, err := c.Nodes[0].Info()
	if err != nil {
		t.Fatal(err)
	}
	if len(ci.Nodes) != 3 || ci.Up() != 3 {
		t.Fatalf("cluster = %+v", ci)
	}
	leaders := 0
	for _, n := range ci.Nodes {
		if n.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders in %+v", leaders, ci)
	}
	c.allAnswer()
	owners := c.owners()
	if len(owners) != clusterModules {
		t.Fatalf("%d modules running, want %d: %v", len(owners), clusterModules, owners)
	}
	per := map[string]int{}
	for _, o := range owners {
		per[o]++
	}
	if len(per) != 3 {
		t.Fatalf("modules on %d nodes, want all 3: %v", len(per), per)
	}
	// A leader-confirmed read on a follower is redirected to the leader.
	for _, n := range c.Live() {
		if n.ID == ci.Leader {
			continue
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(n.Base + "/api/engine/v2/modules?consistent=true")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		leader := c.Node(ci.Leader)
		if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(resp.Header.Get("Location"), leader.Base) {
			t.Fatalf("consistent read on follower %s: %d to %q; want 307 to the leader", n.ID, resp.StatusCode, resp.Header.Get("Location"))
		}
		if r := n.Do("GET", "/api/engine/v2/modules?consistent=true", ""); r.Status != 200 || !strings.Contains(r.Body, "mod-01") {
			t.Fatalf("consistent read followed: %d %s", r.Status, r.Body)
		}
		break
	}
	// A module id executed on a node that does not host it is answered by its owner.
	for m, owner := range owners {
		for _, n := range c.Live() {
			if n.ID == owner {
				continue
			}
			if r := n.Do("POST", "/api/engine/v2/modules/"+m+"/exec/pid", "[]"); r.Status != 200 {
				t.Fatalf("exec %s via %s (owner %s): %d %s", m, n.ID, owner, r.Status, r.Body)
			}
		}
		break
	}
}

func TestClusterLeaderKillAndFollowerReturn(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	// An acknowledged write before the kill.
	if r := c.Nodes[1].Do("PUT", "/api/engine/v2/zones/zone-1", `{"id": "zone-1", "name": "Level 1"}`); r.Status != 200 {
		t.Fatalf("PUT zone through a follower: %d %s", r.Status, r.Body)
	}
	before := c.owners()
	leader := c.Leader()
	c.drainReady()

	c.kill(leader)
	c.WaitHealthy(2)
	after := c.Leader()
	if after == leader {
		t.Fatalf("leader after the kill = %s, the killed node", after.ID)
	}
	// The new leader knew the node was gone from its refused port, not from 2 s of silence.
	down := regexp.MustCompile(`node down: heartbeats failing: .*\bid=` + regexp.QuoteMeta(leader.ID) + ` .*port_closed=true`)
	after.Eventually(5*time.Second, after.ID+" marking "+leader.ID+" down on its refused port", func() bool {
		return down.MatchString(after.Logs().String())
	})
	c.waitReadyMessage()
	for _, n := range c.Live() {
		if r := n.Do("GET", "/api/engine/v2/zones/zone-1", ""); r.Status != 200 || !strings.Contains(r.Body, "Level 1") {
			t.Fatalf("zone-1 on %s after the kill: %d %s", n.ID, r.Status, r.Body)
		}
	}
	c.allAnswer()
	moved := c.owners()
	for m, o := range moved {
		if o == leader.ID {
			t.Fatalf("module %s still on the dead node", m)
		}
	}

	// Bring the old leader back: it rejoins from its data directory and modules move back.
	leader.Start()
	c.WaitHealthy(3)
	c.allAnswer()
	back := c.owners()
	if !maps.Equal(before, back) {
		t.Fatalf("placement after return = %v, before = %v", back, before)
	}
}

func TestClusterRestartAllFromDataDirs(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	if r := c.Nodes[2].Do("PUT", "/api/engine/v2/zones/zone-r", `{"id": "zone-r", "name": "Kept"}`); r.Status != 200 {
		t.Fatalf("PUT zone: %d %s", r.Status, r.Body)
	}
	for _, n := range c.Nodes {
		c.kill(n)
	}
	// Started together: one node alone has no quorum and is not ready.
	for _, n := range c.Nodes {
		n.Start()
	}
	c.WaitHealthy(3)
	for _, n := range c.Live() {
		if r := n.Do("GET", "/api/engine/v2/zones/zone-r", ""); r.Status != 200 {
			t.Fatalf("zone-r on %s after restart: %d %s", n.ID, r.Status, r.Body)
		}
	}
	c.allAnswer()
}

func TestClusterCutOffFollowerCannotWrite(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	leader := c.Leader()
	var follower *enginetest.Node
	for _, n := range c.Nodes {
		if n != leader {
			follower = n
		}
	}
	for _, n := range c.Nodes {
		if n != follower {
			c.kill(n)
		}
	}
	r := follower.Do("PUT", "/api/engine/v2/zones/zone-x", `{"id": "zone-x", "name": "Lost"}`)
	if r.Status != 503 || !strings.Contains(r.Body, "leader") {
		t.Fatalf("write on a cut-off follower: %d %s; want 503 naming the missing leader", r.Status, r.Body)
	}
	if r := follower.Do("GET", "/api/engine/v2/zones/zone-x", ""); r.Status != 404 {
		t.Fatalf("refused write is visible: %d %s", r.Status, r.Body)
	}
}
