package bench

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/placement"
)

// The cluster benchmarks run real `engine serve` processes (3 or 4 nodes on loopback, one real
// Redis, the test driver) and measure what an operator feels: failover, recovery of a dead
// node's modules, how many modules a membership change moves, and the cost of reaching a module
// through a node that does not host it. Each measures once per process (see runOnce), prints a
// markdown table and reports its numbers as metrics. Run them with:
//
//	go test -run '^$' -bench Cluster -benchtime 1x ./scripts/bench/

// leaderKillRounds is how many times the leader is killed; the median is reported.
const leaderKillRounds = 5

// nodeKillRounds is how many times a follower is killed.
const nodeKillRounds = 3

// pollEvery is the polling period of the GET /cluster observers; it bounds the resolution of the
// timings.
const pollEvery = 5 * time.Millisecond

// sweepEvery is the pause between two sweeps of executes over a dead node's modules.
const sweepEvery = 20 * time.Millisecond

// BenchmarkClusterLeaderKill SIGKILLs the leader of a 3-node cluster and measures the time until
// a new leader is visible in GET /api/engine/v2/cluster on the first and on both survivors, and
// (for context) until the survivors report the cluster ready again with the dead node down,
// which includes the failure detector's down period. The killed node is restarted from its data
// dir and the cluster left to heal between rounds.
func BenchmarkClusterLeaderKill(b *testing.B) {
	runOnce(b, func(b *testing.B) (string, []clusterMetric) {
		c := startBenchCluster(b, 3, "lk")
		var first, all, ready []time.Duration
		for range leaderKillRounds {
			old := c.Leader()
			survivors := others(c, old)
			at := time.Now()
			drivers := old.Kill()
			seen := make([]time.Duration, len(survivors))
			readyAt := make([]time.Duration, len(survivors))
			var probes []probe
			for i, n := range survivors {
				probes = append(probes, probe{pollEvery, func() bool {
					ci, err := n.InfoWithin(200 * time.Millisecond)
					if err == nil && ci.Leader != "" && ci.Leader != old.ID && seen[i] == 0 {
						seen[i] = time.Since(at)
					}
					if err == nil && seen[i] > 0 && ci.Ready && ci.Up() == 2 && ci.State(old.ID) == "down" {
						readyAt[i] = time.Since(at)
						return true
					}
					return false
				}})
			}
			observe(c.Eventually, 30*time.Second, "both survivors see a new leader and the cluster ready", probes...)
			testutil.WaitGone(b, drivers...)
			first = append(first, slices.Min(seen))
			all = append(all, slices.Max(seen))
			ready = append(ready, slices.Max(readyAt))
			old.Start()
			c.WaitHealthy(3)
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "\n| leader kill (SIGKILL), %d rounds | median | min | max | target |\n|---|---|---|---|---|\n", leaderKillRounds)
		row := func(name string, ds []time.Duration, target string) {
			fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |\n", name, ms(median(ds)), ms(slices.Min(ds)), ms(slices.Max(ds)), target)
		}
		row("new leader seen by one survivor", first, "")
		row("new leader seen by both survivors", all, "median <= 1000 ms")
		row("cluster ready again, dead node down", ready, "")
		return sb.String(), []clusterMetric{
			{float64(median(all).Milliseconds()), "ms-leader-median"},
			{float64(slices.Max(all).Milliseconds()), "ms-leader-max"},
			{float64(median(ready).Milliseconds()), "ms-ready-median"},
		}
	})
}

// BenchmarkClusterNodeKill SIGKILLs a follower of a 3-node cluster and measures the time until
// every module that ran on it answers an execute through each survivor. It also records when a
// survivor's GET /cluster first shows the node down (the leader's failure detector, 2 s by
// default) and which answers the callers got in the meantime. The node is restarted between
// rounds.
func BenchmarkClusterNodeKill(b *testing.B) {
	runOnce(b, func(b *testing.B) (string, []clusterMetric) {
		c := startBenchCluster(b, 3, "nk")
		var down, answered, medianModule []time.Duration
		var lost []int
		failures := map[string]int{}
		examples := map[string]string{}
		var mu sync.Mutex
		for round := range nodeKillRounds {
			place := c.WaitHealthy(3)
			// Take followers in turn, so that every round starts from a healthy leader.
			followers := others(c, c.Leader())
			victim := followers[round%len(followers)]
			var modules []string
			for m, n := range place {
				if n == victim.ID {
					modules = append(modules, m)
				}
			}
			slices.Sort(modules)
			lost = append(lost, len(modules))
			survivors := others(c, victim)

			at := time.Now()
			drivers := victim.Kill()
			var downAt time.Duration
			perModule := map[string]time.Duration{} // latest first answer over the survivors
			probes := []probe{{pollEvery, func() bool {
				ci, err := survivors[0].InfoWithin(200 * time.Millisecond)
				if err == nil && ci.State(victim.ID) == "down" {
					downAt = time.Since(at)
					return true
				}
				return false
			}}}
			// One sweeper per survivor walks the modules still unanswered through it, pausing
			// between sweeps so that the callers do not starve the cluster's own recovery of CPU;
			// the pause plus a sweep (a few ms of fast failures) bounds the resolution.
			for _, n := range survivors {
				pending := slices.Clone(modules)
				probes = append(probes, probe{sweepEvery, func() bool {
					pending = slices.DeleteFunc(pending, func(m string) bool {
						code, err := execEcho(n, m, time.Second)
						d := time.Since(at)
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							kind := failureKind(code, err)
							if failures[kind] == 0 {
								examples[kind] = err.Error()
							}
							failures[kind]++
							return false
						}
						perModule[m] = max(perModule[m], d)
						return true
					})
					return len(pending) == 0
				}})
			}
			observe(c.Eventually, 30*time.Second, "a survivor showing "+victim.ID+" down and every module of it answering through both survivors", probes...)
			testutil.WaitGone(b, drivers...)
			times := slices.Collect(maps.Values(perModule))
			down = append(down, downAt)
			answered = append(answered, slices.Max(times))
			medianModule = append(medianModule, median(times))
			victim.Start()
		}
		c.WaitHealthy(3)

		var sb strings.Builder
		fmt.Fprintf(&sb, "\n| follower kill (SIGKILL), %d rounds, %d modules in all | median | min | max | target |\n|---|---|---|---|---|\n", nodeKillRounds, benchModules)
		row := func(name string, ds []time.Duration, target string) {
			fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |\n", name, ms(median(ds)), ms(slices.Min(ds)), ms(slices.Max(ds)), target)
		}
		row("node shown down in GET /cluster", down, "")
		row("median module of the dead node answering again", medianModule, "median <= 1000 ms")
		row("every module of the dead node answering through both survivors", answered, "median <= 1500 ms")
		keys := make([]string, 0, len(failures))
		for k := range failures {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var fs []string
		for _, k := range keys {
			fs = append(fs, fmt.Sprintf("%s ×%d", k, failures[k]))
		}
		fmt.Fprintf(&sb, "\nModules on the killed node per round: %v. Answers while they were away: %s.\n", lost, strings.Join(fs, ", "))
		for _, k := range keys {
			fmt.Fprintf(&sb, "\n- first %s: `%s`", k, strings.TrimSpace(examples[k]))
		}
		sb.WriteString("\n")
		return sb.String(), []clusterMetric{
			{float64(median(answered).Milliseconds()), "ms-answering-median"},
			{float64(median(medianModule).Milliseconds()), "ms-module-median"},
			{float64(slices.Max(answered).Milliseconds()), "ms-answering-max"},
			{float64(median(down).Milliseconds()), "ms-down-median"},
		}
	})
}

// failureKind names what a caller got from a failed execute: an HTTP status or a transport error.
func failureKind(code int, err error) string {
	if code != 0 {
		return fmt.Sprintf("HTTP %d", code)
	}
	if strings.Contains(err.Error(), "deadline") || strings.Contains(err.Error(), "Timeout") {
		return "client timeout"
	}
	return "transport error"
}

// BenchmarkClusterMovement measures the share of modules that change node when a 4th node joins
// a 3-node cluster (ideal 1/4), when it leaves again (ideal 1/4, and placement should return to
// what it was) and when one of the remaining 3 leaves (ideal 1/3), from the modules actually
// loaded on each node, as a ratio to the ideal. With benchModules keys the ratio also carries
// sampling noise, so the table adds what placement's ring predicts for the same node names, and
// the mean over every choice of leaving node.
func BenchmarkClusterMovement(b *testing.B) {
	runOnce(b, func(b *testing.B) (string, []clusterMetric) {
		c := startBenchCluster(b, 3, "mv")
		ids := benchModuleIDs()
		three := []string{c.Nodes[0].ID, c.Nodes[1].ID, c.Nodes[2].ID}
		p3 := c.WaitHealthy(3)
		checkRing(b, p3, three)

		began := time.Now()
		fourth := c.Join()
		p4, joinTook := healthyAfter(c, 4, began)
		four := append(slices.Clone(three), fourth.ID)
		checkRing(b, p4, four)

		began = time.Now()
		fourth.Stop()
		p3again, leave4Took := healthyAfter(c, 3, began)

		// The bootstrap node usually leads, so its leave also exercises leadership transfer.
		leaver := c.Nodes[0]
		began = time.Now()
		leaver.Stop()
		p2, leave3Took := healthyAfter(c, 2, began)
		two := []string{three[1], three[2]}
		checkRing(b, p2, two)

		join := shareMoved(p3, p4) / (1.0 / 4)
		back := shareMoved(p4, p3again) / (1.0 / 4)
		leave := shareMoved(p3again, p2) / (1.0 / 3)
		ringJoin := ringMoved(ids, three, four) / (1.0 / 4)
		// A leaver moves exactly the modules it held, so which node leaves decides the ratio;
		// the ring's prediction for every choice shows the spread.
		var ringLeaves []string
		for i, id := range three {
			r := ringMoved(ids, three, slices.Delete(slices.Clone(three), i, i+1)) / (1.0 / 3)
			ringLeaves = append(ringLeaves, fmt.Sprintf("%s %.2f×", id, r))
		}
		ringLeave := ringMoved(ids, three, two) / (1.0 / 3)
		var sb strings.Builder
		fmt.Fprintf(&sb, "\n| membership change, %d modules | moved (measured) | × ideal | ring prediction × ideal | until healthy | target |\n|---|---|---|---|---|---|\n", benchModules)
		fmt.Fprintf(&sb, "| 4th node joins 3 (ideal 1/4) | %.3f | %.2f× | %.2f× | %s | <= 1.3× |\n", shareMoved(p3, p4), join, ringJoin, ms(joinTook))
		fmt.Fprintf(&sb, "| the 4th leaves again (ideal 1/4) | %.3f | %.2f× | %.2f× | %s | |\n", shareMoved(p4, p3again), back, ringJoin, ms(leave4Took))
		fmt.Fprintf(&sb, "| %s leaves 3 (ideal 1/3) | %.3f | %.2f× | %.2f× (by leaver: %s) | %s | <= 1.3× |\n",
			leaver.ID, shareMoved(p3again, p2), leave, ringLeave, strings.Join(ringLeaves, ", "), ms(leave3Took))
		fmt.Fprintf(&sb, "\nPlacement after the 4th node left equals the placement before it joined: %v.\n", shareMoved(p3, p3again) == 0)
		return sb.String(), []clusterMetric{
			{join, "join-x-ideal"},
			{leave, "leave-x-ideal"},
			{back, "unjoin-x-ideal"},
		}
	})
}

// healthyAfter waits until c is healthy with up nodes, checking every 10 ms, and returns the
// placement and the time from began to the first healthy check.
func healthyAfter(c *enginetest.Cluster, up int, began time.Time) (map[string]string, time.Duration) {
	var place map[string]string
	var took time.Duration
	observe(c.Eventually, enginetest.HealthyWithin, fmt.Sprintf("%d nodes healthy", up), probe{10 * time.Millisecond, func() bool {
		p, ok := c.Healthy(up)
		if ok {
			place, took = p, time.Since(began)
		}
		return ok
	}})
	return place, took
}

// checkRing fails the benchmark unless the modules run where placement's ring over nodes puts
// them: the measured movement is then the ring's, not an artefact of a half-done rebalance.
func checkRing(b *testing.B, place map[string]string, nodes []string) {
	b.Helper()
	ring := placement.New(nodes)
	for m, n := range place {
		if want := ring.Owner(m); want != n {
			b.Fatalf("module %s runs on %s, the ring over %v says %s", m, n, nodes, want)
		}
	}
}

func ringMoved(ids, from, to []string) float64 {
	a, z := placement.New(from), placement.New(to)
	moved := 0
	for _, id := range ids {
		if a.Owner(id) != z.Owner(id) {
			moved++
		}
	}
	return float64(moved) / float64(len(ids))
}

// BenchmarkClusterExecuteNonOwner compares execute by module id sent to the node that hosts the
// module (the baseline) with the same execute sent to a node that does not, which forwards it
// over the exec protocol of the cluster port (package peer), and with the same execute sent
// through the bare forwarder (forwarder_test.go), the floor of one more HTTP hop in front of the
// owner, and through the bare relay, the floor of one more process. Clients spread their calls over the owner's modules; runs alternate the three paths so
// that machine noise hits them alike, and the best run of each is compared. Each run also records the CPU time every process spent per
// call (from /proc: user + system), which shows what the extra hop costs and where. With
// CLUSTERBENCH_PPROF=<dir> the engines serve pprof, and CPU profiles of the owner and the
// non-owner under 16 clients of each path are written to dir (go tool pprof -top dir/<file>).
func BenchmarkClusterExecuteNonOwner(b *testing.B) {
	runOnce(b, func(b *testing.B) (string, []clusterMetric) {
		profiles := os.Getenv("CLUSTERBENCH_PPROF")
		var flags []string
		if profiles != "" {
			flags = []string{"--pprof-addr", "127.0.0.1:0"}
		}
		c := startBenchCluster(b, 3, "ex", flags...)
		place := c.WaitHealthy(3)
		owner := c.Nodes[0]
		other := c.Nodes[1]
		var mods []string
		for m, n := range place {
			if n == owner.ID {
				mods = append(mods, m)
			}
		}
		slices.Sort(mods)
		var k sync.Mutex
		next := 0
		nextModule := func() string {
			k.Lock()
			defer k.Unlock()
			next++
			return mods[next%len(mods)]
		}
		callThrough := func(n *enginetest.Node) func() error {
			return func() error {
				_, err := execEcho(n, nextModule(), 10*time.Second)
				return err
			}
		}
		atOwner, viaOther := callThrough(owner), callThrough(other)
		fwd := startForwarder(b, owner, other)
		viaForwarder := func() error { return echoAt(fwd.base, nextModule(), 10*time.Second) }
		relay := startRelay(b, owner, other)
		viaRelay := func() error { return echoAt(relay.base, nextModule(), 10*time.Second) }
		for range 300 {
			for _, call := range []func() error{atOwner, viaOther, viaForwarder, viaRelay} {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		}
		procs := []cpuProc{{"client", os.Getpid()}, {"owner", owner.PID()}, {"non-owner", other.PID()}}
		for _, d := range testutil.Children(owner.PID()) {
			procs = append(procs, cpuProc{"driver", d})
		}
		fwdProcs := slices.Clone(procs)
		fwdProcs[2] = cpuProc{"forwarder", fwd.pid}
		relayProcs := slices.Clone(procs)
		relayProcs[2] = cpuProc{"relay", relay.pid}
		var sb strings.Builder
		fmt.Fprintf(&sb, "\n| execute by module id | clients | throughput ratio | calls/s | p50 | p99 | CPU µs per call: client, owner, non-owner, forwarder or relay, driver | target |\n|---|---|---|---|---|---|---|---|\n")
		var metrics []clusterMetric
		for _, clients := range []int{1, 16, 32} {
			calls := 1500 * clients / min(clients, 4)
			var base, via, bare, relayed []cpuResult
			for range nonOwnerRounds {
				base = append(base, measureCPU(b, procs, "at the owner", clients, calls, atOwner))
				via = append(via, measureCPU(b, procs, "through a non-owner", clients, calls, viaOther))
				bare = append(bare, measureCPU(b, fwdProcs, "through the bare forwarder", clients, calls, viaForwarder))
				relayed = append(relayed, measureCPU(b, relayProcs, "through the bare relay", clients, calls, viaRelay))
			}
			bt, vt, ft, rt := bestOfCPU(base), bestOfCPU(via), bestOfCPU(bare), bestOfCPU(relayed)
			for _, r := range []struct {
				r      cpuResult
				target string
			}{{bt, "baseline"}, {vt, fmt.Sprintf(">= 0.75× (issue 13); %.2f× the bare forwarder, %.2f× the bare relay", vt.throughput/ft.throughput, vt.throughput/rt.throughput)}, {ft, "floor of one more HTTP hop"}, {rt, "floor of one more process"}} {
				fmt.Fprintf(&sb, "| %s | %d | %.2f× | %.0f | %d µs | %d µs | %s | %s |\n", r.r.name, clients,
					r.r.throughput/bt.throughput, r.r.throughput, r.r.p50.Microseconds(), r.r.p99.Microseconds(), r.r.cpuText(), r.target)
			}
			metrics = append(metrics,
				clusterMetric{vt.throughput / bt.throughput, fmt.Sprintf("ratio-c%d", clients)},
				clusterMetric{ft.throughput / bt.throughput, fmt.Sprintf("ratio-fwd-c%d", clients)},
				clusterMetric{rt.throughput / bt.throughput, fmt.Sprintf("ratio-relay-c%d", clients)})
		}
		fmt.Fprintf(&sb, "\nOwner %s hosts %d modules; all processes (3 engines, their drivers, Redis, the clients, the bare forwarder and relay) share this machine's %d CPUs. Best of %d interleaved runs each. The bare forwarder (with the non-owner's GOMAXPROCS) is a plain net/http handler that sends each request on to the owner's client API with a keep-alive net/http client: one HTTP hop, nothing else. The bare relay (the same GOMAXPROCS) copies the bytes of each client connection to a connection of its own to the owner's client API and back, parsing nothing: the least one more process in the path can cost.\n",
			owner.ID, len(mods), runtime.NumCPU(), nonOwnerRounds)
		if profiles != "" {
			for _, path := range []struct {
				name string
				call func() error
			}{{"via-non-owner", viaOther}, {"at-owner", atOwner}} {
				profileWhile(b, profiles, path.name, []*enginetest.Node{owner, other}, func() {
					measure(b, path.name, 16, 40000, path.call)
				})
			}
		}
		return sb.String(), metrics
	})
}

// profileWhile writes a CPU profile of each node, taken while load runs, to dir/<what>-<node>.pprof.
func profileWhile(b *testing.B, dir, what string, nodes []*enginetest.Node, load func()) {
	b.Helper()
	pprofAt := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/debug/pprof/`)
	var wg sync.WaitGroup
	for _, n := range nodes {
		m := pprofAt.FindStringSubmatch(n.Logs().String())
		if m == nil {
			b.Fatalf("%s logged no pprof address", n.ID)
		}
		wg.Go(func() {
			resp, err := http.Get("http://" + m[1] + "/debug/pprof/profile?seconds=5")
			if err != nil {
				b.Error(err)
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, what+"-"+n.ID+".pprof"), data, 0o644)
			}
			if err != nil {
				b.Error(err)
			}
		})
	}
	load() // about as long as the profiles: 40000 calls take 4–6 s here
	wg.Wait()
}

// nonOwnerRounds is how many runs of each path BenchmarkClusterExecuteNonOwner makes per client
// count, alternating.
const nonOwnerRounds = 3

// cpuProc is a process whose CPU time a run records.
type cpuProc struct {
	name string
	pid  int
}

// cpuResult is a run and the CPU time each process spent per call in it.
type cpuResult struct {
	result
	procs   []cpuProc
	perCall []time.Duration
}

// measureCPU is measure, with the CPU time of procs over the run.
func measureCPU(b *testing.B, procs []cpuProc, name string, clients, calls int, call func() error) cpuResult {
	b.Helper()
	before := make([]time.Duration, len(procs))
	for i, p := range procs {
		before[i] = cpuTime(b, p.pid)
	}
	r := cpuResult{result: measure(b, name, clients, calls, call), procs: procs, perCall: make([]time.Duration, len(procs))}
	for i, p := range procs {
		r.perCall[i] = (cpuTime(b, p.pid) - before[i]) / time.Duration(calls)
	}
	return r
}

// cpuText is the CPU per call of each process, the drivers' summed.
func (r cpuResult) cpuText() string {
	var parts []string
	var drivers time.Duration
	for i, p := range r.procs {
		if p.name == "driver" {
			drivers += r.perCall[i]
			continue
		}
		parts = append(parts, strconv.FormatInt(r.perCall[i].Microseconds(), 10))
	}
	return strings.Join(append(parts, strconv.FormatInt(drivers.Microseconds(), 10)), ", ")
}

// cpuTime is the user and system CPU time process pid has used (/proc/<pid>/stat, in clock
// ticks of 10 ms).
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatalf("CPU time of %d: %v", pid, err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("CPU time of %d: %q", pid, s)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// bestOfCPU is the run with the highest throughput: the least disturbed by the rest of the
// machine.
func bestOfCPU(rs []cpuResult) cpuResult {
	return slices.MaxFunc(rs, func(a, z cpuResult) int { return cmp.Compare(a.throughput, z.throughput) })
}
