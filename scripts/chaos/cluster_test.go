package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

const (
	systemID     = "sys-chaos"
	testModules  = 9 // Test_1..Test_9
	displays     = 3 // Display_1..Display_3
	totalModules = testModules + displays
	// runMarker is set in every engine's environment with this run's id; driver processes
	// inherit it, which is how the orphan check tells this run's drivers from those of other
	// test packages running the same binaries at the same time. The engine passes only
	// ENGINE_DRIVER_* (and a few basics) on to drivers, hence the prefix.
	runMarker = "ENGINE_DRIVER_CHAOS_RUN"
)

// httpClient is shared by the load and the checks; every request carries its own deadline.
var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 32,
	DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}

// node is one member: what survives restarts, and the process currently running it.
type node struct {
	id, http, raft, dataDir, base string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	frozen bool
	logs   *enginetest.LockedBuffer

	// gen changes whenever the suite kills, freezes, restarts or resumes the node: a request
	// whose target's gen changed while it was in flight was cut off by the suite, not the engine.
	gen atomic.Int64
	// avail says the load may send to the node (it is running, not frozen, and was ready).
	avail atomic.Bool
}

func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

func (n *node) logTail(k int) string {
	n.mu.Lock()
	logs := n.logs
	n.mu.Unlock()
	if logs == nil {
		return ""
	}
	return logs.Tail(k)
}

func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// cluster is three engine nodes, their Redis, the display simulators and the suite's binaries.
type cluster struct {
	t       *testing.T
	bin     string
	testDrv string
	display string
	redis   *testutil.Redis
	sims    []*displaysim.Sim
	nodes   []*node
	runID   string
	model   string
	// diskErr is why the disk-full fault cannot run ("" when node 3's data dir is a tmpfs).
	diskErr string
}

// chaosModel is the test modules and the displays in one system, so that system slugs resolve
// through Redis lookups (a Redis restart loses them) and the modules spread over the nodes.
func chaosModel(testDrv, display string, simPorts []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "drivers:\n  - {id: drv-test, module_name: Test, role: service, binary: %q}\n", testDrv)
	fmt.Fprintf(&b, "  - {id: drv-display, module_name: Display, role: device, binary: %q}\nmodules:\n", display)
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

// startCluster builds the binaries, starts Redis, the simulators and three nodes (node 1
// bootstraps with the model, 2 and 3 join) and waits until the cluster is healthy.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, redis: testutil.StartRedis(t)}
	c.bin = testutil.BuildBinary(t, "./cmd/engine")
	c.testDrv = testutil.BuildBinary(t, "./internal/testdriver")
	c.display = testutil.BuildBinary(t, "./examples/drivers/display")
	var id [6]byte
	_, _ = rand.Read(id[:])
	c.runID = hex.EncodeToString(id[:])
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
	c.model = filepath.Join(t.TempDir(), "model.yaml")
	if err := os.WriteFile(c.model, []byte(chaosModel(c.testDrv, c.display, ports)), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		n := &node{id: fmt.Sprintf("node-%d", i), http: enginetest.FreeAddr(t), raft: enginetest.FreeAddr(t), dataDir: t.TempDir()}
		n.base = "http://" + n.http
		c.nodes = append(c.nodes, n)
	}
	// Registered before node 3 starts, so it runs after node 3 has stopped.
	c.diskErr = mountTmpfs(t, c.nodes[2].dataDir)
	c.start(c.nodes[0], "--bootstrap", "--model", c.model)
	c.waitFor(60*time.Second, "node-1 ready", func() bool { return c.ready(c.nodes[0]) })
	c.start(c.nodes[1], "--join", c.nodes[0].http)
	c.start(c.nodes[2], "--join", c.nodes[0].http)
	c.waitHealthy(3, 60*time.Second)
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

// start runs n from its data dir with extra flags; the process is stopped when the test ends.
func (c *cluster) start(n *node, extra ...string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, enginetest.ServeArgs(n.id, n.http, n.raft, c.redis.URL, n.dataDir, "info", extra...)...)
	logs := &enginetest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), runMarker+"="+c.runID)
	// If the test binary dies without its cleanups, the engine must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	done := enginetest.Start(c.t, cmd)
	n.mu.Lock()
	n.cmd, n.done, n.logs, n.frozen = cmd, done, logs, false
	n.mu.Unlock()
	n.gen.Add(1)
	c.t.Cleanup(func() { c.terminate(n, cmd, done) })
}

// terminate stops one engine process gracefully (SIGKILL after 20 s) and waits for the driver
// processes it started to exit. A frozen engine is resumed first: SIGTERM waits on SIGCONT.
func (c *cluster) terminate(n *node, cmd *exec.Cmd, done chan struct{}) {
	select {
	case <-done:
		return
	default:
	}
	n.avail.Store(false)
	_ = cmd.Process.Signal(syscall.SIGCONT)
	enginetest.Terminate(c.t, n.id, cmd, done)
}

// kill SIGKILLs n: no graceful leave, as when a machine dies.
func (c *cluster) kill(n *node) {
	c.t.Helper()
	n.avail.Store(false)
	n.gen.Add(1)
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill %s: %v", n.id, err)
	}
	<-done
}

// restart starts n again from its data directory and waits until it is ready.
func (c *cluster) restart(n *node) {
	c.t.Helper()
	c.start(n)
	c.waitFor(60*time.Second, n.id+" ready after restart", func() bool { return c.ready(n) })
	n.avail.Store(true)
}

// freeze stops n's engine process (not its drivers) with SIGSTOP; thaw resumes it.
func (c *cluster) freeze(n *node) {
	c.t.Helper()
	n.avail.Store(false)
	n.gen.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.t.Fatalf("SIGSTOP %s: %v", n.id, err)
	}
	n.frozen = true
}

func (c *cluster) thaw(n *node) {
	c.t.Helper()
	n.mu.Lock()
	if err := n.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		n.mu.Unlock()
		c.t.Fatalf("SIGCONT %s: %v", n.id, err)
	}
	n.frozen = false
	n.mu.Unlock()
	n.gen.Add(1)
}

// request sends one request bounded by timeout; an unreachable node is an error, not a failure.
func request(ctx context.Context, n *node, method, path, body string, timeout time.Duration) (int, []byte, error) {
	r, err := enginetest.LegacyDo(ctx, httpClient, method, n.base+path, body, timeout)
	return r.Status, r.Body, err
}

func (c *cluster) get(n *node, path string) (int, []byte, error) {
	return request(context.Background(), n, http.MethodGet, path, "", 2*time.Second)
}

func (c *cluster) ready(n *node) bool {
	code, _, err := c.get(n, "/api/core/v1/ready")
	return err == nil && code == 200
}

func (c *cluster) info(n *node) (enginetest.ClusterInfo, error) {
	return enginetest.LegacyCluster(httpClient, n.base, 2*time.Second)
}

// live is the nodes whose process runs and is not frozen.
func (c *cluster) live() []*node {
	var out []*node
	for _, n := range c.nodes {
		n.mu.Lock()
		frozen := n.frozen
		n.mu.Unlock()
		if n.running() && !frozen {
			out = append(out, n)
		}
	}
	return out
}

func (c *cluster) byID(id string) *node {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// leader is the node the first live node names as leader.
func (c *cluster) leader() *node {
	c.t.Helper()
	for _, n := range c.live() {
		if ci, err := c.info(n); err == nil && ci.Leader != "" {
			if l := c.byID(ci.Leader); l != nil {
				return l
			}
		}
	}
	c.t.Fatalf("no node names a leader\n%s", c.logTails())
	return nil
}

// placement maps every running module to the node that has it loaded; ok is false when a node
// did not answer or a module runs twice.
func (c *cluster) placement() (map[string]string, bool) {
	out := map[string]string{}
	for _, n := range c.live() {
		loaded, err := enginetest.Loaded(httpClient, n.base, 2*time.Second)
		if err != nil || enginetest.AddOwners(out, n.id, loaded) != "" {
			return nil, false
		}
	}
	return out, true
}

// waitHealthy waits until every live node sees `up` nodes up, one agreed leader and the cluster
// ready, and every module runs exactly once; then the live nodes take load again.
func (c *cluster) waitHealthy(up int, d time.Duration) {
	c.t.Helper()
	if err := c.until(d, fmt.Sprintf("%d nodes up, ready, %d modules placed once", up, totalModules), func() bool {
		leader := ""
		for _, n := range c.live() {
			ci, err := c.info(n)
			if err != nil || !ci.Ready || ci.Leader == "" || ci.Up() != up || (leader != "" && ci.Leader != leader) {
				return false
			}
			leader = ci.Leader
		}
		place, ok := c.placement()
		return ok && len(place) == totalModules
	}); err != nil {
		c.t.Fatal(err)
	}
	for _, n := range c.live() {
		n.avail.Store(true)
	}
}

// driverPID is the pid of binary's process on n (0 if none runs).
func (c *cluster) driverPID(n *node, binary string) (int, error) {
	code, body, err := c.get(n, "/api/core/v1/status/driver?path="+binary)
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("driver status on %s: %d %s", n.id, code, body)
	}
	var st struct {
		PID     int  `json:"pid"`
		Running bool `json:"running"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return 0, err
	}
	if !st.Running {
		return 0, nil
	}
	return st.PID, nil
}

// hostOf is a live node running modules of binary.
func (c *cluster) hostOf(binary string) (*node, error) {
	for _, n := range c.live() {
		if loaded, err := enginetest.Loaded(httpClient, n.base, 2*time.Second); err == nil && len(loaded[binary]) > 0 {
			return n, nil
		}
	}
	return nil, errors.New("no live node runs " + filepath.Base(binary))
}

func (c *cluster) waitFor(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	if err := c.until(d, what, cond); err != nil {
		c.t.Fatal(err)
	}
}

// until polls cond every 50 ms; after d it returns an error carrying the nodes' log tails.
func (c *cluster) until(d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s\n%s", d, what, c.logTails())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func (c *cluster) logTails() string {
	var sb strings.Builder
	for _, n := range c.nodes {
		fmt.Fprintf(&sb, "--- %s log tail:\n%s\n", n.id, n.logTail(3000))
	}
	return sb.String()
}
