package chaos

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

const (
	systemID    = "sys-chaos"
	testModules = 9 // Test_1..Test_9
	displays    = 3 // Display_1..Display_3
	// forkModule is a module of the misbehaving driver (internal/baddriver) that starts two
	// children, one in a session of its own: they must go with every process of it.
	forkModule   = "mod-fork"
	totalModules = testModules + displays + 1
	// runMarker is set in every engine's environment with this run's id; driver processes
	// inherit it, which is how the orphan check tells this run's drivers from those of other
	// test packages running the same binaries at the same time. The engine passes only
	// ENGINE_DRIVER_* (and a few basics) on to drivers, hence the prefix.
	runMarker = "ENGINE_DRIVER_CHAOS_RUN"
)

// httpClient is shared by the load and the checks; every request carries its own deadline.
var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 32,
	DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}

// node is one member: the harness's node and what the load knows of it.
type node struct {
	*enginetest.Node

	// gen changes whenever the suite kills, freezes, restarts or resumes the node: a request
	// whose target's gen changed while it was in flight was cut off by the suite, not the engine.
	gen atomic.Int64
	// avail says the load may send to the node (it is running, not frozen, and was ready).
	avail atomic.Bool
}

// cluster is three engine nodes, their Redis, the display simulators and the suite's binaries.
type cluster struct {
	t       *testing.T
	h       *enginetest.Cluster
	nodes   []*node
	testDrv string
	display string
	bad     string // internal/baddriver, running forkModule
	// redis is the one Redis of the cluster; with sentinel set it is nil and the nodes use the
	// sentinels' primary (TestChaosFull).
	redis    *testutil.Redis
	sentinel *testutil.Sentinel
	rc       *redis.Client // reads Redis as the nodes see it (the current primary)
	sims     []*displaysim.Sim
	runID    string
	// diskErr is why the disk-full fault cannot run ("" when node 3's data dir is a tmpfs).
	diskErr string
}

// moduleIDs is every module of chaosModel.
func moduleIDs() []string {
	var ids []string
	for i := 1; i <= testModules; i++ {
		ids = append(ids, fmt.Sprintf("mod-t%02d", i))
	}
	for i := 1; i <= displays; i++ {
		ids = append(ids, fmt.Sprintf("mod-d%d", i))
	}
	return ids
}

// chaosModel is the test modules and the displays in one system, so that system slugs resolve
// through Redis lookups (a Redis restart loses them) and the modules spread over the nodes.
func chaosModel(testDrv, display, bad string, simPorts []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "drivers:\n  - {id: drv-test, module_name: Test, role: service, binary: %q}\n", testDrv)
	fmt.Fprintf(&b, "  - {id: drv-bad, module_name: Bad, role: service, binary: %q}\n", bad)
	fmt.Fprintf(&b, "  - {id: drv-display, module_name: Display, role: device, binary: %q}\nmodules:\n", display)
	fmt.Fprintf(&b, "  - {id: %s, driver_id: drv-bad, running: true, settings: {mode: fork}}\n", forkModule)
	var ids []string
	for i := 1; i <= testModules; i++ {
		id := fmt.Sprintf("mod-t%02d", i)
		ids = append(ids, id)
		fmt.Fprintf(&b, "  - {id: %s, driver_id: drv-test, running: true, settings: {num: %d}}\n", id, i)
	}
	for i, port := range simPorts {
		id := fmt.Sprintf("mod-d%d", i+1)
		ids = append(ids, id)
		fmt.Fprintf(&b, "  - {id: %s, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true}\n", id, port)
	}
	fmt.Fprintf(&b, "systems: [{id: %s, name: Chaos, modules: [%s]}]\n", systemID, strings.Join(ids, ", "))
	return b.String()
}

// startCluster builds the drivers, starts Redis (a primary, a replica and three sentinels with
// sentinel), the simulators and three nodes (node 1 bootstraps with the model, 2 and 3 join) and
// waits until the cluster is healthy.
func startCluster(t *testing.T, sentinel bool) *cluster {
	t.Helper()
	c := &cluster{t: t, runID: rand.Text()}
	redisURL := ""
	if sentinel {
		c.sentinel = testutil.StartSentinel(t)
		c.rc = c.sentinel.Client(t)
		redisURL = c.sentinel.URL
	} else {
		c.redis = testutil.StartRedis(t)
		c.rc = c.redis.Client(t)
		redisURL = c.redis.URL
	}
	c.testDrv = testutil.BuildBinary(t, "./internal/testdriver")
	c.display = testutil.BuildBinary(t, "./examples/drivers/display")
	c.bad = testutil.BuildBinary(t, "./internal/baddriver")
	var ports []int
	for range displays {
		sim, err := displaysim.New("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sim.Start()
		t.Cleanup(func() { _ = sim.Close() })
		c.sims = append(c.sims, sim)
		ports = append(ports, sim.Port())
	}
	c.h = enginetest.NewCluster(t, enginetest.Config{Redis: redisURL, Env: []string{runMarker + "=" + c.runID},
		Client: httpClient, Timeout: 2 * time.Second}, "node", 3)
	for _, n := range c.h.Nodes {
		c.nodes = append(c.nodes, &node{Node: n})
	}
	// Registered before node 3 starts, so it runs after node 3 has stopped.
	c.diskErr = mountTmpfs(t, c.nodes[2].DataDir)
	c.h.Start(chaosModel(c.testDrv, c.display, c.bad, ports), totalModules)
	for _, n := range c.nodes {
		n.gen.Add(1)
		n.avail.Store(true)
	}
	return c
}

// diskSize is the tmpfs behind node 3's data directory: ample for the Raft log of a run, small
// enough that filling it costs nothing.
const diskSize = 64 << 20

// mountTmpfs mounts a tmpfs on dir and unmounts it when the test ends; it returns why it could
// not ("" on success).
func mountTmpfs(t *testing.T, dir string) string {
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", diskSize)); err != nil {
		return fmt.Sprintf("mount tmpfs on node-3's data dir: %v (needs root/CAP_SYS_ADMIN)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Lazy unmount: nothing of ours should hold it any more, but never leave it mounted.
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return ""
}

// kill SIGKILLs n: no graceful leave, as when a machine dies. Its drivers are left to exit on
// their own, which the orphan check verifies.
func (c *cluster) kill(n *node) {
	c.t.Helper()
	n.avail.Store(false)
	n.gen.Add(1)
	n.Kill()
}

// restart starts n again from its data directory and waits until it is ready.
func (c *cluster) restart(n *node) {
	c.t.Helper()
	n.gen.Add(1)
	n.Restart()
	n.avail.Store(true)
}

// freeze stops n's engine process (not its drivers) with SIGSTOP; thaw resumes it.
func (c *cluster) freeze(n *node) {
	c.t.Helper()
	n.avail.Store(false)
	n.gen.Add(1)
	n.Pause()
}

func (c *cluster) thaw(n *node) {
	c.t.Helper()
	n.Resume()
	n.gen.Add(1)
}

// wrap is the suite's node for the harness's.
func (c *cluster) wrap(hn *enginetest.Node) *node {
	for _, n := range c.nodes {
		if n.Node == hn {
			return n
		}
	}
	c.t.Fatalf("node %s is not one of the suite's", hn.ID)
	return nil
}

// live is the nodes whose process runs and is not frozen.
func (c *cluster) live() []*node {
	var out []*node
	for _, n := range c.h.Live() {
		out = append(out, c.wrap(n))
	}
	return out
}

// leader is the node the first live node names as leader.
func (c *cluster) leader() *node {
	c.t.Helper()
	return c.wrap(c.h.Leader())
}

// waitHealthy waits until every live node sees `up` nodes up, one agreed leader and the cluster
// ready, and every module runs exactly once; then the live nodes take load again.
func (c *cluster) waitHealthy(up int) {
	c.t.Helper()
	c.h.WaitHealthy(up)
	for _, n := range c.live() {
		n.avail.Store(true)
	}
}

// driverPID is the pid of binary's process on n (0 if none runs).
func driverPID(n *node, binary string) (int, error) {
	st, err := n.Driver(binary)
	if err != nil || !st.Running {
		return 0, err
	}
	return st.PID, nil
}

// hostOf is a live node running modules of binary.
func (c *cluster) hostOf(binary string) (*node, error) {
	for _, n := range c.live() {
		if loaded, err := n.Loaded(); err == nil && len(loaded[binary]) > 0 {
			return n, nil
		}
	}
	return nil, errors.New("no live node runs " + filepath.Base(binary))
}

// redisPrimary is the Redis server the nodes write to now: the only one, or the primary the
// sentinels name.
func (c *cluster) redisPrimary() (*testutil.Redis, error) {
	if c.sentinel == nil {
		return c.redis, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr, err := c.sentinel.Primary(ctx)
	if err != nil {
		return nil, err
	}
	if r := c.sentinel.Server(addr); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("the sentinels name %s, which is none of the suite's servers", addr)
}

// statuses is every module's status hash in Redis ("module field" → value).
func (c *cluster) statuses() (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := map[string]string{}
	for _, id := range moduleIDs() {
		h, err := c.rc.HGetAll(ctx, "status/"+id).Result()
		if err != nil {
			return nil, err
		}
		for f, v := range h {
			out[id+" "+f] = v
		}
	}
	return out, nil
}

// settledStatuses is statuses once they stopped changing: a module the previous fault moved may
// still be connecting to its device, and a status its driver changes during the next fault is not
// one Redis lost. Unchanged across two reads settleGap apart, or an error after settleWithin.
func (c *cluster) settledStatuses() (map[string]string, error) {
	const settleGap, settleWithin = 300 * time.Millisecond, 10 * time.Second
	prev, err := c.statuses()
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(settleWithin); time.Now().Before(deadline); {
		time.Sleep(settleGap) // the gap is the condition: no change across it
		cur, err := c.statuses()
		if err != nil {
			return nil, err
		}
		if maps.Equal(cur, prev) {
			return cur, nil
		}
		prev = cur
	}
	return nil, fmt.Errorf("statuses still changing after %s", settleWithin)
}

// until waits for cond as testutil.Eventually does, but returns the timeout as an error: the
// suite records it against the fault and goes on.
func (c *cluster) until(d time.Duration, what string, cond func() bool) error {
	c.t.Helper()
	return enginetest.Within(c.t, d, what, cond)
}
