package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/placeos-go/engine/core"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

// The start-up benchmark (issue 7, "1000 modules start-up and memory"):
//
//	go test -run '^$' -bench Startup -benchtime 1x ./scripts/bench/
//
// BenchmarkStartup1000Modules starts one `engine serve` node whose model holds 1000 test-driver
// modules in one system and measures, from the process start, the time to GET
// /api/core/v1/ready answering 200, to GET /api/core/v1/status listing all 1000 running, and
// to every module having answered an echo through REST. It then reads the engine's and the
// driver process's resident set. The baseline, in the same run, is the same driver binary
// launched through a go-plugin client with no engine, the same 1000 modules started on it
// with the engine's start parallelism, and each answering a direct gRPC echo. A second engine
// with one module separates the engine's own footprint from what the 1000 modules add.

// startupModules is how many modules the start-up benchmark runs.
const startupModules = 1000

// startupParallel is the engine's default bound on modules starting at once (core.Config
// Parallel); the baseline starts its modules with the same bound so that only the engine's
// own work differs.
const startupParallel = core.DefaultParallel

// startupClients is how many callers sweep the modules with echo calls, on both sides.
const startupClients = 8

// startupRun is what one start-up measured, engine or baseline.
type startupRun struct {
	ready    time.Duration // engine only: GET /ready == 200
	started  time.Duration // every module started (engine: all running in GET /status)
	answered time.Duration // every module answered an echo
	// phase is the module starts alone: from the driver process being up (go-plugin handshake
	// done) to the last module started, without the engine's Raft bootstrap and election.
	phase     time.Duration
	engineRSS int // KiB, settled; 0 for the baseline
	driverRSS int // KiB, settled
}

// startupPollEvery is how often the start-up polls ask; it bounds the timings' resolution.
const startupPollEvery = 10 * time.Millisecond

// startupHTTP serves the status polls and the echo sweep; 8 sweeping callers keep their
// connections.
var startupHTTP = &http.Client{Timeout: 10 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 2 * startupClients, MaxConnsPerHost: 2 * startupClients}}

func startupModuleID(i int) string { return fmt.Sprintf("mod-%04d", i) }

// BenchmarkStartup1000Modules measures once per process (see runOnce) and prints one table:
// engine against direct go-plugin, with 1000 modules and with one.
func BenchmarkStartup1000Modules(b *testing.B) {
	runOnce(b, func(b *testing.B) (string, []clusterMetric) {
		redis := testutil.StartRedis(b)
		drv := testutil.BuildBinary(b, "./internal/testdriver")

		direct1 := startupDirect(b, drv, 1)
		direct := startupDirect(b, drv, startupModules)
		// Each engine gets its own Redis database, so the second does not find the first's
		// lookups and statuses.
		engine1 := startupEngine(b, drv, strings.TrimSuffix(redis.URL, "/0")+"/1", 1)
		engine := startupEngine(b, drv, strings.TrimSuffix(redis.URL, "/0")+"/2", startupModules)

		perModule := func(n, one int) float64 { return float64(n-one) / float64(startupModules-1) }
		ratio := func(e, d float64) string {
			if d == 0 {
				return "—"
			}
			return fmt.Sprintf("%.2f×", e/d)
		}
		dur := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
		mib := func(k int) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }
		var sb strings.Builder
		fmt.Fprintf(&sb, "\n| %d modules, one driver process | engine vs direct | engine | direct go-plugin |\n|---|---|---|---|\n", startupModules)
		row := func(name, r, e, d string) { fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", name, r, e, d) }
		row("process start → ready (GET /ready 200)", "—", dur(engine.ready), "—")
		row("process start → all modules started", ratio(engine.started.Seconds(), direct.started.Seconds()), dur(engine.started), dur(direct.started))
		row("process start → all modules answered an echo", ratio(engine.answered.Seconds(), direct.answered.Seconds()), dur(engine.answered), dur(direct.answered))
		row("the same with 1 module: process start → started", ratio(engine1.started.Seconds(), direct1.started.Seconds()), dur(engine1.started), dur(direct1.started))
		row("driver process up → all modules started", ratio(engine.phase.Seconds(), direct.phase.Seconds()), dur(engine.phase), dur(direct.phase))
		row("driver process RSS", ratio(float64(engine.driverRSS), float64(direct.driverRSS)), mib(engine.driverRSS), mib(direct.driverRSS))
		engDrvPer, dirDrvPer := perModule(engine.driverRSS, engine1.driverRSS), perModule(direct.driverRSS, direct1.driverRSS)
		row("driver process RSS per module (vs 1 module)", ratio(engDrvPer, dirDrvPer),
			fmt.Sprintf("%.1f KiB", engDrvPer), fmt.Sprintf("%.1f KiB", dirDrvPer))
		row("engine process RSS", "—", mib(engine.engineRSS), "—")
		engPer := perModule(engine.engineRSS, engine1.engineRSS)
		row("engine process RSS per module (vs 1 module)", "—", fmt.Sprintf("%.1f KiB", engPer), "—")
		row("the same with 1 module: driver process RSS", ratio(float64(engine1.driverRSS), float64(direct1.driverRSS)), mib(engine1.driverRSS), mib(direct1.driverRSS))
		row("the same with 1 module: engine process RSS", "—", mib(engine1.engineRSS), "—")
		return sb.String(), []clusterMetric{
			{engine.started.Seconds() / direct.started.Seconds(), "started-ratio"},
			{float64(engine.ready.Milliseconds()), "ms-ready"},
			{float64(engine.started.Milliseconds()), "ms-started"},
			{float64(engine.answered.Milliseconds()), "ms-answered"},
			{float64(direct.started.Milliseconds()), "ms-direct-started"},
			{engine.phase.Seconds() / direct.phase.Seconds(), "phase-ratio"},
			{float64(engine.phase.Milliseconds()), "ms-phase"},
			{float64(direct.phase.Milliseconds()), "ms-direct-phase"},
			{float64(engine.engineRSS) / 1024, "MiB-engine-rss"},
			{float64(engine.driverRSS) / 1024, "MiB-driver-rss"},
			{float64(direct.driverRSS) / 1024, "MiB-direct-driver-rss"},
			{engPer, "KiB-engine/module"},
		}
	})
}

// startupEngine runs `engine serve` with n test-driver modules in one system, measures it, and
// stops it (waiting for its driver process to be gone) before returning.
func startupEngine(b *testing.B, drv, redisURL string, n int) startupRun {
	b.Helper()
	var model strings.Builder
	fmt.Fprintf(&model, "drivers: [{id: drv-bench, module_name: Test, role: service, binary: %q}]\nmodules:\n", drv)
	ids := make([]string, n)
	for i := range n {
		ids[i] = startupModuleID(i)
		fmt.Fprintf(&model, "  - {id: %s, driver_id: drv-bench, running: true}\n", ids[i])
	}
	fmt.Fprintf(&model, "systems: [{id: sys-bench, name: Bench, modules: [%s]}]\n", strings.Join(ids, ", "))
	modelPath := enginetest.WriteModel(b, model.String())
	cfg := enginetest.Config{Redis: redisURL, Client: startupHTTP, Timeout: 10 * time.Second,
		LogLevel: "info", Flags: []string{"--log-format", "json"}} // info for the start phase's timestamps
	e := enginetest.NewNode(b, cfg, fmt.Sprintf("startup-%d", n))
	e.Raft = "127.0.0.1:0"
	fail := func(format string, args ...any) {
		b.Helper()
		b.Fatalf("engine with %d modules: %s", n, fmt.Sprintf(format, args...)) // the harness logs the engine's log tail
	}
	var r startupRun
	var pollErr error

	var status struct {
		Modules []struct {
			ID      string `json:"id"`
			Running bool   `json:"running"`
			Error   string `json:"error"`
		} `json:"modules"`
	}
	began := time.Now()
	e.Start("--bootstrap", "--model", modelPath)
	// One probe, first until GET /ready answers 200, then until GET /status lists every module
	// running: each timing is as fine as the polling.
	observe(e.Eventually, 60*time.Second, fmt.Sprintf("ready with %d modules running", n), probe{startupPollEvery, func() bool {
		if r.ready == 0 {
			if !e.Ready() {
				return false
			}
			r.ready = time.Since(began)
		}
		if pollErr = e.GetJSON("/api/core/v1/status", &status); pollErr != nil {
			return true
		}
		running := 0
		for _, m := range status.Modules {
			if m.Error != "" {
				pollErr = fmt.Errorf("module %s: %s", m.ID, m.Error)
				return true
			}
			if m.Running {
				running++
			}
		}
		if running != n {
			return false
		}
		r.started = time.Since(began)
		return true
	}})
	if pollErr != nil {
		fail("%v", pollErr)
	}

	// The sweep starts once the wait has seen the probe done; counting from the probe's own
	// timing leaves the wait's polling out.
	sweepBegan := time.Now()
	err := startupSweep(n, func(i int) error {
		resp, err := e.Request(context.Background(), http.MethodPost, "/api/engine/v2/modules/"+startupModuleID(i)+"/exec/echo", `[1]`, 10*time.Second)
		if err != nil {
			return err
		}
		if resp.Status != http.StatusOK || resp.Body != "[1]" {
			return fmt.Errorf("echo on %s: %d %s", startupModuleID(i), resp.Status, resp.Body)
		}
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
	r.answered = r.started + time.Since(sweepBegan)

	var ds struct {
		PID             int `json:"pid"`
		ModuleInstances int `json:"module_instances"`
	}
	if err := e.GetJSON("/api/core/v1/status/driver?path="+drv, &ds); err != nil {
		fail("driver status: %v", err)
	}
	if ds.PID <= 0 || ds.ModuleInstances != n {
		fail("driver status: pid %d with %d modules, want %d", ds.PID, ds.ModuleInstances, n)
	}
	if r.phase, err = startupPhase(e.Logs().String(), n); err != nil {
		fail("%v", err)
	}
	r.engineRSS = settledRSS(b, e.PID())
	r.driverRSS = settledRSS(b, ds.PID)
	b.Logf("engine with %d modules: ready %v, all running %v, all answered %v, engine RSS %d KiB, driver RSS %d KiB",
		n, r.ready, r.started, r.answered, r.engineRSS, r.driverRSS)

	// Stop now rather than at the end of the benchmark: the next engine should not share the
	// two cores with this one's idle work. Stop waits for the driver process to be gone.
	e.Stop()
	return r
}

// startupDirect launches the driver binary through go-plugin, starts n modules on it with the
// engine's parallelism, has each answer an echo, measures the process and kills it.
func startupDirect(b *testing.B, drv string, n int) startupRun {
	b.Helper()
	began := time.Now()
	cmd := exec.Command(drv)
	pc := goplugin.NewClient(plugin.ClientConfig(cmd, &proto.UnimplementedHostServer{},
		hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}), nil))
	b.Cleanup(pc.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := plugin.Connect(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	connected := time.Since(began)
	err = startupSweepN(n, startupParallel, func(i int) error {
		_, err := c.Start(ctx, &proto.StartRequest{Module: &proto.Module{Id: startupModuleID(i), Name: "Test", Role: "service", SettingsJson: []byte(`{}`)}})
		return err
	})
	if err != nil {
		b.Fatalf("direct start: %v", err)
	}
	var r startupRun
	r.started = time.Since(began)
	r.phase = r.started - connected
	err = startupSweep(n, func(i int) error {
		resp, err := c.Exec(ctx, &proto.ExecRequest{ModuleId: startupModuleID(i), Function: "echo", ArgsJson: []byte(`[1]`)})
		if err != nil {
			return err
		}
		if string(resp.ResultJson) != "[1]" {
			return fmt.Errorf("direct echo on %s: %s", startupModuleID(i), resp.ResultJson)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	r.answered = time.Since(began)
	pid := cmd.Process.Pid
	r.driverRSS = settledRSS(b, pid)
	b.Logf("direct go-plugin with %d modules: all started %v, all answered %v, driver RSS %d KiB", n, r.started, r.answered, r.driverRSS)
	pc.Kill()
	testutil.WaitGone(b, pid)
	return r
}

// startupPhase reads the engine's JSON log: from "driver process started" to the last of the n
// "module started" lines.
func startupPhase(log string, n int) (time.Duration, error) {
	var up, last time.Time
	started := 0
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Time    string `json:"@timestamp"`
			Message string `json:"@message"`
		}
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil {
			return 0, fmt.Errorf("log timestamp %q: %w", l.Time, err)
		}
		switch l.Message {
		case "driver process started":
			if up.IsZero() {
				up = at
			}
		case "module started":
			started++
			if at.After(last) {
				last = at
			}
		}
	}
	if up.IsZero() || started != n {
		return 0, fmt.Errorf("engine log: driver process started %v, %d of %d modules started", !up.IsZero(), started, n)
	}
	return last.Sub(up), nil
}

// startupSweep calls f for 0..n-1 from startupClients goroutines and returns the first error.
func startupSweep(n int, f func(i int) error) error { return startupSweepN(n, startupClients, f) }

func startupSweepN(n, workers int, f func(i int) error) error {
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := i >= n || first != nil
				mu.Unlock()
				if stop {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}
