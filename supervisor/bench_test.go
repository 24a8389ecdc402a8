package supervisor

import (
	"context"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
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
