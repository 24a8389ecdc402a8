package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// Driver isolation (issue 18):
//
//	go test -run '^$' -bench Isolation -benchtime 1x ./scripts/bench/
//
// BenchmarkIsolationLogFlood runs one engine (logging at info, as in production) with a healthy
// module and measures, for isolationPhase each, with one client calling the healthy module
// back to back: the call's p99 and the engine process's CPU (cores, from /proc) — first alone
// (the baseline), then while a module of another driver floods its log with hclog lines as fast
// as it can, then while one floods plain stderr lines. The engine keeps each module to 100 lines
// a second (bursts of 500) and drops the rest; before that (issue 18) a log flood cost a full
// core and took the healthy p99 from 2.5 to 11.6 ms.

const (
	isolationPhase  = 2 * time.Second
	isolationRounds = 3 // phases interleaved, medians reported: the machine's load moves between them
)

type isolationPhaseResult struct {
	p99       time.Duration
	cpu       float64 // engine cores used
	driverCPU float64 // cores used by the flooding driver's process
	calls     int
}

func BenchmarkIsolationLogFlood(b *testing.B) {
	runOnce(b, func(b *testing.B) (string, []clusterMetric) {
		redis := testutil.StartRedis(b)
		healthy := testutil.BuildBinary(b, "./internal/testdriver")
		bad := testutil.BuildBinary(b, "./internal/baddriver")
		n := enginetest.StartEngine(b, enginetest.Config{Redis: redis.URL, LogLevel: "info"}, "bench", fmt.Sprintf(`
drivers:
  - {id: drv-test, module_name: Test, role: service, binary: %q}
  - {id: drv-bad, module_name: Bad, role: service, binary: %q}
modules:
  - {id: mod-test, driver_id: drv-test, running: true}
  - {id: mod-log, driver_id: drv-bad, running: false, settings: {mode: log_flood}}
  - {id: mod-stderr, driver_id: drv-bad, running: false, settings: {mode: stderr_flood}}
`, healthy, bad))
		flood := func(mod string) isolationPhaseResult {
			if r := n.Do("POST", "/api/engine/v2/modules/"+mod+"/start", ""); r.Status != 200 {
				b.Fatalf("start %s: %d %s", mod, r.Status, r.Body)
			}
			n.WaitLog(30*time.Second, "driver log lines dropped") // the first flood: over the limit
			measureIsolationPhase(b, n, 0, isolationPhase/4)      // the flood under way
			r := measureIsolationPhase(b, n, n.DriverPID(bad), isolationPhase)
			if r := n.Do("POST", "/api/engine/v2/modules/"+mod+"/stop", ""); r.Status != 200 {
				b.Fatalf("stop %s: %d %s", mod, r.Status, r.Body)
			}
			return r
		}
		var base, logs, plain []isolationPhaseResult
		for range isolationRounds {
			base = append(base, measureIsolationPhase(b, n, 0, isolationPhase))
			logs = append(logs, flood("mod-log"))
			plain = append(plain, flood("mod-stderr"))
		}
		p99 := func(rs []isolationPhaseResult) float64 {
			return medianOf(rs, func(i int) float64 { return float64(rs[i].p99.Microseconds()) / 1e3 })
		}
		cpu := func(rs []isolationPhaseResult) float64 { return medianOf(rs, func(i int) float64 { return rs[i].cpu }) }
		// Each round's ratio against the baseline of the same round, the median of those.
		p99Ratio := func(rs []isolationPhaseResult) float64 {
			return medianOf(rs, func(i int) float64 { return float64(rs[i].p99) / float64(base[i].p99) })
		}
		cpuRatio := func(rs []isolationPhaseResult) float64 {
			return medianOf(rs, func(i int) float64 { return rs[i].cpu / max(base[i].cpu, 1e-9) })
		}
		table := fmt.Sprintf("\n| phase (median of %d rounds) | healthy p99 | p99 vs baseline | engine CPU (cores) | CPU vs baseline | flooding driver CPU (cores) |\n|---|---|---|---|---|---|\n", isolationRounds)
		for _, row := range []struct {
			name string
			rs   []isolationPhaseResult
		}{{"baseline", base}, {"hclog line flood", logs}, {"plain stderr flood", plain}} {
			table += fmt.Sprintf("| %s | %.2f ms | %.2f× | %.3f | %.2f× | %.3f |\n", row.name, p99(row.rs), p99Ratio(row.rs),
				cpu(row.rs), cpuRatio(row.rs), medianOf(row.rs, func(i int) float64 { return row.rs[i].driverCPU }))
		}
		return table + "\n", []clusterMetric{
			{p99(base), "p99-ms-baseline"},
			{p99(logs), "p99-ms-logflood"},
			{p99(plain), "p99-ms-stderrflood"},
			{p99Ratio(logs), "p99-ratio-logflood"},
			{p99Ratio(plain), "p99-ratio-stderrflood"},
			{cpu(base), "cpu-cores-baseline"},
			{cpu(logs), "cpu-cores-logflood"},
			{cpu(plain), "cpu-cores-stderrflood"},
			{cpuRatio(logs), "cpu-ratio-logflood"},
			{cpuRatio(plain), "cpu-ratio-stderrflood"},
		}
	})
}

// measureIsolationPhase calls the healthy module back to back for d and returns the
// p99 and the CPU of the engine and of process driver (0: none) over the same time d.
func measureIsolationPhase(b *testing.B, n *enginetest.Node, driver int, d time.Duration) isolationPhaseResult {
	b.Helper()
	var d0 int64
	if driver > 0 {
		d0 = cpuTicks(b, driver)
	}
	cpu0, t0 := cpuTicks(b, n.PID()), time.Now()
	var lat []time.Duration
	for time.Since(t0) < d {
		began := time.Now()
		if r := n.Do("POST", "/api/engine/v2/modules/mod-test/exec/echo", `[1]`); r.Status != 200 {
			b.Fatalf("healthy call: %d %s", r.Status, r.Body)
		}
		lat = append(lat, time.Since(began))
	}
	elapsed := time.Since(t0).Seconds()
	cores := func(ticks int64) float64 { return float64(ticks) / 100 / elapsed } // USER_HZ is 100 on Linux
	r := isolationPhaseResult{cpu: cores(cpuTicks(b, n.PID()) - cpu0), calls: len(lat)}
	if driver > 0 {
		r.driverCPU = cores(cpuTicks(b, driver) - d0)
	}
	slices.Sort(lat)
	r.p99 = lat[len(lat)*99/100]
	return r
}

// cpuTicks is the user+system CPU time of pid in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	u, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	s, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return u + s
}
