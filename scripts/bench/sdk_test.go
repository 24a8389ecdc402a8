package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// The SDK benchmarks (issue 6): how many commands one module's queue pushes to a device that
// answers at once, and what an idle module costs its driver process.
//
//	go test -run '^$' -bench SDK -benchtime 20000x ./scripts/bench/

// qdrv pushes commands through its queue to the display simulator.
type qdrv struct {
	sdk.Base
	conn *sdk.TCP
}

func (d *qdrv) OnLoad(context.Context) error {
	d.conn = sdk.NewTCP(&d.Base, sdk.TCPOptions{Tokenizer: sdk.Delimiter("\r\n")})
	return nil
}

type burstArgs struct {
	N int `json:"n"`
	// Window is how many commands are queued at once; 1 is a caller waiting for each.
	Window int `json:"window"`
}

// Burst sends n commands through the queue, each answered by one line, keeping window of them
// queued, and returns how many succeeded.
func (d *qdrv) Burst(ctx context.Context, a burstArgs) (int, error) {
	q := d.Queue()
	ok := 0
	inflight := make([]*sdk.Task, 0, a.Window)
	wait := func(t *sdk.Task) error {
		if _, err := t.Wait(ctx); err != nil {
			return err
		}
		ok++
		return nil
	}
	for i := range a.N {
		if len(inflight) == a.Window {
			if err := wait(inflight[0]); err != nil {
				return ok, err
			}
			inflight = inflight[1:]
		}
		level := strconv.Itoa(i % 101)
		inflight = append(inflight, q.Add(sdk.Command{Data: []byte("VOLUME " + level + "\r\n"),
			Response: func(frame []byte, t *sdk.Task) { t.Success(nil) }}))
	}
	for _, t := range inflight {
		if err := wait(t); err != nil {
			return ok, err
		}
	}
	return ok, nil
}

// BenchmarkSDKQueueThroughput: one module, one TCP connection to the display simulator, every
// command waiting for its answer before the next is sent (the queue's rule). One benchmark
// iteration is one command; the exec carrying them is made once.
func BenchmarkSDKQueueThroughput(b *testing.B) {
	sim, err := displaysim.New("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sim.Start()
	b.Cleanup(func() { _ = sim.Close() })
	for _, window := range []int{1, 32} {
		b.Run(fmt.Sprintf("window-%d", window), func(b *testing.B) {
			h := sdktest.New(b, func() *qdrv { return &qdrv{} }, sdk.LogLevel(hclog.Warn))
			h.Start(sdktest.Module{Name: "Display", IP: "127.0.0.1", Port: sim.Port()})
			h.WaitStatus("connected", true)
			old := sdktest.Timeout
			sdktest.Timeout = 10 * time.Minute // one exec carries every command
			defer func() { sdktest.Timeout = old }()
			b.ResetTimer()
			start := time.Now()
			r := h.Exec("burst", b.N, window)
			elapsed := time.Since(start)
			b.StopTimer()
			if r.Err != nil || string(r.Value) != strconv.Itoa(b.N) {
				b.Fatalf("burst: %s", r)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cmds/s")
		})
	}
}

// idleModules is how many modules the memory benchmarks start.
const idleModules = 1000

// BenchmarkSDKIdleModuleProcessRSS starts 1000 display modules, each connected to the
// simulator and idle, in one real driver process (as the supervisor launches it) and reports
// the growth of the process's resident set per module. The process is measured after one
// module has run, so code pages and the runtime's start-up cost are not counted.
func BenchmarkSDKIdleModuleProcessRSS(b *testing.B) {
	perModule := measureOnce(b, "rss", func() float64 { return processRSSPerModule(b) })
	b.ReportMetric(perModule, "KiB/module")
}

// BenchmarkSDKIdleModuleHeap is the same in-process through the harness, counting the Go heap
// and goroutine stacks in use after a GC (what the modules hold, without the allocator's
// slack that RSS includes).
func BenchmarkSDKIdleModuleHeap(b *testing.B) {
	perModule := measureOnce(b, "heap", func() float64 { return heapPerModule(b) })
	b.ReportMetric(perModule, "KiB/module")
}

var measured sync.Map

// measureOnce runs a measurement once per process: the benchmark framework calls a benchmark
// more than once (b.N = 1 first) and 1000 modules per call would only repeat the same number.
func measureOnce(b *testing.B, key string, f func() float64) float64 {
	if v, ok := measured.Load(key); ok {
		return v.(float64)
	}
	v := f()
	measured.Store(key, v)
	b.Logf("%s: %.1f KiB per idle module (%d modules)", key, v, idleModules)
	return v
}

// startSimProcess runs the display simulator as its own process, so its side of the 1000
// connections is not counted with the modules, and returns its port.
func startSimProcess(b *testing.B) int {
	bin := testutil.BuildBinary(b, "./examples/sims/display")
	cmd := exec.Command(bin, "--addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	// "display simulator listening on 127.0.0.1:PORT"
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil {
		b.Fatalf("display simulator: %v", err)
	}
	_, portText, _ := strings.Cut(strings.TrimSpace(line), "127.0.0.1:")
	port, err := strconv.Atoi(portText)
	if err != nil {
		b.Fatalf("display simulator said %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	return port
}

func displayModule(i, port int) *proto.Module {
	return &proto.Module{Id: fmt.Sprintf("mod-%04d", i), Name: "Display", Role: "device", Ip: "127.0.0.1",
		Port: int32(port), SettingsJson: []byte(`{}`)}
}

// startModules starts modules from..to-1 and waits until each has connected and read the
// display's state (its volume status), so every one is idle when measured.
func startModules(b *testing.B, host *sdktest.Host, start func(context.Context, *proto.StartRequest) error, from, to, port int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := from; i < to; i++ {
		if err := start(ctx, &proto.StartRequest{Module: displayModule(i, port)}); err != nil {
			b.Fatal(err)
		}
	}
	for i := from; i < to; i++ {
		if err := host.WaitStatus(ctx, fmt.Sprintf("mod-%04d", i), "volume", 30); err != nil {
			b.Fatal(err)
		}
	}
}

func processRSSPerModule(b *testing.B) float64 {
	bin := testutil.BuildBinary(b, "./examples/drivers/display")
	port := startSimProcess(b)
	host := sdktest.NewHost()
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Warn, Output: os.Stderr})
	cmd := exec.Command(bin)
	client := goplugin.NewClient(plugin.ClientConfig(cmd, host, logger, nil))
	b.Cleanup(client.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drv, err := plugin.Connect(ctx, client)
	if err != nil {
		b.Fatal(err)
	}
	// Terminate first, as the supervisor does: killing the host side under 1000 running
	// modules would have every one of them log that its statuses cannot be delivered.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = drv.Terminate(ctx, &proto.Empty{})
		for !client.Exited() && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond) // polling go-plugin's exit flag
		}
	})
	start := func(ctx context.Context, r *proto.StartRequest) error { _, err := drv.Start(ctx, r); return err }
	startModules(b, host, start, 0, 1, port)
	pid := cmd.Process.Pid
	before := settledRSS(b, pid)
	startModules(b, host, start, 1, 1+idleModules, port)
	after := settledRSS(b, pid)
	b.Logf("driver process RSS: %d KiB with 1 module, %d KiB with %d", before, after, 1+idleModules)
	return float64(after-before) / idleModules
}

// settledRSS reads VmRSS (KiB) once it stops moving: connections finish opening and the
// runtime's background work settles within a few hundred milliseconds.
func settledRSS(b *testing.B, pid int) int {
	prev := -1
	for range 50 {
		cur := vmRSS(b, pid)
		if cur == prev {
			return cur
		}
		prev = cur
		time.Sleep(100 * time.Millisecond) // sampling a value over time, not waiting for an event
	}
	return prev
}

func vmRSS(b *testing.B, pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				b.Fatalf("VmRSS %q: %v", v, err)
			}
			return n
		}
	}
	b.Fatal("no VmRSS in /proc status")
	return 0
}

// display is the example display driver's shape reduced to what an idle module holds: the
// example itself is a main package and cannot be imported.
type display struct {
	sdk.Base
	conn *sdk.TCP
}

func (d *display) OnLoad(context.Context) error {
	d.conn = sdk.NewTCP(&d.Base, sdk.TCPOptions{Tokenizer: sdk.Delimiter("\r\n"), OnConnect: d.query})
	return nil
}

func (d *display) query(ctx context.Context, c *sdk.TCP) {
	if resp, err := c.Request(ctx, []byte("STATUS?\r\n")); err == nil {
		for _, kv := range strings.Fields(strings.TrimPrefix(string(resp), "STATUS ")) {
			if v, ok := strings.CutPrefix(kv, "VOLUME="); ok {
				n, _ := strconv.Atoi(v)
				d.Set("volume", n)
			}
		}
	}
}

func heapPerModule(b *testing.B) float64 {
	port := startSimProcess(b)
	h := sdktest.New(b, func() *display { return &display{} }, sdk.LogLevel(hclog.Warn))
	start := func(ctx context.Context, r *proto.StartRequest) error { _, err := h.Client.Start(ctx, r); return err }
	startModules(b, h.Host, start, 0, 1, port)
	before := inUse()
	startModules(b, h.Host, start, 1, 1+idleModules, port)
	after := inUse()
	b.Logf("heap+stacks: %d KiB with 1 module, %d KiB with %d (the fake host's side included)", before>>10, after>>10, 1+idleModules)
	return float64(after-before) / 1024 / idleModules
}

func inUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
