package bench

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// The runtime-settings benchmark (issue 13):
//
//	go test -run '^$' -bench '^BenchmarkExecuteSettings$' -benchtime 1x -timeout 15m ./scripts/bench/
//
// BenchmarkExecuteSettings makes BenchmarkExecute's REST execute on several engines at once, one
// per runtime setting, and on the bare proxy, interleaved as BenchmarkExecute interleaves its
// paths (the order rotates every round), at 1 and 32 clients: it is how the engine's runtime
// defaults (--gc-percent, --memory-limit, --gomaxprocs, --driver-gomaxprocs, auto) are chosen, measured side by side on
// one machine rather than in runs minutes apart, whose load differs more than the settings do.
// Each engine has its own Redis and its own process of the test driver.
//
// EXECBENCH_SETTINGS lists the settings, separated by ";": each is flags of engine serve and
// KEY=VALUE environment variables of its process, separated by spaces; the first is the
// baseline the others are compared with. EXECBENCH_CALLS (3000) and EXECBENCH_ROUNDS (5) as in
// BenchmarkExecute. Metrics per setting i (0 is the baseline): ratio-bare-c1-sI, ratio-bare-c32-sI
// (÷ the bare proxy), vs-base-c1-sI, vs-base-c32-sI (÷ the baseline) and rss-MiB-sI (the engine's
// resident memory after the rounds).
func BenchmarkExecuteSettings(b *testing.B) {
	runOnce(b, measureSettings)
}

// defaultSettings are the settings compared when EXECBENCH_SETTINGS is not set: Go's defaults
// (GOMAXPROCS = the machine's 2 CPUs for the engine and its driver), the engine's auto, then each
// choice auto makes or could make on a small machine, alone and together.
const defaultSettings = "--gc-percent=100 --memory-limit=off --gomaxprocs=2 --driver-gomaxprocs=2;" +
	"--gc-percent=auto --memory-limit=auto --gomaxprocs=auto --driver-gomaxprocs=auto;" +
	"--gc-percent=100 --memory-limit=off --gomaxprocs=1 --driver-gomaxprocs=2;" +
	"--gc-percent=100 --memory-limit=off --gomaxprocs=2 --driver-gomaxprocs=1;" +
	"--gc-percent=400 --memory-limit=off --gomaxprocs=1 --driver-gomaxprocs=1"

func measureSettings(b *testing.B) (string, []clusterMetric) {
	calls := wsbEnvInt("EXECBENCH_CALLS", 3000)
	rounds := wsbEnvInt("EXECBENCH_ROUNDS", 5)
	spec := os.Getenv("EXECBENCH_SETTINGS")
	if spec == "" {
		spec = defaultSettings
	}
	var settings []string
	for _, s := range strings.Split(spec, ";") {
		if s = strings.TrimSpace(s); s != "" {
			settings = append(settings, s)
		}
	}
	drv := testutil.BuildBinary(b, "./internal/testdriver")
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	b.Cleanup(httpClient.CloseIdleConnections)

	// Path 0 is the bare proxy, path 1+i the engine with settings[i].
	names := []string{"bare proxy (net/http → gRPC)"}
	var calls0 []func() error
	var engines []*enginetest.Node
	for i, s := range settings {
		var flags, env []string
		for _, f := range strings.Fields(s) {
			if strings.HasPrefix(f, "-") {
				flags = append(flags, f)
			} else {
				env = append(env, f)
			}
		}
		model := fmt.Sprintf(`
drivers: [{id: drv-bench, module_name: Test, role: service, binary: %q}]
modules: [{id: mod-bench, driver_id: drv-bench, running: true}]
systems: [{id: sys-bench, name: Bench, modules: [mod-bench]}]
`, drv)
		redis := testutil.StartRedis(b)
		n := enginetest.StartEngine(b, enginetest.Config{Redis: redis.URL, LogLevel: "warn", Flags: flags, Env: env},
			fmt.Sprintf("settings-%d", i), model)
		engines = append(engines, n)
		names = append(names, "engine "+s)
	}
	bare := startBare(b, drv, engineAnswerHeader(b, httpClient, engines[0].Base+execPath))
	calls0 = append(calls0, echoPost(httpClient, "bare proxy", bare.http+execPath))
	for _, n := range engines {
		calls0 = append(calls0, echoPost(httpClient, "engine", n.Base+execPath))
	}
	for range 200 {
		for _, call := range calls0 {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
	}
	for p, call := range calls0 {
		measure(b, names[p], 32, 1000, call)
	}
	clients := []int{1, 32}
	runs := make([][][]execRun, len(clients)) // [client count][path][round]
	for c := range clients {
		runs[c] = make([][]execRun, len(calls0))
	}
	for r := range rounds {
		for c, n := range clients {
			for k := range calls0 {
				p := (r + k) % len(calls0)
				runs[c][p] = append(runs[c][p], runPath(b, names[p], n, calls, calls0[p], nil, 0))
			}
		}
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d rounds × %d calls per path and client count, interleaved (the order rotates every round); medians over the rounds. Setting 0 is the baseline; every engine has its own Redis and driver process.\n\n", rounds, calls)
	fmt.Fprintf(&sb, "| setting | clients | calls/s | × bare proxy | × setting 0 | p50 | p50 over bare | p99 |\n|---|---|---|---|---|---|---|---|\n")
	var metrics []clusterMetric
	for c, n := range clients {
		rs := runs[c]
		for p := range calls0 {
			label := "bare proxy"
			if p > 0 {
				label = fmt.Sprintf("%d: `%s`", p-1, settings[p-1])
			}
			ratioBare := medianOf(rs[p], func(i int) float64 { return rs[p][i].throughput / rs[0][i].throughput })
			ratioBase := medianOf(rs[p], func(i int) float64 { return rs[p][i].throughput / rs[1][i].throughput })
			fmt.Fprintf(&sb, "| %s | %d | %.0f | %.2f× | %s | %.0f µs | %+.0f µs | %.0f µs |\n", label, n,
				medianOf(rs[p], func(i int) float64 { return rs[p][i].throughput }), ratioBare,
				map[bool]string{true: "—", false: fmt.Sprintf("%.2f×", ratioBase)}[p == 0],
				medianOf(rs[p], func(i int) float64 { return float64(rs[p][i].p50) / 1e3 }),
				medianOf(rs[p], func(i int) float64 { return float64(rs[p][i].p50-rs[0][i].p50) / 1e3 }),
				medianOf(rs[p], func(i int) float64 { return float64(rs[p][i].p99) / 1e3 }))
			if p > 0 {
				metrics = append(metrics,
					clusterMetric{ratioBare, fmt.Sprintf("ratio-bare-c%d-s%d", n, p-1)},
					clusterMetric{ratioBase, fmt.Sprintf("vs-base-c%d-s%d", n, p-1)})
			}
		}
	}
	fmt.Fprintf(&sb, "\n| setting | engine RSS after the rounds |\n|---|---|\n")
	for i, n := range engines {
		rss := float64(vmRSS(b, n.PID())) / 1024
		fmt.Fprintf(&sb, "| %d: `%s` | %.1f MiB |\n", i, settings[i], rss)
		metrics = append(metrics, clusterMetric{rss, fmt.Sprintf("rss-MiB-s%d", i)})
	}
	return sb.String(), metrics
}
