package supervisor

import (
	"context"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
	pb "github.com/placeos-go/engine/plugin/proto"
)

// BenchmarkKillToAnswer measures how long a module is unavailable after its (stable) driver
// process is SIGKILLed: from the kill to the first successful call. It reports the median as
// ms/recovery; the ns/op figure includes the untimed waits and means nothing.
func BenchmarkKillToAnswer(b *testing.B) {
	const stable = 50 * time.Millisecond
	f := newFixture(b, Config{StableAfter: stable})
	f.start(b, testModule("mod-a", `{}`))
	var samples []time.Duration
	for b.Loop() {
		b.StopTimer()
		// Let the process count as stable, so each kill is a first crash, not a crash loop.
		time.Sleep(stable + 10*time.Millisecond)
		pid := f.pid(b)
		b.StartTimer()

		began := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := f.execErr(ctx, "mod-a", "pid")
			cancel()
			if err == nil && resp.Error == nil && string(resp.ResultJson) != strconv.Itoa(pid) {
				break
			}
			if time.Since(began) > 10*time.Second {
				b.Fatalf("module not answering 10s after the kill: %v", err)
			}
		}
		samples = append(samples, time.Since(began))
		b.StopTimer()
		testutil.WaitGone(b, pid)
		b.StartTimer()
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "ms/recovery")
}

// BenchmarkKillToAnswerUnderLoad is BenchmarkKillToAnswer while 32 clients call the driver's 8
// modules in a loop (issue 13: crash recovery under load). Each round SIGKILLs the process and
// times, from the kill, until every module has answered from the new process. It reports the
// median and p99 of that over the rounds (ms/recovery-p50, ms/recovery-p99), how many calls failed
// during the rounds (failed-calls/kill) and the longest any failed call took to fail
// (ms/slowest-failure): calls caught by a crash must fail fast, not hang.
func BenchmarkKillToAnswerUnderLoad(b *testing.B) {
	const (
		stable  = 50 * time.Millisecond
		clients = 32
		modules = 8
	)
	f := newFixture(b, Config{StableAfter: stable})
	ids := make([]string, modules)
	for i := range ids {
		ids[i] = "mod-" + strconv.Itoa(i)
		f.start(b, testModule(ids[i], `{}`))
	}
	var (
		mu       sync.Mutex
		pid      int                   // the process being killed this round (0: between rounds)
		answered = map[string]bool{}   // modules that answered from a new process since the kill
		allBack  = make(chan struct{}) // closed when every module has answered this round
		failed   int
		slowest  time.Duration
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mod := ids[i%modules]
				began := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := f.execErr(ctx, mod, "pid")
				cancel()
				took := time.Since(began)
				mu.Lock()
				switch {
				case err != nil || resp.Error != nil:
					if pid != 0 {
						failed++
						slowest = max(slowest, took)
					}
				case pid != 0 && string(resp.ResultJson) != strconv.Itoa(pid) && !answered[mod]:
					answered[mod] = true
					if len(answered) == modules {
						close(allBack)
					}
				}
				mu.Unlock()
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	var samples []time.Duration
	for b.Loop() {
		b.StopTimer()
		time.Sleep(stable + 10*time.Millisecond) // a first crash each time, not a crash loop
		victim := f.pid(b)
		mu.Lock()
		pid, answered, allBack = victim, map[string]bool{}, make(chan struct{})
		back := allBack
		mu.Unlock()
		b.StartTimer()

		began := time.Now()
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		select {
		case <-back:
		case <-time.After(10 * time.Second):
			b.Fatal("modules not all answering 10 s after the kill")
		}
		samples = append(samples, time.Since(began))
		b.StopTimer()
		mu.Lock()
		pid = 0
		mu.Unlock()
		testutil.WaitGone(b, victim)
		b.StartTimer()
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(samples[len(samples)/2]), "ms/recovery-p50")
	b.ReportMetric(ms(samples[(len(samples)*99)/100]), "ms/recovery-p99")
	mu.Lock()
	defer mu.Unlock()
	b.ReportMetric(float64(failed)/float64(len(samples)), "failed-calls/kill")
	b.ReportMetric(ms(slowest), "ms/slowest-failure")
}

// BenchmarkHeartbeat measures what a fence heartbeat costs: one Heartbeat call to a driver
// process, its wall time (ns/op) and the CPU both sides spend on it (µs-host-cpu/op: this test
// process, the engine's side; µs-driver-cpu/op: the driver process, from /proc/<pid>/stat). A
// process gets one every Config.HeartbeatInterval (250 ms by default), whatever its modules.
func BenchmarkHeartbeat(b *testing.B) {
	f := newFixture(b, Config{})
	f.start(b, testModule("mod-a", `{}`))
	pid := f.pid(b)
	f.sup.mu.Lock()
	p := f.sup.drivers[f.binary].proc
	f.sup.mu.Unlock()
	req := &pb.HeartbeatRequest{FenceMs: time.Hour.Milliseconds()}
	hostCPU := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	host0, drv0 := hostCPU(), processCPU(b, pid)
	for b.Loop() {
		if _, err := p.rpc.Heartbeat(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64((hostCPU()-host0).Microseconds())/n, "µs-host-cpu/op")
	b.ReportMetric(float64((processCPU(b, pid)-drv0).Microseconds())/n, "µs-driver-cpu/op")
}

// processCPU is the CPU time pid has used (user and system, in clock ticks of 10 ms).
func processCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ
}
