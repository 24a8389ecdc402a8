package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// floodModel: a raw driver that floods statuses (testdriver: no SDK coalescing, the worst case)
// and a healthy module of a driver of its own (the same program copied, so another process).
func floodModel(flood, healthy string) string {
	return fmt.Sprintf(`
drivers:
  - {id: drv-flood, module_name: Flood, role: service, binary: %q}
  - {id: drv-healthy, module_name: Healthy, role: service, binary: %q}
modules:
  - {id: mod-flood, driver_id: drv-flood, running: true}
  - {id: mod-healthy, driver_id: drv-healthy, running: true}
systems:
  - {id: sys-flood, name: Flood, modules: [mod-flood, mod-healthy]}
`, flood, healthy)
}

// cpuSeconds is the CPU time (user + system) process pid has used.
func cpuSeconds(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// floodPhase is one measured phase: the healthy module's execute latencies and the engine's CPU.
type floodPhase struct {
	p99, p50  time.Duration
	cpu       float64 // engine CPU seconds per second
	writesSec float64 // status writes per second the flooding driver made (0 without a flood)
}

// runFloodPhase calls the healthy module calls times from one client, with a status flood from
// the other module running meanwhile when flood is set.
func runFloodPhase(b *testing.B, e *enginetest.Node, calls int, flood bool) floodPhase {
	var writes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Batches of 40 (5 per writer): writes are counted when their call returns, and
				// a paced batch must return several times within a phase to be counted fairly.
				r, err := e.Request(context.Background(), http.MethodPost, "/api/engine/v2/modules/mod-flood/exec/flood", `["level", 40, 8]`, time.Minute)
				if err != nil || r.Status != 200 {
					b.Errorf("flood: %v %d %s", err, r.Status, r.Body)
					return
				}
				writes.Add(40)
			}
		}()
		// Let the flood get going before measuring.
		for writes.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	pid := e.PID()
	cpu0, began := cpuSeconds(b, pid), time.Now()
	w0 := writes.Load()
	lat := make([]time.Duration, 0, calls)
	for range calls {
		t0 := time.Now()
		if _, err := execEcho(e, "mod-healthy", 10*time.Second); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	took := time.Since(began).Seconds()
	ph := floodPhase{cpu: (cpuSeconds(b, pid) - cpu0) / took, writesSec: float64(writes.Load()-w0) / took}
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	ph.p50, ph.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	return ph
}

// BenchmarkStatusFlood: a healthy module's execute p99 (1 client) while a raw driver floods
// statuses as fast as the host answers, against the same without the flood, on an engine with
// the default status rate (200/s per module) and on one with the rate off; with the engine's
// CPU seconds per second in each phase. Rounds alternate quiet and flood phases; medians. The
// flooding driver runs 8 writers at once, each on a status of its own.
func BenchmarkStatusFlood(b *testing.B) {
	const rounds, calls = 5, 2000
	redis := testutil.StartRedis(b)
	flood := testutil.BuildBinary(b, "./internal/testdriver")
	healthy := filepath.Join(b.TempDir(), "healthydriver")
	raw, err := os.ReadFile(flood)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(healthy, raw, 0o700); err != nil {
		b.Fatal(err)
	}
	type result struct{ quiet, flooded []floodPhase }
	measure := func(name string, flags ...string) result {
		e := enginetest.StartEngine(b, enginetest.Config{Redis: redis.URL}, name, floodModel(flood, healthy), flags...)
		defer e.Stop()
		for range 200 { // warm up
			if _, err := execEcho(e, "mod-healthy", 10*time.Second); err != nil {
				b.Fatal(err)
			}
		}
		var r result
		for range rounds {
			r.quiet = append(r.quiet, runFloodPhase(b, e, calls, false))
			r.flooded = append(r.flooded, runFloodPhase(b, e, calls, true))
		}
		return r
	}
	capped := measure("flood-capped")
	uncapped := measure("flood-uncapped", "--driver-status-rate", "off")

	med := func(ps []floodPhase, f func(floodPhase) float64) float64 {
		return medianOf(ps, func(i int) float64 { return f(ps[i]) })
	}
	p99 := func(p floodPhase) float64 { return float64(p.p99.Microseconds()) }
	p50 := func(p floodPhase) float64 { return float64(p.p50.Microseconds()) }
	cpu := func(p floodPhase) float64 { return p.cpu }
	wps := func(p floodPhase) float64 { return p.writesSec }

	fmt.Printf("\n%d rounds, each %d executes of the healthy module (1 client) without and then with a status flood from a raw driver (testdriver: every write a gRPC call, no SDK coalescing); medians over the rounds. CPU is the engine process's (user + system) per second of the phase.\n\n", rounds, calls)
	fmt.Println("| engine | phase | p50 | p99 | p99 × quiet | engine CPU s/s | flood writes/s |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, row := range []struct {
		name string
		r    result
	}{{"--driver-status-rate 200/s (default)", capped}, {"--driver-status-rate off", uncapped}} {
		q, f := row.r.quiet, row.r.flooded
		fmt.Printf("| %s | quiet | %.0f µs | %.0f µs | 1.00× | %.2f | — |\n", row.name, med(q, p50), med(q, p99), med(q, cpu))
		fmt.Printf("| %s | flood | %.0f µs | %.0f µs | %.2f× | %.2f | %.0f |\n", row.name, med(f, p50), med(f, p99), med(f, p99)/med(q, p99), med(f, cpu), med(f, wps))
	}
	fmt.Println()
	b.ReportMetric(med(capped.flooded, p99)/med(capped.quiet, p99), "p99-ratio")
	b.ReportMetric(med(capped.flooded, p50)/med(capped.quiet, p50), "p50-ratio")
	b.ReportMetric(med(uncapped.flooded, p50)/med(uncapped.quiet, p50), "p50-ratio-uncapped")
	b.ReportMetric(med(uncapped.flooded, p99)/med(uncapped.quiet, p99), "p99-ratio-uncapped")
	b.ReportMetric(med(capped.flooded, cpu), "cpu-s/s-flood")
	b.ReportMetric(med(uncapped.flooded, cpu), "cpu-s/s-flood-uncapped")
	b.ReportMetric(med(capped.quiet, cpu), "cpu-s/s-quiet")
	b.ReportMetric(med(capped.flooded, wps), "flood-writes/s")
	b.ReportMetric(med(uncapped.flooded, wps), "flood-writes/s-uncapped")
}
