package bench

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

// result is one measured configuration.
type result struct {
	name       string
	clients    int
	throughput float64 // calls per second
	p50, p99   time.Duration
}

// measure runs n calls spread over clients goroutines and returns throughput and percentiles.
func measure(b *testing.B, name string, clients, n int, call func() error) result {
	b.Helper()
	lat := make([]time.Duration, n)
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	began := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= n {
					return
				}
				t0 := time.Now()
				if err := call(); err != nil {
					errs <- err
					return
				}
				lat[k] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	select {
	case err := <-errs:
		b.Fatalf("%s: %v", name, err)
	default:
	}
	slices.Sort(lat)
	return result{name: name, clients: clients, throughput: float64(n) / took.Seconds(),
		p50: lat[n/2], p99: lat[n*99/100]}
}

// The execute benchmark (issues 3 and 13):
//
//	go test -run '^$' -bench '^BenchmarkExecute$' -benchtime 1x ./scripts/bench/
//
// BenchmarkExecute makes one call, echo([1]) on the test driver (internal/testdriver), four ways
// side by side in one run, at 1 and 32 concurrent clients:
//
//   - direct: the driver's go-plugin gRPC Exec, from the benchmark process (no HTTP at all), as
//     plugin.Client makes it: a message each way on the driver's Execs stream;
//   - direct, unary: the same as one unary gRPC Exec per call, as it was made before the Execs
//     stream (stream-over-unary-c1 and -c32 say what the stream gained);
//   - bare proxy: a plain net/http handler that reads the body, makes that same Exec call
//     (module, function, arguments) through a go-plugin client made as the engine makes its
//     own (plugin.ClientConfig, plugin.Connect), and writes the result: no auth, metrics,
//     Redis, routing or per-call timeout. It is the floor of this architecture, an HTTP hop in
//     front of a go-plugin hop;
//   - REST execute: POST /api/engine/v2/systems/sys-bench/Test_1/echo on an `engine serve`
//     process (--auth none).
//
// The bare proxy runs in a process of its own (this test binary re-run as
// TestExecBenchBareProcess), as the engine does, each with its own process of the same driver
// binary: client process → proxy process → driver process on both sides. Each runs with its
// runtime settings: the bare proxy and its driver with Go's defaults, the engine with what its
// auto chooses for itself and for the driver processes it launches (on a 2-CPU machine GOMAXPROCS 1
// for both, --gomaxprocs and --driver-gomaxprocs); the CPU rows show each process's share, the
// driver's included, and BenchmarkExecuteSettings measures the engine with Go's defaults too. Served from the
// benchmark process itself it ran 5–15 % faster at 32 clients on a 2-core machine (one process
// fewer to schedule, client and server goroutines handing off inside one runtime), an edge no
// engine could match, which would make the ≥ 0.95× target unfair.
//
// Bare proxy and REST execute get the same request (path, body, headers) from the same
// http.Client (one keep-alive Transport, at most 64 connections per host), and the bare proxy
// answers with the engine's own response header names and values (copied from one engine answer
// at the start), so the client does the same work for either (the allocation table shows the
// client's count for both). Every run is EXECBENCH_CALLS calls (5000); EXECBENCH_ROUNDS rounds
// (9) each run the four paths at 1 client and then at 32, in an order that rotates from round
// to round. Figures are medians over the rounds; a ratio is the median of the per-round ratios,
// each between runs made moments apart. Nine rounds, not five: on a shared 2-CPU machine the
// 32-client ratio of two five-round runs differed by up to 0.1. The benchmark measures once per process whatever b.N is
// (see runOnce).
//
// allocs-own is how many allocations per REST execute the engine makes beyond what the bare
// proxy makes for the same call: our own code's share. Both count heap allocations as the Go
// runtime does (MemStats.Mallocs, what -benchmem reports as allocs/op; not bytes), each in its
// own process, per run:
//
//   - engine: the rise of go_memstats_mallocs_total in its GET /metrics over a REST run (read
//     just before and just after it);
//   - bare proxy: the rise of its runtime.MemStats.Mallocs over a bare-proxy run (read through
//     its control pipe just before and after);
//   - each less what the two reads cost that process (back-to-back reads, median of 5, before
//     the rounds) and its idle background rate (two reads 2 s apart) times the run's length,
//     divided by the calls;
//   - allocs-own = engine − bare proxy, per round (the runs moments apart); the metric is the
//     larger of the 1- and 32-client medians (allocs-own-c1 and allocs-own-c32 are reported too).
//
// What it counts: everything the engine process allocates for a call that the bare proxy does
// not — our middleware, router, argument checks, core's execute path, supervisor,
// metrics and logging — and also allocations inside net/http or gRPC that our code causes (a
// response header it sets, a context layer, the deadline and request id the engine sends the
// driver): the bare proxy shows those are avoidable. What it does not count: the driver's
// allocations and the client's; allocations the engine might avoid that the bare proxy makes
// would lower it (we know of none). Both processes' net/http server and gRPC client work is
// common to the two and cancels out. It is a difference of counters, so it carries noise: the
// background rate is an idle estimate, GC-cleared pools refill at different times, and the
// engine's counter (runtime/metrics, behind the Prometheus collector) lags by what the per-P
// caches have not flushed; checked against the engine's own runtime.ReadMemStats (its
// /debug/pprof/heap?debug=1 under --pprof-addr) over the same runs it read 1–2.5 fewer per call.
// Expect ±2 at 5000 calls (the table shows each part). It says how many, not where: `go test
// -memprofile` cannot see into the engine's process; for the sites, run an engine with
// --pprof-addr and read /debug/pprof/allocs under load.
func BenchmarkExecute(b *testing.B) {
	runOnce(b, measureExecute)
}

// The four paths, in the order of the tables. pathUnary is the direct call as it was before the
// Execs stream (plugin/execs.go): one unary gRPC Exec each, to the same driver process.
const (
	pathDirect = iota
	pathBare
	pathREST
	pathUnary
	nPaths
)

var execPathNames = [nPaths]string{"direct go-plugin gRPC", "bare proxy (net/http → gRPC)", "REST execute",
	"direct, a unary gRPC Exec per call (no Execs stream)"}

const (
	execPath = "/api/engine/v2/systems/sys-bench/Test_1/echo"
	execArgs = `[1]`
)

// execClients are the client counts measured.
var execClients = []int{1, 32}

// execRun is one run of one path and the allocations counted over it.
type execRun struct {
	result
	client   float64 // the benchmark process's allocations per call (the client's)
	server   float64 // the proxy's (engine's or bare proxy's) per call, corrected; 0 for direct
	cpu      float64 // the proxy process's CPU time per call, µs; 0 for direct
	drvCPU   float64 // the CPU time per call of the proxy's driver process, µs; 0 for direct
	wakes    float64 // the proxy process's thread wake-ups per call; 0 for direct
	drvWakes float64 // its driver process's
	self     float64 // the benchmark process's CPU time per call (the clients'), µs
	redis    float64 // the engine's Redis server's CPU time per call, µs, during every run
	busy     float64 // the whole machine's CPU time per call, µs (/proc/stat)
	idle     float64 // the share of the machine's CPU time left idle during the run
}

func measureExecute(b *testing.B) (string, []clusterMetric) {
	calls := wsbEnvInt("EXECBENCH_CALLS", 5000)
	rounds := wsbEnvInt("EXECBENCH_ROUNDS", 9)
	redis := testutil.StartRedis(b)
	drv := testutil.BuildBinary(b, "./internal/testdriver")
	eng := startEngine(b, redis.URL, drv)
	base := eng.Base
	direct := startDirect(b, drv)

	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	b.Cleanup(httpClient.CloseIdleConnections)
	bare := startBare(b, drv, engineAnswerHeader(b, httpClient, base+execPath))
	paths := [nPaths]func() error{
		pathDirect: func() error { return directEcho(context.Background(), direct) },
		pathUnary:  func() error { return unaryEcho(context.Background(), direct) },
		pathBare:   echoPost(httpClient, "bare proxy", bare.http+execPath),
		pathREST:   echoPost(httpClient, "REST", base+execPath),
	}
	// Warm every path (connections, caches) before measuring, and open the 32 clients'
	// connections.
	for range 200 {
		for _, call := range paths {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
	}
	for p, call := range paths {
		measure(b, execPathNames[p], slices.Max(execClients), 1000, call)
	}
	counters := [nPaths]*mallocCounter{
		pathBare: bare.mallocs,
		pathREST: engineMallocs(httpClient, base+"/metrics", eng.PID()),
	}
	for _, c := range counters {
		if c != nil {
			c.calibrate(b)
		}
	}

	// runs[c][p] are the runs of path p at execClients[c], one per round.
	runs := make([][nPaths][]execRun, len(execClients))
	for r := range rounds {
		for c, clients := range execClients {
			for k := range nPaths {
				p := (r + k) % nPaths
				runs[c][p] = append(runs[c][p], runPath(b, execPathNames[p], clients, calls, paths[p], counters[p], redis.PID()))
			}
		}
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d rounds × %d calls per path and client count, interleaved (the order rotates every round); medians over the rounds. Clients in the benchmark process; the bare proxy and the engine each in a process of their own, each calling its own process of the same driver binary.\n\n", rounds, calls)
	fmt.Fprintf(&sb, "| path | clients | calls/s | × direct | × bare proxy | p50 | p50 over direct | p50 over bare | p99 |\n|---|---|---|---|---|---|---|---|---|\n")
	var metrics []clusterMetric
	// allocs[c] are the allocation figures at execClients[c], medians over the rounds.
	type allocs struct{ directClient, bareClient, restClient, bare, engine, own float64 }
	all := make([]allocs, len(execClients))
	for c, clients := range execClients {
		rs := runs[c]
		for p := range nPaths {
			fmt.Fprintf(&sb, "| %s | %d | %.0f | %.2f× | %.2f× | %.0f µs | %+.0f µs | %+.0f µs | %.0f µs |\n", execPathNames[p], clients,
				medianOf(rs[p], func(i int) float64 { return rs[p][i].throughput }),
				medianOf(rs[p], func(i int) float64 { return rs[p][i].throughput / rs[pathDirect][i].throughput }),
				medianOf(rs[p], func(i int) float64 { return rs[p][i].throughput / rs[pathBare][i].throughput }),
				medianOf(rs[p], func(i int) float64 { return float64(rs[p][i].p50) / 1e3 }),
				medianOf(rs[p], func(i int) float64 { return float64(rs[p][i].p50-rs[pathDirect][i].p50) / 1e3 }),
				medianOf(rs[p], func(i int) float64 { return float64(rs[p][i].p50-rs[pathBare][i].p50) / 1e3 }),
				medianOf(rs[p], func(i int) float64 { return float64(rs[p][i].p99) / 1e3 }))
		}
		direct, bare, rest := rs[pathDirect], rs[pathBare], rs[pathREST]
		a := allocs{
			directClient: medianOf(direct, func(i int) float64 { return direct[i].client }),
			bareClient:   medianOf(bare, func(i int) float64 { return bare[i].client }),
			restClient:   medianOf(rest, func(i int) float64 { return rest[i].client }),
			bare:         medianOf(bare, func(i int) float64 { return bare[i].server }),
			engine:       medianOf(rest, func(i int) float64 { return rest[i].server }),
			own:          medianOf(rest, func(i int) float64 { return rest[i].server - bare[i].server }),
		}
		all[c] = a
		metrics = append(metrics,
			clusterMetric{medianOf(rest, func(i int) float64 { return rest[i].throughput / direct[i].throughput }), fmt.Sprintf("ratio-direct-c%d", clients)},
			clusterMetric{medianOf(rest, func(i int) float64 { return rest[i].throughput / bare[i].throughput }), fmt.Sprintf("ratio-bare-c%d", clients)},
			clusterMetric{medianOf(bare, func(i int) float64 { return bare[i].throughput / direct[i].throughput }), fmt.Sprintf("bare-ratio-c%d", clients)},
			clusterMetric{medianOf(direct, func(i int) float64 { return direct[i].throughput / rs[pathUnary][i].throughput }), fmt.Sprintf("stream-over-unary-c%d", clients)},
			clusterMetric{medianOf(rest, func(i int) float64 { return float64(rest[i].p50-bare[i].p50) / 1e3 }), fmt.Sprintf("p50-over-bare-us-c%d", clients)},
			clusterMetric{a.own, fmt.Sprintf("allocs-own-c%d", clients)},
			clusterMetric{a.engine, fmt.Sprintf("allocs-engine-c%d", clients)},
			clusterMetric{a.bare, fmt.Sprintf("allocs-bare-c%d", clients)},
		)
	}

	fmt.Fprintf(&sb, "\n| allocations per call (medians over the rounds) |")
	for _, clients := range execClients {
		if clients == 1 {
			sb.WriteString(" 1 client |")
		} else {
			fmt.Fprintf(&sb, " %d clients |", clients)
		}
	}
	fmt.Fprintf(&sb, "\n|---|%s\n", strings.Repeat("---|", len(execClients)))
	row := func(name string, v func(a allocs) float64) {
		fmt.Fprintf(&sb, "| %s |", name)
		for _, a := range all {
			fmt.Fprintf(&sb, " %.1f |", v(a))
		}
		sb.WriteString("\n")
	}
	row("client (benchmark process), direct gRPC", func(a allocs) float64 { return a.directClient })
	row("client (benchmark process), HTTP to the bare proxy", func(a allocs) float64 { return a.bareClient })
	row("client (benchmark process), HTTP to the engine", func(a allocs) float64 { return a.restClient })
	row("bare proxy process", func(a allocs) float64 { return a.bare })
	row("engine process", func(a allocs) float64 { return a.engine })
	row("**engine's own: engine − bare proxy (allocs-own)**", func(a allocs) float64 { return a.own })
	fmt.Fprintf(&sb, "\nEach process's count is the rise of its allocation counter (the engine's go_memstats_mallocs_total in GET /metrics, the bare proxy's runtime.MemStats.Mallocs) over a run, less what the two reads around the run cost it (engine %.0f, bare proxy %.0f) and its idle background rate times the run's length (engine %.0f/s, bare proxy %.0f/s; measured before the rounds), divided by the calls. Medians of per-round values, so the last row need not be the difference of the two above it.\n",
		counters[pathREST].pair, counters[pathBare].pair, counters[pathREST].rate, counters[pathBare].rate)

	fmt.Fprintf(&sb, "\n| CPU time per call, µs (medians over the rounds) |")
	for _, clients := range execClients {
		fmt.Fprintf(&sb, " %d client%s |", clients, map[bool]string{true: "s"}[clients > 1])
	}
	fmt.Fprintf(&sb, "\n|---|%s\n", strings.Repeat("---|", len(execClients)))
	cpuRow := func(name string, p int, v func(r execRun) float64) {
		fmt.Fprintf(&sb, "| %s |", name)
		for c := range execClients {
			rs := runs[c][p]
			fmt.Fprintf(&sb, " %.1f |", medianOf(rs, func(i int) float64 { return v(rs[i]) }))
		}
		sb.WriteString("\n")
	}
	cpuRow("bare proxy process", pathBare, func(r execRun) float64 { return r.cpu })
	cpuRow("its driver process", pathBare, func(r execRun) float64 { return r.drvCPU })
	cpuRow("engine process", pathREST, func(r execRun) float64 { return r.cpu })
	cpuRow("its driver process", pathREST, func(r execRun) float64 { return r.drvCPU })
	cpuRow("benchmark process (the clients), HTTP to the bare proxy", pathBare, func(r execRun) float64 { return r.self })
	cpuRow("benchmark process (the clients), HTTP to the engine", pathREST, func(r execRun) float64 { return r.self })
	cpuRow("the engine's Redis during the bare proxy's runs", pathBare, func(r execRun) float64 { return r.redis })
	cpuRow("the engine's Redis during the engine's runs", pathREST, func(r execRun) float64 { return r.redis })
	cpuRow("whole machine during the bare proxy's runs", pathBare, func(r execRun) float64 { return r.busy })
	cpuRow("whole machine during the engine's runs", pathREST, func(r execRun) float64 { return r.busy })
	cpuRow("machine idle during the bare proxy's runs, %", pathBare, func(r execRun) float64 { return 100 * r.idle })
	cpuRow("machine idle during the engine's runs, %", pathREST, func(r execRun) float64 { return 100 * r.idle })
	cpuRow("thread wake-ups per call: bare proxy process", pathBare, func(r execRun) float64 { return r.wakes })
	cpuRow("its driver process", pathBare, func(r execRun) float64 { return r.drvWakes })
	cpuRow("engine process", pathREST, func(r execRun) float64 { return r.wakes })
	cpuRow("its driver process", pathREST, func(r execRun) float64 { return r.drvWakes })
	for c, clients := range execClients {
		bare, rest := runs[c][pathBare], runs[c][pathREST]
		metrics = append(metrics, clusterMetric{medianOf(rest, func(i int) float64 { return rest[i].cpu - bare[i].cpu }), fmt.Sprintf("cpu-us-own-c%d", clients)})
	}
	sb.WriteString("\nCPU time is the scheduler's account of each process's threads (/proc/PID/task/*/schedstat) over a run, divided by its calls: it does not depend on how busy the rest of the machine is as throughput does, so it shows where the engine's extra cost is even on a shared machine. The benchmark process's rows are the clients' own CPU (the same HTTP client for both paths), the Redis rows show that an execute does not touch Redis. The whole machine's rows (client, proxy, driver and anything else running; /proc/stat, 10 ms ticks) and its idle share tell CPU cost from waiting: at 32 clients a path that leaves the CPUs idle more often is limited by latency, not work.\n")

	ownMax := slices.MaxFunc(all, func(a, z allocs) int { return cmp.Compare(a.own, z.own) }).own
	metrics = append(metrics, clusterMetric{ownMax, "allocs-own"})
	m := func(unit string) float64 {
		for _, x := range metrics {
			if x.unit == unit {
				return x.value
			}
		}
		return 0
	}
	fmt.Fprintf(&sb, "\nTargets (issue 13): REST execute ≥ 0.95× the bare proxy: at 1 client %s (%.2f×), at 32 %s (%.2f×); p50 within 25 µs of it: at 1 client %s (%+.0f µs), at 32 %s (%+.0f µs); at most 20 own allocations per call: %s (%.1f).\n",
		verdict(m("ratio-bare-c1") >= 0.95), m("ratio-bare-c1"), verdict(m("ratio-bare-c32") >= 0.95), m("ratio-bare-c32"),
		verdict(m("p50-over-bare-us-c1") <= 25), m("p50-over-bare-us-c1"), verdict(m("p50-over-bare-us-c32") <= 25), m("p50-over-bare-us-c32"),
		verdict(ownMax <= 20), ownMax)
	return sb.String(), metrics
}

// verdict says whether a target is met, for the tables.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// runPath measures one run of a path with the allocations over it: the benchmark process's
// (the client's) always, the proxy process's when the path has a counter.
func runPath(b *testing.B, name string, clients, calls int, call func() error, server *mallocCounter, redisPID int) execRun {
	b.Helper()
	runtime.GC() // every run starts from a collected heap in this process
	var s0 float64
	t0 := time.Now()
	var cpu0, drv0 sched
	if server != nil {
		s0 = server.read(b)
		cpu0, drv0 = server.sched()
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	self0, _ := testutil.Sched(os.Getpid())
	redis0, _ := testutil.Sched(redisPID)
	busy0, idle0 := machineCPU()
	r := measure(b, name, clients, calls, call)
	busy1, idle1 := machineCPU()
	self1, _ := testutil.Sched(os.Getpid())
	redis1, _ := testutil.Sched(redisPID)
	runtime.ReadMemStats(&ms1)
	out := execRun{result: r, client: float64(ms1.Mallocs-ms0.Mallocs) / float64(calls),
		busy: float64(busy1-busy0) / 1e3 / float64(calls),
		self: float64(self1-self0) / 1e3 / float64(calls), redis: float64(redis1-redis0) / 1e3 / float64(calls)}
	if all := busy1 - busy0 + idle1 - idle0; all > 0 {
		out.idle = float64(idle1-idle0) / float64(all)
	}
	if server != nil {
		cpu1, drv1 := server.sched()
		out.server = server.perCall(server.read(b)-s0, time.Since(t0), calls)
		out.cpu = float64(cpu1.cpu-cpu0.cpu) / 1e3 / float64(calls)
		out.drvCPU = float64(drv1.cpu-drv0.cpu) / 1e3 / float64(calls)
		out.wakes = float64(cpu1.runs-cpu0.runs) / float64(calls)
		out.drvWakes = float64(drv1.runs-drv0.runs) / float64(calls)
	}
	return out
}

// medianOf is the median of f(i) over the indexes of rs.
func medianOf[T any](rs []T, f func(i int) float64) float64 {
	v := make([]float64, len(rs))
	for i := range rs {
		v[i] = f(i)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// directEcho is echo([1]) through the go-plugin client, checked.
func directEcho(ctx context.Context, c *plugin.Client) error {
	resp, err := c.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-bench", Function: "echo", ArgsJson: []byte(execArgs)})
	if err != nil {
		return err
	}
	if string(resp.ResultJson) != execArgs {
		return fmt.Errorf("direct echo: %s", resp.ResultJson)
	}
	return nil
}

// unaryEcho is directEcho as one unary gRPC Exec, the driver call the Execs stream replaced.
func unaryEcho(ctx context.Context, c *plugin.Client) error {
	resp, err := c.DriverClient.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-bench", Function: "echo", ArgsJson: []byte(execArgs)})
	if err != nil {
		return err
	}
	if string(resp.ResultJson) != execArgs {
		return fmt.Errorf("unary echo: %s", resp.ResultJson)
	}
	return nil
}

// engineAnswerHeader is the header of one engine answer to a REST execute, less what net/http
// writes itself (Date, Content-Length): the bare proxy answers with it so that the client parses
// the same names and values from both.
func engineAnswerHeader(b *testing.B, client *http.Client, url string) http.Header {
	b.Helper()
	resp, err := client.Post(url, "application/json", strings.NewReader(execArgs))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("REST echo: %d", resp.StatusCode)
	}
	h := resp.Header.Clone()
	h.Del("Date")
	h.Del("Content-Length")
	return h
}

// mallocCounter reads one process's count of heap allocations (MemStats.Mallocs) and turns a
// rise over a run into allocations per call.
type mallocCounter struct {
	pid  int // the process, for its CPU time (and its driver process's: its children)
	read func(b *testing.B) float64
	pair float64 // what a read and the next cost the process between their counts
	rate float64 // the process's idle allocations per second
}

// calibrate measures what the reads cost (back-to-back pairs, median of 5) and the idle
// background rate (two reads 2 s apart, less a pair's cost).
func (m *mallocCounter) calibrate(b *testing.B) {
	b.Helper()
	pairs := make([]float64, 5)
	for i := range pairs {
		a := m.read(b)
		pairs[i] = m.read(b) - a
	}
	m.pair = medianOf(pairs, func(i int) float64 { return pairs[i] })
	t0 := time.Now()
	a := m.read(b)
	time.Sleep(2 * time.Second) // sampling a rate over time, not waiting for an event
	z := m.read(b)
	m.rate = max(0, (z-a-m.pair)/time.Since(t0).Seconds())
}

// sched is a process's CPU time and thread wake-ups so far (testutil.Sched).
type sched struct {
	cpu  time.Duration
	runs int64
}

// sched is the scheduler's account so far of the process and of its children (the driver).
func (m *mallocCounter) sched() (self, children sched) {
	self.cpu, self.runs = testutil.Sched(m.pid)
	for _, c := range testutil.Children(m.pid) {
		cpu, runs := testutil.Sched(c)
		children.cpu += cpu
		children.runs += runs
	}
	return self, children
}

// perCall is a rise over a run of calls that took d, corrected, per call.
func (m *mallocCounter) perCall(rise float64, d time.Duration, calls int) float64 {
	return (rise - m.pair - m.rate*d.Seconds()) / float64(calls)
}

// engineMallocs reads go_memstats_mallocs_total (which the Prometheus Go collector takes from the
// runtime as MemStats.Mallocs counts) from an engine's GET /metrics.
func engineMallocs(client *http.Client, url string, pid int) *mallocCounter {
	return &mallocCounter{pid: pid, read: func(b *testing.B) float64 {
		b.Helper()
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		v, found := 0.0, false
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "go_memstats_mallocs_total "); ok {
				if v, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
					b.Fatalf("engine /metrics: go_memstats_mallocs_total %q: %v", s, err)
				}
				found = true
			}
		}
		// Read to the end, so that the engine has finished the answer before a run begins.
		_, err = io.Copy(io.Discard, resp.Body)
		if err := errors.Join(sc.Err(), err); err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != 200 || !found {
			b.Fatalf("engine /metrics: %d, go_memstats_mallocs_total found: %v", resp.StatusCode, found)
		}
		return v
	}}
}

// The bare proxy's process: this test binary re-run as TestExecBenchBareProcess.
const (
	bareDriverEnv = "EXECBENCH_BARE_DRIVER" // the driver binary to launch
	bareHeaderEnv = "EXECBENCH_BARE_HEADER" // the header to answer REST calls with, as JSON
)

// bareProcess is the running bare proxy process.
type bareProcess struct {
	http    string // base URL of the bare REST proxy
	ws      string // URL of the bare WebSocket exec loop
	mallocs *mallocCounter
}

// TestExecBenchBareProcess is the bare proxy process of BenchmarkExecute and BenchmarkWSExec and
// does nothing in a normal test run. It launches the driver binary EXECBENCH_BARE_DRIVER
// through go-plugin as the engine does, starts mod-bench on it and serves on two loopback ports:
// the bare REST proxy (see BenchmarkExecute; every path calls echo on mod-bench with the body as
// the arguments and answers with the EXECBENCH_BARE_HEADER header and the result) and the bare
// WebSocket exec loop (see BenchmarkWSExec). It writes "addr HTTP WS" on stdout, then answers
// each "mallocs" line on stdin with "mallocs N" (runtime.MemStats.Mallocs); at the end of its
// input it closes both servers, stops the driver process and returns.
func TestExecBenchBareProcess(t *testing.T) {
	drv := os.Getenv(bareDriverEnv)
	if drv == "" {
		return // only the execute benchmarks run it, as their child
	}
	var header http.Header
	if err := json.Unmarshal([]byte(os.Getenv(bareHeaderEnv)), &header); err != nil {
		t.Fatalf("%s: %v", bareHeaderEnv, err)
	}
	pc := goplugin.NewClient(plugin.ClientConfig(exec.Command(drv), &proto.UnimplementedHostServer{},
		hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}), nil))
	defer pc.Kill()
	c, err := plugin.Connect(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(context.Background(), &proto.StartRequest{Module: &proto.Module{Id: "mod-bench", SettingsJson: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	rest := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: bareREST(c, header)}
	ws := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: bareWSExec(c)}
	var addrs []string
	for _, srv := range []*http.Server{rest, ws} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		go func() { _ = srv.Serve(ln) }()
		defer func() { _ = srv.Close() }() // hijacked WebSocket connections close with the process
	}
	fmt.Printf("addr %s %s\n", addrs[0], addrs[1])
	in := bufio.NewScanner(os.Stdin)
	var ms runtime.MemStats
	for in.Scan() {
		if in.Text() == "mallocs" {
			runtime.ReadMemStats(&ms)
			fmt.Printf("mallocs %d\n", ms.Mallocs)
		}
	}
}

// bareREST is the bare proxy's REST handler: read the body, call, answer.
func bareREST(c *plugin.Client, header http.Header) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		args, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := c.Exec(r.Context(), &proto.ExecRequest{ModuleId: "mod-bench", Function: "echo", ArgsJson: args})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		h := w.Header()
		for k, v := range header {
			h[k] = v // shared, never changed: no allocation
		}
		w.WriteHeader(int(resp.Code))
		_, _ = w.Write(resp.ResultJson)
	})
}

// startBare runs the bare proxy process with its own process of the driver binary drv; it
// answers REST calls with header. The process ends, its driver with it, when the benchmark does.
func startBare(b *testing.B, drv string, header http.Header) *bareProcess {
	b.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		b.Fatal(err)
	}
	c := startChild(b, "TestExecBenchBareProcess", bareDriverEnv+"="+drv, bareHeaderEnv+"="+string(h))
	addrs := strings.Fields(c.line(b, "addr "))
	if len(addrs) != 2 {
		b.Fatalf("bare proxy process: addresses %q", addrs)
	}
	p := &bareProcess{http: "http://" + addrs[0], ws: "ws://" + addrs[1] + "/"}
	p.mallocs = &mallocCounter{pid: c.cmd.Process.Pid, read: func(b *testing.B) float64 {
		b.Helper()
		if _, err := io.WriteString(c.stdin, "mallocs\n"); err != nil {
			b.Fatal(err)
		}
		v, err := strconv.ParseFloat(c.line(b, "mallocs "), 64)
		if err != nil {
			b.Fatal(err)
		}
		return v
	}}
	return p
}

// Settings of the engine under test, to compare runtime settings in one run of the benchmarks
// that use startEngine (execute, WebSocket exec): EXECBENCH_ENGINE_FLAGS are added to its
// command line and EXECBENCH_ENGINE_ENV (KEY=VALUE ...) to its environment only, e.g.
// EXECBENCH_ENGINE_ENV='GOGC=400 GOMAXPROCS=1'. Both are split on spaces.
const (
	engineFlagsEnv = "EXECBENCH_ENGINE_FLAGS"
	engineEnvEnv   = "EXECBENCH_ENGINE_ENV"
)

// startEngine runs the engine binary with one test-driver module in system sys-bench and returns
// the running engine.
func startEngine(b testing.TB, redisURL, drv string) *enginetest.Node {
	b.Helper()
	model := fmt.Sprintf(`
drivers: [{id: drv-bench, module_name: Test, role: service, binary: %q}]
modules: [{id: mod-bench, driver_id: drv-bench, running: true}]
systems: [{id: sys-bench, name: Bench, modules: [mod-bench]}]
`, drv)
	cfg := enginetest.Config{Redis: redisURL, LogLevel: "warn",
		Flags: strings.Fields(os.Getenv(engineFlagsEnv)), Env: strings.Fields(os.Getenv(engineEnvEnv))}
	if len(cfg.Flags)+len(cfg.Env) > 0 {
		b.Logf("engine started with flags %q, environment %q", cfg.Flags, cfg.Env)
	}
	return enginetest.StartEngine(b, cfg, "bench", model)
}

// startDirect launches the driver binary through go-plugin with no engine in between.
func startDirect(b testing.TB, drv string) *plugin.Client {
	b.Helper()
	pc := goplugin.NewClient(plugin.ClientConfig(exec.Command(drv), &proto.UnimplementedHostServer{},
		hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}), nil))
	b.Cleanup(pc.Kill)
	c, err := plugin.Connect(context.Background(), pc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Start(context.Background(), &proto.StartRequest{Module: &proto.Module{Id: "mod-bench", SettingsJson: []byte(`{}`)}}); err != nil {
		b.Fatal(err)
	}
	return c
}

// echoPost is one call of the benchmarks' HTTP load: POST the echo arguments to url and check the
// answer is them.
func echoPost(client *http.Client, what, url string) func() error {
	return func() error {
		resp, err := client.Post(url, "application/json", strings.NewReader(execArgs))
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 || string(body) != execArgs {
			return fmt.Errorf("%s echo: %d %s", what, resp.StatusCode, body)
		}
		return nil
	}
}

// machineCPU is the whole machine's busy and idle CPU time so far (the first line of /proc/stat,
// in USER_HZ ticks of 10 ms, returned in nanoseconds).
func machineCPU() (busy, idle time.Duration) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 {
			idle += time.Duration(n) * 10 * time.Millisecond
		} else {
			busy += time.Duration(n) * 10 * time.Millisecond
		}
	}
	return busy, idle
}
