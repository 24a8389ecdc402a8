package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// The ten-thousand-modules benchmark (issue 13 item 4):
//
//	go test -run '^$' -bench '^BenchmarkStartup10kModules$' -benchtime 1x -timeout 20m ./scripts/bench/
//
// BenchmarkStartup10kModules applies a model of N modules (a driver program built under four
// names, the modules spread evenly over the four, in systems of 100, each setting three
// statuses after its start) to running engines and measures, from the PUT /api/engine/v2/model
// that applies it:
//
//   - s-to-running: until GET /api/core/v1/status of every node lists all N modules running;
//   - s-to-answering: until every module has answered an echo through REST (32 clients sweep
//     the modules by id once all run, each module at the node that runs it);
//   - s-to-statuses: until every module's statuses are in Redis; redis-cpu-share is
//     redis-server's CPU time over that span, as a share of one core;
//
// and the memory the modules add: the resident set (VmRSS, settled) of every engine and driver
// process after the sweep, less the same with the 100-module model the engines ran before the
// apply (every node then already has its four driver processes; a cluster forms with no module
// and takes that model once formed, so no module moves while the nodes join), divided by N − 100:
// KiB-per-module. The total resident set divided by N (fixed costs included) is shown as well.
//
// It runs the test driver (internal/testdriver: go-plugin served directly, the engine's side
// alone) on one node for N = 1000, 2500, 5000 and 10000 (BENCH10K_SIZES, a comma list, changes
// that) and on a 3-node cluster (on this machine, sharing its CPUs) for the smallest and the
// largest N, and the SDK driver (internal/sdkdriver: the SDK's runtime, a driver value, status
// outbox and logger per module) on one node for the largest N; each on fresh engines and a fresh
// Redis database. The metrics are the largest N's: one node with the test driver unsuffixed,
// -cluster, -sdk, and per N with the N as suffix.
//
// Execute with the modules loaded: while the one-node engines with the smallest and the largest
// N both still run (idle), REST echo by module id at 1 and 32 clients, 5 interleaved rounds of
// 3000 calls against each (the calls go round all of each engine's modules), medians: the
// ratio of the largest N's calls/s to the smallest's (exec-ratio-c1, exec-ratio-c32), which
// issue 13 wants unchanged (≈ 1.0).
//
// Timings share two cores with whatever else runs: the table names the load average before
// and after. Memory figures do not depend on it.

// bench10kDrivers is how many driver binaries the modules are spread over.
const bench10kDrivers = 4

// bench10kBase is the model every engine runs before the apply: the memory baseline.
const bench10kBase = 100

// bench10kStatuses makes every module set three statuses right after its start (the test
// driver's statuses_on_start), as a device driver sets connected and what it reads: 30,000
// status writes with 10,000 modules, on top of the engine's own clear and metadata per module.
const bench10kStatuses = `{"statuses_on_start": {"connected": true, "power": false, "volume": 50}}`

// bench10kStatusCount is how many statuses bench10kStatuses sets.
const bench10kStatusCount = 3

// bench10kClients is how many callers sweep the modules with echo calls.
const bench10kClients = 32

// bench10kPoll is how often the status of every node is read while the modules start; it bounds
// s-to-running's resolution (a status read of 10000 modules costs the engine about 8 ms).
const bench10kPoll = 100 * time.Millisecond

// bench10kHTTP serves the polls, the applies and the sweeps.
var bench10kHTTP = &http.Client{Timeout: 60 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 2 * bench10kClients, MaxConnsPerHost: 2 * bench10kClients}}

func bench10kSizes(b *testing.B) []int {
	spec := os.Getenv("BENCH10K_SIZES")
	if spec == "" {
		return []int{1000, 2500, 5000, 10000}
	}
	var out []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= bench10kBase {
			b.Fatalf("BENCH10K_SIZES: %q is not a count above %d", f, bench10kBase)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func bench10kModuleID(i int) string { return fmt.Sprintf("mod-%05d", i) }

// bench10kModel is the model of n modules as JSON (PUT /model takes JSON; --model takes it too).
func bench10kModel(drv bench10kDriver, n int) string {
	type driver struct {
		ID         string          `json:"id"`
		ModuleName string          `json:"module_name"`
		Role       string          `json:"role"`
		Binary     string          `json:"binary"`
		Settings   json.RawMessage `json:"settings"`
	}
	type module struct {
		ID       string `json:"id"`
		DriverID string `json:"driver_id"`
		Running  bool   `json:"running"`
	}
	type system struct {
		ID      string   `json:"id"`
		Name    string   `json:"name"`
		Modules []string `json:"modules"`
	}
	var m struct {
		Drivers []driver `json:"drivers"`
		Modules []module `json:"modules,omitempty"`
		Systems []system `json:"systems,omitempty"`
	}
	for i, bin := range drv.bins {
		m.Drivers = append(m.Drivers, driver{fmt.Sprintf("drv-%d", i), drv.moduleName, "service", bin, json.RawMessage(bench10kStatuses)})
	}
	for i := range n {
		id := bench10kModuleID(i)
		m.Modules = append(m.Modules, module{id, fmt.Sprintf("drv-%d", i%len(drv.bins)), true})
		if i%100 == 0 {
			m.Systems = append(m.Systems, system{ID: fmt.Sprintf("sys-%04d", i/100), Name: fmt.Sprintf("Room %d", i/100)})
		}
		s := &m.Systems[len(m.Systems)-1]
		s.Modules = append(s.Modules, id)
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// bench10kDriver is a driver program the modules run on, built under bench10kDrivers names.
type bench10kDriver struct {
	name       string   // in the tables
	bins       []string // the program under each name
	moduleName string
	echo       string // what echo([1]) answers
}

// bench10kRun is one N on one topology.
type bench10kRun struct {
	driver               string
	n, nodes             int
	running, answered    time.Duration
	sweep                time.Duration // the echo sweep alone
	statuses             time.Duration // until every module's statuses are in Redis
	redisCPU             time.Duration // redis-server's CPU time from the apply to statuses
	redisCommands        int64         // commands redis-server processed meanwhile
	baseKiB, afterKiB    int           // RSS of every engine and driver process, KiB
	engineKiB, driverKiB int           // after, split
	drivers              int           // driver processes after
}

func (r bench10kRun) perModule() float64 {
	return float64(r.afterKiB-r.baseKiB) / float64(r.n-bench10kBase)
}

func (r bench10kRun) totalPerModule() float64 { return float64(r.afterKiB) / float64(r.n) }

// BenchmarkStartup10kModules: see the comment above.
func BenchmarkStartup10kModules(b *testing.B) {
	runOnce(b, func(b *testing.B) (string, []clusterMetric) {
		sizes := bench10kSizes(b)
		redis := testutil.StartRedis(b)
		db := 0
		nextDB := func() string { db++; return fmt.Sprintf("redis://%s/%d", redis.Addr, db) }
		test := bench10kDriver{"test driver", bench10kDriverBinaries(b, "./internal/testdriver"), "Test", "[1]"}
		sdkd := bench10kDriver{"SDK driver", bench10kDriverBinaries(b, "./internal/sdkdriver"), "Greeter", "1"}
		loadBefore := loadAvg()

		var runs, cruns []bench10kRun
		var small, large []*enginetest.Node
		for i, n := range sizes {
			cfg := enginetest.Config{Redis: nextDB(), Client: bench10kHTTP, Timeout: 30 * time.Second, LogLevel: "warn"}
			nodes := []*enginetest.Node{enginetest.StartEngine(b, cfg, fmt.Sprintf("k10-%d", n), bench10kModel(test, bench10kBase))}
			r := bench10kMeasure(b, nodes, redisDB(b, redis, db), test, n)
			runs = append(runs, r)
			// The smallest and the largest stay up for the execute comparison.
			if i == 0 {
				small = nodes
			}
			if i == len(sizes)-1 {
				large = nodes
			}
			if i != 0 && i != len(sizes)-1 {
				nodes[0].Stop()
			}
		}
		execRows, execMetrics := bench10kExec(b, small[0], large[0], sizes[0], sizes[len(sizes)-1])
		small[0].Stop()
		if large[0] != small[0] {
			large[0].Stop()
		}

		for _, n := range slices.Compact([]int{sizes[0], sizes[len(sizes)-1]}) {
			cfg := enginetest.Config{Redis: nextDB(), Client: bench10kHTTP, Timeout: 30 * time.Second, LogLevel: "warn"}
			// The cluster forms with no module, then takes the base model: modules started
			// while the nodes join move once or twice (docs/protocol.md §3), which is not what
			// this measures.
			c := enginetest.StartCluster(b, cfg, fmt.Sprintf("k10c%d", n), 3, bench10kModel(test, 0), 0)
			bench10kApply(b, c.Nodes, bench10kModel(test, bench10kBase), bench10kBase)
			cruns = append(cruns, bench10kMeasure(b, c.Nodes, redisDB(b, redis, db), test, n))
			for _, nd := range c.Nodes {
				nd.Stop()
			}
		}
		// The largest N once more on the SDK's runtime (a module per driver value, its status
		// outbox, its logger), one node.
		nSDK := sizes[len(sizes)-1]
		cfg := enginetest.Config{Redis: nextDB(), Client: bench10kHTTP, Timeout: 30 * time.Second, LogLevel: "warn"}
		sdkNode := enginetest.StartEngine(b, cfg, fmt.Sprintf("k10s-%d", nSDK), bench10kModel(sdkd, bench10kBase))
		sruns := []bench10kRun{bench10kMeasure(b, []*enginetest.Node{sdkNode}, redisDB(b, redis, db), sdkd, nSDK)}
		sdkNode.Stop()
		loadAfter := loadAvg()

		var sb strings.Builder
		fmt.Fprintf(&sb, "\nModules applied with PUT /model to running engines (each already running %d modules); the driver program under %d names, modules spread evenly over them, systems of 100; every module sets %d statuses after its start. Test driver: internal/testdriver, go-plugin served directly; SDK driver: internal/sdkdriver, on the SDK's runtime. Load average %s before, %s after.\n",
			bench10kBase, bench10kDrivers, bench10kStatusCount, loadBefore, loadAfter)
		fmt.Fprintf(&sb, "\n| driver | nodes | modules | apply → all running | apply → all answered | of which the echo sweep | apply → all statuses in Redis | RSS per module (engine + drivers, vs %d modules) | total RSS ÷ modules | engine RSS | driver RSS (processes) |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
			bench10kBase)
		sec := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
		mib := func(k int) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }
		for _, r := range slices.Concat(runs, cruns, sruns) {
			fmt.Fprintf(&sb, "| %s | %d | %d | %s | %s | %s | %s | %.1f KiB | %.1f KiB | %s | %s (%d) |\n", r.driver, r.nodes, r.n,
				sec(r.running), sec(r.answered), sec(r.sweep), sec(r.statuses), r.perModule(), r.totalPerModule(), mib(r.engineKiB), mib(r.driverKiB), r.drivers)
		}
		fmt.Fprintf(&sb, "\nRedis during each apply, from the PUT to every status in Redis: each module's writes are a status clear, its metadata and the %d statuses its driver sets, each a script; commands count those the scripts run too (the benchmark's own reads are left out):\n\n| driver | nodes | modules | redis-server CPU | CPU share of the wall time | commands per module |\n|---|---|---|---|---|---|\n", bench10kStatusCount)
		for _, r := range slices.Concat(runs, cruns, sruns) {
			fmt.Fprintf(&sb, "| %s | %d | %d | %.2f s | %.0f %% of one core | %.1f |\n", r.driver, r.nodes, r.n, r.redisCPU.Seconds(),
				100*r.redisCPU.Seconds()/r.statuses.Seconds(), float64(r.redisCommands)/float64(r.n))
		}
		first, last := runs[0], runs[len(runs)-1]
		fmt.Fprintf(&sb, "\nGrowth from %d to %d modules on one node (×%.1f modules): time to all answered ×%.2f, RSS per module ×%.2f.\n",
			first.n, last.n, float64(last.n)/float64(first.n), last.answered.Seconds()/first.answered.Seconds(), last.perModule()/first.perModule())
		sb.WriteString(execRows)

		metrics := []clusterMetric{
			{last.answered.Seconds(), "s-to-answering"},
			{last.statuses.Seconds(), "s-to-statuses"},
			{last.redisCPU.Seconds() / last.statuses.Seconds(), "redis-cpu-share"},
			{last.running.Seconds(), "s-to-running"},
			{last.perModule(), "KiB-per-module"},
		}
		if len(cruns) > 0 {
			cl := cruns[len(cruns)-1]
			metrics = append(metrics,
				clusterMetric{cl.answered.Seconds(), "s-to-answering-cluster"},
				clusterMetric{cl.running.Seconds(), "s-to-running-cluster"},
				clusterMetric{cl.perModule(), "KiB-per-module-cluster"})
		}
		sr := sruns[0]
		metrics = append(metrics,
			clusterMetric{sr.answered.Seconds(), "s-to-answering-sdk"},
			clusterMetric{sr.perModule(), "KiB-per-module-sdk"})
		for _, r := range runs {
			metrics = append(metrics,
				clusterMetric{r.answered.Seconds(), fmt.Sprintf("s-to-answering-%d", r.n)},
				clusterMetric{r.perModule(), fmt.Sprintf("KiB-per-module-%d", r.n)})
		}
		return sb.String(), append(metrics, execMetrics...)
	})
}

// bench10kDriverBinaries builds a driver program once and copies it under bench10kDrivers names:
// each name is a driver of its own to the engine, with a process of its own on every node.
func bench10kDriverBinaries(b *testing.B, pkg string) []string {
	src := testutil.BuildBinary(b, pkg)
	raw, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var out []string
	for i := range bench10kDrivers {
		p := filepath.Join(dir, fmt.Sprintf("%s-%c", filepath.Base(pkg), 'a'+i))
		if err := os.WriteFile(p, raw, 0o755); err != nil {
			b.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// bench10kMeasure applies the n-module model through the first node and measures it (see the
// benchmark's comment). The nodes run the base model.
func bench10kMeasure(b *testing.B, nodes []*enginetest.Node, rc *redis.Client, drv bench10kDriver, n int) bench10kRun {
	b.Helper()
	r := bench10kRun{driver: drv.name, n: n, nodes: len(nodes)}
	// Every node runs its share of the base model on all four drivers before the baseline is read.
	for _, nd := range nodes {
		nd.Eventually(60*time.Second, nd.ID+" running its share of the base model on every driver", func() bool {
			return len(testutil.Children(nd.PID())) == len(drv.bins)
		})
	}
	base, _, _, _ := bench10kRSS(b, nodes)
	r.baseKiB = base

	cpu0, cmds0 := redisCPU(b, rc)
	began := time.Now()
	r.running = bench10kApply(b, nodes, bench10kModel(drv, n), n)
	// Each module is called at the node that runs it: forwarding is measured elsewhere
	// (BenchmarkClusterExecuteNonOwner), and with three engines on two cores it would make this
	// a measure of the forwarding.
	owner := make([]*enginetest.Node, n)
	for _, nd := range nodes {
		loaded, err := nd.Loaded()
		if err != nil {
			b.Fatalf("%s: %v", nd.ID, err)
		}
		for _, ids := range loaded {
			for _, id := range ids {
				if i, err := strconv.Atoi(strings.TrimPrefix(id, "mod-")); err == nil && i < n {
					owner[i] = nd
				}
			}
		}
	}
	sweepBegan := time.Now()
	err := startupSweepN(n, bench10kClients, func(i int) error {
		if owner[i] == nil {
			return fmt.Errorf("%s runs on no node", bench10kModuleID(i))
		}
		return bench10kEcho(owner[i], bench10kModuleID(i), drv.echo)
	})
	if err != nil {
		b.Fatalf("%d modules: %v", n, err)
	}
	r.sweep = time.Since(sweepBegan)
	r.answered = time.Since(began)
	// Every module's statuses, set by its driver after its start, are in Redis: read in
	// pipelines, once after the sweep and again until they all are.
	checks := 0
	var missing []string
	nodes[0].Eventually(60*time.Second, fmt.Sprintf("the statuses of %d modules in Redis", n), func() bool {
		checks++
		var err error
		if missing, err = bench10kMissingStatuses(rc, n); err != nil {
			b.Fatalf("%d modules: %v", n, err)
		}
		if len(missing) > 0 && checks%20 == 1 {
			b.Logf("%d modules: statuses missing for %d modules (%s ...)", n, len(missing), strings.Join(missing[:min(5, len(missing))], ", "))
		}
		return len(missing) == 0
	})
	r.statuses = time.Since(began)
	cpu1, cmds1 := redisCPU(b, rc)
	r.redisCPU, r.redisCommands = cpu1-cpu0, cmds1-cmds0-int64(checks*n)-1 // less this check's HLENs and INFO
	r.afterKiB, r.engineKiB, r.driverKiB, r.drivers = bench10kRSS(b, nodes)
	b.Logf("%d nodes, %d modules: all running %v, all answered %v (sweep %v), RSS %d KiB (base %d KiB): %.1f KiB per module",
		len(nodes), n, r.running, r.answered, r.sweep, r.afterKiB, r.baseKiB, r.perModule())
	return r
}

// bench10kApply applies model through the first node (PUT /model) and returns how long until
// GET /status of the nodes lists n modules running.
func bench10kApply(b *testing.B, nodes []*enginetest.Node, model string, n int) time.Duration {
	b.Helper()
	began := time.Now()
	resp, err := nodes[0].Request(context.Background(), http.MethodPut, "/api/engine/v2/model", model, 60*time.Second)
	if err != nil || resp.Status != http.StatusOK {
		b.Fatalf("apply %d modules: %v %d %s", n, err, resp.Status, resp.Body)
	}
	var took time.Duration
	var pollErr error
	observe(nodes[0].Eventually, 120*time.Second, fmt.Sprintf("%d modules running on %d nodes", n, len(nodes)), probe{bench10kPoll, func() bool {
		running := 0
		for _, nd := range nodes {
			c, err := bench10kRunning(nd)
			if err != nil {
				pollErr = err
				return true
			}
			running += c
		}
		if running < n {
			return false
		}
		took = time.Since(began)
		return true
	}})
	if pollErr != nil {
		b.Fatalf("%d modules: %v", n, pollErr)
	}
	return took
}

// bench10kRunning counts the modules GET /status lists running; a module that failed is an error.
func bench10kRunning(nd *enginetest.Node) (int, error) {
	var st struct {
		Modules []struct {
			ID      string `json:"id"`
			Running bool   `json:"running"`
			Error   string `json:"error"`
		} `json:"modules"`
	}
	if err := nd.GetJSON("/api/core/v1/status", &st); err != nil {
		return 0, err
	}
	running := 0
	for _, m := range st.Modules {
		if m.Error != "" {
			return 0, fmt.Errorf("%s: module %s: %s", nd.ID, m.ID, m.Error)
		}
		if m.Running {
			running++
		}
	}
	return running, nil
}

// bench10kRSS is the settled resident set of every node's engine and driver processes, KiB.
func bench10kRSS(b *testing.B, nodes []*enginetest.Node) (total, engines, drivers, procs int) {
	for _, nd := range nodes {
		engines += settledRSS(b, nd.PID())
		for _, pid := range testutil.Children(nd.PID()) {
			drivers += settledRSS(b, pid)
			procs++
		}
	}
	return engines + drivers, engines, drivers, procs
}

// bench10kExec compares REST execute on an engine hosting the largest N with one hosting the
// smallest, both up and idle: interleaved rounds, medians.
func bench10kExec(b *testing.B, small, large *enginetest.Node, nSmall, nLarge int) (string, []clusterMetric) {
	const rounds, calls = 5, 3000
	caller := func(nd *enginetest.Node, spread int) func() error {
		var mu sync.Mutex
		next := 0
		return func() error {
			mu.Lock()
			id := bench10kModuleID(next % spread)
			next++
			mu.Unlock()
			return bench10kEcho(nd, id, "[1]")
		}
	}
	callSmall, callLarge := caller(small, nSmall), caller(large, nLarge)
	for range 500 { // warm both: connections, caches
		if err := callSmall(); err != nil {
			b.Fatal(err)
		}
		if err := callLarge(); err != nil {
			b.Fatal(err)
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nREST execute (echo by module id, the calls going round all the engine's modules) on the one-node engines hosting %d and %d modules, both up; %d interleaved rounds × %d calls, medians.\n", nSmall, nLarge, rounds, calls)
	fmt.Fprintf(&sb, "\n| clients | %d modules: calls/s | p50 | p99 | %d modules: calls/s | p50 | p99 | throughput ratio |\n|---|---|---|---|---|---|---|---|\n", nSmall, nLarge)
	var metrics []clusterMetric
	for _, clients := range []int{1, 32} {
		var rs, rl []result
		var ratios []float64
		for k := range rounds {
			var s, l result
			if k%2 == 0 {
				s = measure(b, "small", clients, calls, callSmall)
				l = measure(b, "large", clients, calls, callLarge)
			} else {
				l = measure(b, "large", clients, calls, callLarge)
				s = measure(b, "small", clients, calls, callSmall)
			}
			rs, rl = append(rs, s), append(rl, l)
			ratios = append(ratios, l.throughput/s.throughput)
		}
		med := func(rr []result, f func(result) float64) float64 {
			return medianOf(rr, func(i int) float64 { return f(rr[i]) })
		}
		tp := func(r result) float64 { return r.throughput }
		p50 := func(r result) float64 { return float64(r.p50.Microseconds()) }
		p99 := func(r result) float64 { return float64(r.p99.Microseconds()) }
		ratio := medianOf(ratios, func(i int) float64 { return ratios[i] })
		fmt.Fprintf(&sb, "| %d | %.0f | %.0f µs | %.0f µs | %.0f | %.0f µs | %.0f µs | %.2f× |\n", clients,
			med(rs, tp), med(rs, p50), med(rs, p99), med(rl, tp), med(rl, p50), med(rl, p99), ratio)
		metrics = append(metrics, clusterMetric{ratio, fmt.Sprintf("exec-ratio-c%d", clients)})
	}
	return sb.String(), metrics
}

// loadAvg is the 1-minute load average, as /proc/loadavg gives it.
func loadAvg() string {
	f, err := os.Open("/proc/loadavg")
	if err != nil {
		return "?"
	}
	defer f.Close()
	raw, _ := io.ReadAll(f)
	if fields := strings.Fields(string(raw)); len(fields) > 0 {
		return fields[0]
	}
	return "?"
}

// redisDB is a client of database db of r.
func redisDB(b *testing.B, r *testutil.Redis, db int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr, DB: db})
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// bench10kMissingStatuses lists the modules among 0..n-1 whose statuses are not (all) in Redis.
func bench10kMissingStatuses(rc *redis.Client, n int) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var missing []string
	for from := 0; from < n; from += 1000 {
		pipe := rc.Pipeline()
		cmds := make([]*redis.IntCmd, 0, 1000)
		for i := from; i < min(from+1000, n); i++ {
			cmds = append(cmds, pipe.HLen(ctx, "status/"+bench10kModuleID(i)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		for k, c := range cmds {
			if c.Val() != bench10kStatusCount {
				missing = append(missing, fmt.Sprintf("%s (%d)", bench10kModuleID(from+k), c.Val()))
			}
		}
	}
	return missing, nil
}

// redisCPU is redis-server's CPU time so far (user and system) and the commands it processed.
func redisCPU(b *testing.B, rc *redis.Client) (time.Duration, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := rc.Info(ctx, "cpu", "stats").Result()
	if err != nil {
		b.Fatalf("redis INFO: %v", err)
	}
	var cpu float64
	var cmds int64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_cpu_user", "used_cpu_sys":
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		case "total_commands_processed":
			cmds, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return time.Duration(cpu * float64(time.Second)), cmds
}

// bench10kEcho runs echo([1]) on a module by id through nd and checks the answer.
func bench10kEcho(nd *enginetest.Node, module, want string) error {
	r, err := nd.Request(context.Background(), http.MethodPost, "/api/engine/v2/modules/"+module+"/exec/echo", "[1]", 30*time.Second)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK || r.Body != want {
		return fmt.Errorf("echo on %s through %s: %d %s", module, nd.ID, r.Status, r.Body)
	}
	return nil
}
