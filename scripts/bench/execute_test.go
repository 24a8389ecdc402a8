package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
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

// BenchmarkExecute compares REST execute through a running engine with a direct go-plugin gRPC
// call to the same driver function, at 1 and 32 concurrent clients. The number of calls per
// configuration is b.N (use -benchtime 5000x for stable numbers).
func BenchmarkExecute(b *testing.B) {
	redis := testutil.StartRedis(b)
	drv := testutil.BuildBinary(b, "./internal/testdriver")
	base := startEngine(b, redis.URL, drv)
	direct := startDirect(b, drv)

	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	rest := func() error {
		resp, err := httpClient.Post(base+"/api/engine/v2/systems/sys-bench/Test_1/echo", "application/json", strings.NewReader(`[1]`))
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 || string(body) != "[1]" {
			return fmt.Errorf("REST echo: %d %s", resp.StatusCode, body)
		}
		return nil
	}
	grpcCall := func() error {
		resp, err := direct.Exec(context.Background(), &proto.ExecRequest{ModuleId: "mod-bench", Function: "echo", ArgsJson: []byte(`[1]`)})
		if err != nil {
			return err
		}
		if string(resp.ResultJson) != "[1]" {
			return fmt.Errorf("direct echo: %s", resp.ResultJson)
		}
		return nil
	}
	// Warm both paths (connections, caches) before measuring.
	for range 200 {
		if err := rest(); err != nil {
			b.Fatal(err)
		}
		if err := grpcCall(); err != nil {
			b.Fatal(err)
		}
	}

	n := max(b.N, 1000)
	var rows []result
	for _, clients := range []int{1, 32} {
		// Interleave so that machine noise hits both sides alike.
		rows = append(rows,
			measure(b, "direct go-plugin gRPC", clients, n, grpcCall),
			measure(b, "REST execute", clients, n, rest))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| path | clients | throughput ratio | p50 over baseline | calls/s | p50 | p99 |\n|---|---|---|---|---|---|---|\n")
	for i := 0; i < len(rows); i += 2 {
		base, r := rows[i], rows[i+1]
		for _, x := range []result{base, r} {
			fmt.Fprintf(&sb, "| %s | %d | %.2f× | %+d µs | %.0f | %d µs | %d µs |\n", x.name, x.clients,
				x.throughput/base.throughput, (x.p50 - base.p50).Microseconds(), x.throughput, x.p50.Microseconds(), x.p99.Microseconds())
		}
		b.ReportMetric(r.throughput/base.throughput, fmt.Sprintf("ratio-c%d", r.clients))
	}
	fmt.Print(sb.String())
}

// startEngine runs the engine binary with one test-driver module in system sys-bench and returns
// its base URL.
func startEngine(b *testing.B, redisURL, drv string) string {
	b.Helper()
	model := fmt.Sprintf(`
drivers: [{id: drv-bench, module_name: Test, role: service, binary: %q}]
modules: [{id: mod-bench, driver_id: drv-bench, running: true}]
systems: [{id: sys-bench, name: Bench, modules: [mod-bench]}]
`, drv)
	return enginetest.StartEngine(b, enginetest.Config{Redis: redisURL, LogLevel: "warn"}, "bench", model).Base
}

// startDirect launches the driver binary through go-plugin with no engine in between.
func startDirect(b *testing.B, drv string) *plugin.Client {
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
