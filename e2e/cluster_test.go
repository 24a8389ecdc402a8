package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// cluster is three engine nodes on loopback sharing one Redis.
type cluster struct {
	t     *testing.T
	redis *testutil.Redis
	specs []nodeSpec
	nodes []*engine // nil while a node is stopped
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

// startCluster bootstraps node 1 with the model and joins nodes 2 and 3 through it.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, redis: testutil.StartRedis(t)}
	ps := c.redis.Client(t).Subscribe(context.Background(), "engine/system")
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	c.ready = ps.Channel(redis.WithChannelSize(1000))
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	modelPath := filepath.Join(t.TempDir(), "model.yaml")
	if err := os.WriteFile(modelPath, []byte(clusterModel(drv)), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		c.specs = append(c.specs, nodeSpec{id: fmt.Sprintf("node-%d", i), http: freeAddr(t), raft: freeAddr(t),
			dataDir: t.TempDir(), redisURL: c.redis.URL})
	}
	c.nodes = []*engine{launch(t, c.specs[0], "--bootstrap", "--model", modelPath), nil, nil}
	c.nodes[0].waitReady()
	for i := 1; i < 3; i++ {
		c.nodes[i] = launch(t, c.specs[i], "--join", c.specs[0].http)
	}
	c.waitClusterReady(3)
	return c
}

type clusterInfo = enginetest.ClusterInfo

func (e *engine) cluster() (clusterInfo, bool) {
	ci, err := enginetest.LegacyCluster(http.DefaultClient, e.base, 30*time.Second)
	return ci, err == nil
}

// live returns the running nodes.
func (c *cluster) live() []*engine {
	var out []*engine
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// waitClusterReady waits until every live node sees `up` nodes up, a leader, and the cluster
// ready for the current epoch.
func (c *cluster) waitClusterReady(up int) clusterInfo {
	c.t.Helper()
	var ci clusterInfo
	for _, n := range c.live() {
		n.waitFor(30*time.Second, fmt.Sprintf("%d nodes up and ready", up), func() bool {
			var ok bool
			ci, ok = n.cluster()
			return ok && ci.Ready && ci.Leader != "" && ci.Up() == up
		})
	}
	return ci
}

// waitReadyMessage waits for `ready` on engine/system.
func (c *cluster) waitReadyMessage(d time.Duration) {
	c.t.Helper()
	var msg *redis.Message
	select {
	case msg = <-c.ready:
	case <-time.After(d):
		c.t.Fatalf("no ready on engine/system within %s", d)
	}
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
	out := map[string]string{}
	for _, n := range c.live() {
		loaded, err := enginetest.Loaded(http.DefaultClient, n.base, 30*time.Second)
		if err != nil {
			c.t.Fatalf("%s loaded: %v", n.spec.id, err)
		}
		if m := enginetest.AddOwners(out, n.spec.id, loaded); m != "" {
			c.t.Fatalf("module %s runs on both %s and %s", m, out[m], n.spec.id)
		}
	}
	return out
}

// allAnswer checks that every module answers an execute sent to every live node.
func (c *cluster) allAnswer() {
	c.t.Helper()
	for _, n := range c.live() {
		for i := 1; i <= clusterModules; i++ {
			slug := fmt.Sprintf("Test_%d", i)
			var r response
			n.waitFor(15*time.Second, slug+" answering through "+n.spec.id, func() bool {
				r = n.do("POST", "/api/engine/v2/systems/sys-1/"+slug+"/settings", "[]")
				return r.status == 200
			})
			if !jsonEqual(c.t, r.body, fmt.Sprintf(`{"num": %d}`, i)) {
				c.t.Fatalf("%s via %s answered %s", slug, n.spec.id, r.body)
			}
		}
	}
}

func (c *cluster) node(id string) (int, *engine) {
	for i, n := range c.nodes {
		if n != nil && n.spec.id == id {
			return i, n
		}
	}
	c.t.Fatalf("no live node %s", id)
	return 0, nil
}

// kill SIGKILLs node i (no graceful leave) and waits for its driver processes to go.
func (c *cluster) kill(i int) {
	n := c.nodes[i]
	drivers := testutil.Children(n.cmd.Process.Pid)
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	testutil.WaitGone(c.t, drivers...)
	c.nodes[i] = nil
}

// restart starts node i again from its data directory.
func (c *cluster) restart(i int) {
	c.nodes[i] = launch(c.t, c.specs[i])
}

func TestClusterFormsRoutesAndSpreadsModules(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	c.waitReadyMessage(10 * time.Second)
	ci, _ := c.nodes[0].cluster()
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
	for _, n := range c.live() {
		if n.spec.id == ci.Leader {
			continue
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(n.base + "/api/engine/v2/modules?consistent=true")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		_, leader := c.node(ci.Leader)
		if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(resp.Header.Get("Location"), leader.base) {
			t.Fatalf("consistent read on follower %s: %d to %q; want 307 to the leader", n.spec.id, resp.StatusCode, resp.Header.Get("Location"))
		}
		if r := n.do("GET", "/api/engine/v2/modules?consistent=true", ""); r.status != 200 || !strings.Contains(r.body, "mod-01") {
			t.Fatalf("consistent read followed: %d %s", r.status, r.body)
		}
		break
	}
	// A module id executed on a node that does not host it is answered by its owner.
	for m, owner := range owners {
		for _, n := range c.live() {
			if n.spec.id == owner {
				continue
			}
			if r := n.do("POST", "/api/engine/v2/modules/"+m+"/exec/pid", "[]"); r.status != 200 {
				t.Fatalf("exec %s via %s (owner %s): %d %s", m, n.spec.id, owner, r.status, r.body)
			}
		}
		break
	}
}

func TestClusterLeaderKillAndFollowerReturn(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	// An acknowledged write before the kill.
	if r := c.nodes[1].do("PUT", "/api/engine/v2/zones/zone-1", `{"id": "zone-1", "name": "Level 1"}`); r.status != 200 {
		t.Fatalf("PUT zone through a follower: %d %s", r.status, r.body)
	}
	before := c.owners()
	ci, _ := c.nodes[0].cluster()
	leaderIdx, _ := c.node(ci.Leader)
	c.drainReady()

	c.kill(leaderIdx)
	after := c.waitClusterReady(2)
	if after.Leader == "" || after.Leader == ci.Leader {
		t.Fatalf("leader after the kill = %q (was %q)", after.Leader, ci.Leader)
	}
	c.waitReadyMessage(10 * time.Second)
	for _, n := range c.live() {
		if r := n.do("GET", "/api/engine/v2/zones/zone-1", ""); r.status != 200 || !strings.Contains(r.body, "Level 1") {
			t.Fatalf("zone-1 on %s after the kill: %d %s", n.spec.id, r.status, r.body)
		}
	}
	c.allAnswer()
	moved := c.owners()
	for m, o := range moved {
		if o == ci.Leader {
			t.Fatalf("module %s still on the dead node", m)
		}
	}

	// Bring the old leader back: it rejoins from its data directory and modules move back.
	c.restart(leaderIdx)
	c.waitClusterReady(3)
	c.allAnswer()
	back := c.owners()
	if !maps.Equal(before, back) {
		t.Fatalf("placement after return = %v, before = %v", back, before)
	}
}

func TestClusterRestartAllFromDataDirs(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	if r := c.nodes[2].do("PUT", "/api/engine/v2/zones/zone-r", `{"id": "zone-r", "name": "Kept"}`); r.status != 200 {
		t.Fatalf("PUT zone: %d %s", r.status, r.body)
	}
	for i := range c.nodes {
		c.kill(i)
	}
	for i := range c.nodes {
		c.restart(i)
	}
	c.waitClusterReady(3)
	for _, n := range c.live() {
		if r := n.do("GET", "/api/engine/v2/zones/zone-r", ""); r.status != 200 {
			t.Fatalf("zone-r on %s after restart: %d %s", n.spec.id, r.status, r.body)
		}
	}
	c.allAnswer()
}

func TestClusterCutOffFollowerCannotWrite(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ci, _ := c.nodes[0].cluster()
	var follower int
	for i, n := range c.nodes {
		if n.spec.id != ci.Leader {
			follower = i
		}
	}
	for i := range c.nodes {
		if i != follower {
			c.kill(i)
		}
	}
	n := c.nodes[follower]
	r := n.do("PUT", "/api/engine/v2/zones/zone-x", `{"id": "zone-x", "name": "Lost"}`)
	if r.status != 503 || !strings.Contains(r.body, "leader") {
		t.Fatalf("write on a cut-off follower: %d %s; want 503 naming the missing leader", r.status, r.body)
	}
	if r := n.do("GET", "/api/engine/v2/zones/zone-x", ""); r.status != 404 {
		t.Fatalf("refused write is visible: %d %s", r.status, r.body)
	}
}
