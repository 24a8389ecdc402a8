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
// process is SIGKILLed: from the kill to the first successful call, with a spare process ready to
// take over (Config.Spare, the engine's default). It reports the median as ms/recovery, and the
// share of rounds in which the spare took over (spare-used; 1 unless a spare was unfit); the
// ns/op figure includes the untimed waits and means nothing. BenchmarkKillToAnswerNoSpare is the
// same without spares: a new process is launched for the module.
func BenchmarkKillToAnswer(b *testing.B)        { benchKillToAnswer(b, true) }
func BenchmarkKillToAnswerNoSpare(b *testing.B) { benchKillToAnswer(b, false) }

// killStable is the StableAfter of the crash benchmarks: each kill is a first crash, not a crash
// loop, once the process has run this long.
const killStable = 50 * time.Millisecond

func benchKillToAnswer(b *testing.B, spare bool) {
	f := newFixture(b, Config{StableAfter: killStable, Spare: spare})
	f.start(b, testModule("mod-a", `{}`))
	var samples []time.Duration
	spares := 0
	for b.Loop() {
		b.StopTimer()
		pid, sparePID := f.readyToKill(b, spare)
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
				if string(resp.ResultJson) == strconv.Itoa(sparePID) {
					spares++
				}
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
	if spare {
		b.ReportMetric(float64(spares)/float64(len(samples)), "spare-used")
	}
}

// readyToKill waits until the driver's process has run killStable (so its kill is a first
// crash), and with spare until it has a spare; it returns both pids.
func (f *fixture) readyToKill(b *testing.B, spare bool) (pid, sparePID int) {
	if !spare {
		time.Sleep(killStable + 10*time.Millisecond)
		return f.pid(b), 0
	}
	// A spare is launched once the process has run StableAfter.
	testutil.Eventually(b, 20*time.Second, "a spare driver process", func() bool {
		st, _ := f.sup.DriverStatus(f.binary)
		pid, sparePID = st.PID, st.SparePID
		return st.Running && sparePID != 0
	})
	return pid, sparePID
}

// BenchmarkKillToAnswerUnderLoad is BenchmarkKillToAnswer while 32 clients call the driver's 8
// modules in a loop (issue 13: crash recovery under load). Each round SIGKILLs the process and
// times, from the kill, until every module has answered from the new process. It reports the
// median and p99 of that over the rounds (ms/recovery-p50, ms/recovery-p99), how many calls failed
// during the rounds (failed-calls/kill), the longest any failed call took to fail
// (ms/slowest-failure): calls caught by a crash must fail fast, not hang; and the share of rounds
// in which the spare took over (spare-used). BenchmarkKillToAnswerUnderLoadNoSpare is the same
// without spares.
func BenchmarkKillToAnswerUnderLoad(b *testing.B)        { benchKillUnderLoad(b, true) }
func BenchmarkKillToAnswerUnderLoadNoSpare(b *testing.B) { benchKillUnderLoad(b, false) }

func benchKillUnderLoad(b *testing.B, spare bool) {
	const (
		clients = 32
		modules = 8
	)
	f := newFixture(b, Config{StableAfter: killStable, Spare: spare})
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
	spares := 0
	for b.Loop() {
		b.StopTimer()
		victim, sparePID := f.readyToKill(b, spare)
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
		if st, _ := f.sup.DriverStatus(f.binary); st.PID == sparePID {
			spares++
		}
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
	if spare {
		b.ReportMetric(float64(spares)/float64(len(samples)), "spare-used")
	}
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
