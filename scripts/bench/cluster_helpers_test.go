package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
// of what a movement measurement samples. flags go to every engine.
func startBenchCluster(b *testing.B, size int, prefix string, flags ...string) *enginetest.Cluster {
	b.Helper()
	redis := testutil.StartRedis(b)
	drv := testutil.BuildBinary(b, "./internal/testdriver")
	cfg := enginetest.Config{Redis: redis.URL, Client: clusterHTTP, Timeout: 2 * time.Second, Flags: flags}
	return enginetest.StartCluster(b, cfg, prefix, size, clusterBenchModel(drv), benchModules)
}

// execEcho runs echo([1]) on a module by id through node n and reports whether it answered.
func execEcho(n *enginetest.Node, module string, timeout time.Duration) (int, error) {
	r, err := n.Request(context.Background(), http.MethodPost, "/api/engine/v2/modules/"+module+"/exec/echo", "[1]", timeout)
	if err != nil {
		return 0, err
	}
	if r.Status != 200 || r.Body != "[1]" {
		return r.Status, fmt.Errorf("echo on %s through %s: %d %s", module, n.ID, r.Status, r.Body)
	}
	return r.Status, nil
}

// others is the live nodes of c but not.
func others(c *enginetest.Cluster, not *enginetest.Node) []*enginetest.Node {
	var out []*enginetest.Node
	for _, n := range c.Live() {
		if n != not {
			out = append(out, n)
		}
	}
	return out
}

// probe is one condition observe polls: poll, every period until it reports true. Polls take
// their timings themselves and must not fail the benchmark (only its goroutine may): they record
// what went wrong for it to check afterwards.
type probe struct {
	every time.Duration
	poll  func() bool
}

// observe runs each probe in its own goroutine and waits (with wait, e.g. Cluster.Eventually,
// within) until every probe's poll has reported true. A probe's resolution is its period,
// whatever the wait's own polling.
func observe(wait func(time.Duration, string, func() bool), within time.Duration, what string, probes ...probe) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var done atomic.Int32
	for _, p := range probes {
		wg.Go(func() {
			for !p.poll() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(p.every):
				}
			}
			done.Add(1)
		})
	}
	wait(within, what, func() bool { return int(done.Load()) == len(probes) })
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
