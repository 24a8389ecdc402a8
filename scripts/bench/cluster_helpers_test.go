package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// benchModules is the number of test-driver modules in the cluster benchmarks' model: enough
// that the share moved on a membership change is not dominated by sampling noise of a few keys.
const benchModules = 120

// clusterHTTP is shared by every request of the cluster benchmarks; polling goroutines and the
// 16-client throughput runs reuse its connections.
var clusterHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}

// benchNode is one cluster member: what survives its restarts (id, addresses, data dir) and the
// process currently running it (nil cmd while stopped).
type benchNode struct {
	id, http, raft, dataDir string
	base                    string
	cmd                     *exec.Cmd
	done                    chan struct{}
	wanted                  bool // false once the benchmark stopped or killed it on purpose
	logs                    *enginetest.LockedBuffer
}

func (n *benchNode) running() bool {
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

// benchCluster is a local cluster of `engine serve` processes sharing one real Redis.
type benchCluster struct {
	b         *testing.B
	bin       string
	redisURL  string
	modelPath string
	nodes     []*benchNode
}

// benchModuleID names module i (1-based); the ids are what the ring hashes.
func benchModuleID(i int) string { return fmt.Sprintf("mod-%03d", i) }

func benchModuleIDs() []string {
	ids := make([]string, benchModules)
	for i := range ids {
		ids[i] = benchModuleID(i + 1)
	}
	return ids
}

// clusterBenchModel is benchModules test-driver modules in one system.
func clusterBenchModel(drv string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "drivers: [{id: drv-test, module_name: Test, role: service, binary: %q}]\nmodules:\n", drv)
	for _, id := range benchModuleIDs() {
		fmt.Fprintf(&sb, "  - {id: %s, driver_id: drv-test, running: true}\n", id)
	}
	fmt.Fprintf(&sb, "systems: [{id: sys-bench, name: Bench, modules: [%s]}]\n", strings.Join(benchModuleIDs(), ", "))
	return sb.String()
}

// startBenchCluster bootstraps node 1 with the model, joins the other size-1 nodes through it and
// waits until every node is up, the cluster is ready and every module runs exactly once. prefix
// names the nodes (prefix-1, prefix-2, ...): node ids are ring members, so the name set is part
// of what a movement measurement samples.
func startBenchCluster(b *testing.B, size int, prefix string) *benchCluster {
	b.Helper()
	redis := testutil.StartRedis(b)
	drv := testutil.BuildBinary(b, "./internal/testdriver")
	c := &benchCluster{b: b, bin: testutil.BuildBinary(b, "./cmd/engine"), redisURL: redis.URL,
		modelPath: filepath.Join(b.TempDir(), "model.yaml")}
	if err := os.WriteFile(c.modelPath, []byte(clusterBenchModel(drv)), 0o644); err != nil {
		b.Fatal(err)
	}
	first := c.addNode(prefix, "--bootstrap", "--model", c.modelPath)
	c.waitFor(30*time.Second, first.id+" ready", func() bool {
		code, _, err := c.get(first, "/api/core/v1/ready", time.Second)
		return err == nil && code == 200
	})
	for range size - 1 {
		c.addNode(prefix, "--join", first.http)
	}
	c.waitHealthy(size, 60*time.Second)
	return c
}

// addNode creates a new member (fresh data dir and addresses) and starts it with extra flags.
func (c *benchCluster) addNode(prefix string, extra ...string) *benchNode {
	c.b.Helper()
	addr := enginetest.FreeAddr(c.b)
	n := &benchNode{id: fmt.Sprintf("%s-%d", prefix, len(c.nodes)+1), http: addr, raft: enginetest.FreeAddr(c.b),
		dataDir: c.b.TempDir(), base: "http://" + addr}
	c.nodes = append(c.nodes, n)
	c.start(n, extra...)
	return n
}

// start runs n's process from its data dir; the process is stopped when the benchmark ends.
func (c *benchCluster) start(n *benchNode, extra ...string) {
	c.b.Helper()
	n.cmd = exec.Command(c.bin, enginetest.ServeArgs(n.id, n.http, n.raft, c.redisURL, n.dataDir, "info", extra...)...)
	n.logs = &enginetest.LockedBuffer{}
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	// If the benchmark binary dies without its cleanups, the engine must not outlive it.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd, done := n.cmd, enginetest.Start(c.b, n.cmd)
	n.done = done
	n.wanted = true
	c.b.Cleanup(func() { enginetest.Terminate(c.b, "engine "+n.id, cmd, done) })
}

// kill SIGKILLs n (no graceful leave) and returns the moment of the signal once the engine
// process is gone, with the pids of its driver processes: the caller starts measuring at once and
// checks later (testutil.WaitGone) that the drivers followed their engine.
func (c *benchCluster) kill(n *benchNode) (time.Time, []int) {
	c.b.Helper()
	drivers := testutil.Children(n.cmd.Process.Pid)
	n.wanted = false
	at := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.b.Fatal(err)
	}
	<-n.done
	return at, drivers
}

// stop SIGTERMs n: the engine's graceful leave.
func (c *benchCluster) stop(n *benchNode) {
	c.b.Helper()
	n.wanted = false
	enginetest.Terminate(c.b, "engine "+n.id, n.cmd, n.done)
}

func (c *benchCluster) live() []*benchNode {
	var out []*benchNode
	for _, n := range c.nodes {
		if n.running() {
			out = append(out, n)
		}
	}
	return out
}

func (c *benchCluster) byID(id string) *benchNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	c.b.Fatalf("no node %q", id)
	return nil
}

// request sends one request bounded by timeout; an unreachable node is an error, not a failure.
func (c *benchCluster) request(n *benchNode, method, path, body string, timeout time.Duration) (int, []byte, error) {
	r, err := enginetest.LegacyDo(context.Background(), clusterHTTP, method, n.base+path, body, timeout)
	return r.Status, r.Body, err
}

func (c *benchCluster) get(n *benchNode, path string, timeout time.Duration) (int, []byte, error) {
	return c.request(n, http.MethodGet, path, "", timeout)
}

// execEcho runs echo([1]) on a module by id through node n and reports whether it answered.
func (c *benchCluster) execEcho(n *benchNode, module string, timeout time.Duration) (int, error) {
	code, body, err := c.request(n, http.MethodPost, "/api/engine/v2/modules/"+module+"/exec/echo", "[1]", timeout)
	if err != nil {
		return 0, err
	}
	if code != 200 || string(body) != "[1]" {
		return code, fmt.Errorf("echo on %s through %s: %d %s", module, n.id, code, body)
	}
	return code, nil
}

func (c *benchCluster) info(n *benchNode, timeout time.Duration) (enginetest.ClusterInfo, error) {
	return enginetest.LegacyCluster(clusterHTTP, n.base, timeout)
}

// placementNow maps every running module to the node that has it loaded, and reports whether
// each live node answered and no module runs twice.
func (c *benchCluster) placementNow() (map[string]string, bool) {
	out := map[string]string{}
	for _, n := range c.live() {
		loaded, err := enginetest.Loaded(clusterHTTP, n.base, 2*time.Second)
		if err != nil || enginetest.AddOwners(out, n.id, loaded) != "" {
			return nil, false
		}
	}
	return out, true
}

// waitHealthy waits until every live node sees `up` nodes up, one agreed leader and the cluster
// ready, and every module of the model runs exactly once; it returns the placement.
func (c *benchCluster) waitHealthy(up int, d time.Duration) map[string]string {
	c.b.Helper()
	var place map[string]string
	c.waitFor(d, fmt.Sprintf("%d nodes up, ready, %d modules placed once", up, benchModules), func() bool {
		leader := ""
		for _, n := range c.live() {
			ci, err := c.info(n, time.Second)
			if err != nil || !ci.Ready || ci.Leader == "" || ci.Up() != up || (leader != "" && ci.Leader != leader) {
				return false
			}
			leader = ci.Leader
		}
		var ok bool
		place, ok = c.placementNow()
		return ok && len(place) == benchModules
	})
	return place
}

// waitFor polls cond every 10 ms until it holds, failing the benchmark with the live nodes' log
// tails after d.
func (c *benchCluster) waitFor(d time.Duration, what string, cond func() bool) {
	c.b.Helper()
	if err := c.until(d, 10*time.Millisecond, what, cond); err != nil {
		c.b.Fatal(err)
	}
}

// until polls cond every period until it holds; after d it returns an error carrying the nodes'
// log tails. Observer goroutines use it, since only the benchmark's goroutine may fail it.
func (c *benchCluster) until(d, period time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		for _, n := range c.nodes {
			if n.wanted && !n.running() {
				return fmt.Errorf("%s exited while waiting for %s\n%s", n.id, what, c.logTails())
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s\n%s", d, what, c.logTails())
		}
		time.Sleep(period)
	}
	return nil
}

func (c *benchCluster) logTails() string {
	var sb strings.Builder
	for _, n := range c.nodes {
		if n.logs != nil {
			fmt.Fprintf(&sb, "--- %s log tail:\n%s\n", n.id, n.logs.Tail(2000))
		}
	}
	return sb.String()
}

// observe runs each observer in its own goroutine and fails the benchmark with the first error
// once all have returned.
func (c *benchCluster) observe(observers ...func() error) {
	c.b.Helper()
	errs := make([]error, len(observers))
	var wg sync.WaitGroup
	for i, o := range observers {
		wg.Go(func() { errs[i] = o() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			c.b.Fatal(err)
		}
	}
}

// shareMoved is the share of modules whose node differs between two placements.
func shareMoved(before, after map[string]string) float64 {
	moved := 0
	for m, n := range before {
		if after[m] != n {
			moved++
		}
	}
	return float64(moved) / float64(len(before))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// clusterResults caches each cluster benchmark's outcome for the benchmark process: the
// framework calls a benchmark again with a larger b.N, and a second cluster would only repeat
// the measurement (and the minutes it takes).
var clusterResults sync.Map

type clusterMetric struct {
	value float64
	unit  string
}

// runOnce measures once per process, prints the table once and reports the metrics on every
// call. The built-in ns/op would divide one measurement by whatever b.N the framework chose, so
// it is suppressed.
func runOnce(b *testing.B, measure func(b *testing.B) (table string, metrics []clusterMetric)) {
	b.Helper()
	v, ok := clusterResults.Load(b.Name())
	if !ok {
		table, metrics := measure(b)
		fmt.Print(table)
		clusterResults.Store(b.Name(), metrics)
		v = metrics
	}
	b.ReportMetric(0, "ns/op")
	for _, m := range v.([]clusterMetric) {
		b.ReportMetric(m.value, m.unit)
	}
}
