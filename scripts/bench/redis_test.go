package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// The Redis restore benchmark (issue 12, "nothing lost to a Redis restart"):
//
//	go test -run '^$' -bench '^BenchmarkRedisRestore$' -benchtime 1x ./scripts/bench/
//
// One `engine serve` node runs restoreModules test-driver modules, each with restoreStatuses
// statuses set through REST. Redis is then restarted empty (no persistence) and the benchmark
// measures, from the moment the restart begins, the time until every status of every module is
// in Redis again — written back by the node, with no execute and no driver change — and, from
// the engine's log, when its pub/sub connection came back and how long the write-back itself took. The baseline, in the same run and on the same Redis, is a bare go-redis
// client writing the same fields the cheapest way it can: pipelined HSET + PUBLISH, in the same
// batches of modules as the write-back (median of restoreBaselineRuns).

const (
	restoreModules      = 1000
	restoreStatuses     = 10
	restoreBaselineRuns = 5
	restoreBatch        = 128 // state.writeBackBatch
)

func BenchmarkRedisRestore(b *testing.B) {
	runOnce(b, func(b *testing.B) (string, []clusterMetric) {
		rds := testutil.StartRedis(b)
		drv := testutil.BuildBinary(b, "./internal/testdriver")
		ids := make([]string, restoreModules)
		var model strings.Builder
		fmt.Fprintf(&model, "drivers: [{id: drv-bench, module_name: Test, role: service, binary: %q}]\nmodules:\n", drv)
		for i := range ids {
			ids[i] = startupModuleID(i)
			fmt.Fprintf(&model, "  - {id: %s, driver_id: drv-bench, running: true}\n", ids[i])
		}
		fmt.Fprintf(&model, "systems: [{id: sys-bench, name: Bench, modules: [%s]}]\n", strings.Join(ids, ", "))
		cfg := enginetest.Config{Redis: rds.URL, Client: startupHTTP, Timeout: 10 * time.Second,
			LogLevel: "info", Flags: []string{"--log-format", "json"}}
		e := enginetest.StartEngine(b, cfg, "restore", model.String())

		// Every module sets its statuses through REST (the driver's own SetStatus calls).
		err := startupSweep(restoreModules, func(i int) error {
			for j := range restoreStatuses {
				body := fmt.Sprintf(`["s%d", {"module": %d, "status": %d}]`, j, i, j)
				resp, err := e.Request(context.Background(), http.MethodPost, "/api/engine/v2/modules/"+ids[i]+"/exec/set", body, 10*time.Second)
				if err != nil {
					return err
				}
				if resp.Status != http.StatusOK {
					return fmt.Errorf("set on %s: %d %s", ids[i], resp.Status, resp.Body)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		rc := rds.Client(b)
		if n, err := countFields(ctx, rc, ids); err != nil || n != restoreModules*restoreStatuses {
			b.Fatalf("statuses in Redis before the restart: %d (%v), want %d", n, err, restoreModules*restoreStatuses)
		}
		logBefore := len(e.Logs().String())

		began := time.Now()
		rds.Restart(b) // stops the server, starts an empty one and returns once it answers PING
		restarted := time.Since(began)
		var restored time.Duration
		observe(e.Eventually, 30*time.Second, "every status back in Redis", probe{time.Millisecond, func() bool {
			n, err := countFields(ctx, rc, ids)
			if err != nil || n != restoreModules*restoreStatuses {
				return false
			}
			restored = time.Since(began)
			return true
		}})
		reconnected, writeBack, err := restoreLog(e.Logs().String()[logBefore:], began)
		if err != nil {
			b.Fatal(err)
		}
		e.Stop()

		// Baseline: the same fields written by a bare client, pipelined, into the restored Redis
		// under other keys.
		var base []time.Duration
		for run := range restoreBaselineRuns {
			began := time.Now()
			for start := 0; start < restoreModules; start += restoreBatch {
				_, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := start; i < min(start+restoreBatch, restoreModules); i++ {
						for j := range restoreStatuses {
							key := fmt.Sprintf("baseline-%d/%s", run, ids[i])
							v := fmt.Sprintf(`{"module": %d, "status": %d}`, i, j)
							p.HSet(ctx, key, fmt.Sprintf("s%d", j), v)
							p.Publish(ctx, fmt.Sprintf("%s/s%d", key, j), v)
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			base = append(base, time.Since(began))
		}
		baseline := median(base)

		ratio := float64(writeBack) / float64(baseline)
		var t strings.Builder
		fmt.Fprintf(&t, "\n%d modules × %d statuses (%d values), their metadata and one system lookup; Redis restarted empty\n\n",
			restoreModules, restoreStatuses, restoreModules*restoreStatuses)
		fmt.Fprintf(&t, "| measure | time | vs baseline |\n|---|---|---|\n")
		fmt.Fprintf(&t, "| bare go-redis pipeline writing the same fields (HSET + PUBLISH, median of %d) | %s | 1.00× |\n", restoreBaselineRuns, msf(baseline))
		fmt.Fprintf(&t, "| the node's write-back (compare, write, publish; + metadata, lookup) | %s | %.2f× |\n", msf(writeBack), ratio)
		fmt.Fprintf(&t, "| Redis restart begun → the new server answering PING (stop, exec, start) | %s | |\n", msf(restarted))
		fmt.Fprintf(&t, "| Redis restart begun → the node's pub/sub connection back | %s | |\n", msf(reconnected))
		fmt.Fprintf(&t, "| Redis restart begun → every status back in Redis | %s | |\n\n", msf(restored))
		fmt.Fprintf(&t, "Here Redis is away for milliseconds; after a longer outage the pub/sub connection comes back up to 1 s (its reconnect backoff, 20 ms doubling) after Redis does, and the write-back follows at once.\n\n")
		return t.String(), []clusterMetric{
			{float64(restarted.Microseconds()) / 1000, "ms-restart"},
			{float64(restored.Microseconds()) / 1000, "ms-restored"},
			{float64(reconnected.Microseconds()) / 1000, "ms-reconnected"},
			{float64(writeBack.Microseconds()) / 1000, "ms-writeback"},
			{float64(baseline.Microseconds()) / 1000, "ms-baseline"},
			{ratio, "writeback-ratio"},
		}
	})
}

func msf(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// countFields is how many status fields the modules have in Redis, in one round trip.
func countFields(ctx context.Context, rc *redis.Client, ids []string) (int, error) {
	cmds := make([]*redis.IntCmd, len(ids))
	_, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HLen(ctx, "status/"+id)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n, nil
}

// restoreLog reads, from the engine's JSON log after the restart, when its pub/sub connection
// came back (relative to began) and how long the write-back took.
func restoreLog(log string, began time.Time) (reconnected, writeBack time.Duration, err error) {
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Message   string          `json:"@message"`
			Timestamp string          `json:"@timestamp"`
			Took      json.RawMessage `json:"took"` // a duration: nanoseconds, or Go text

			Modules int `json:"modules"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch {
		case strings.HasPrefix(l.Message, "redis pub/sub connection re-established") && reconnected == 0:
			at, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", l.Timestamp)
			if err != nil {
				return 0, 0, fmt.Errorf("log timestamp %q: %w", l.Timestamp, err)
			}
			reconnected = at.Sub(began)
		case strings.HasPrefix(l.Message, "wrote this node's share of redis back") && writeBack == 0:
			if l.Modules != restoreModules {
				return 0, 0, fmt.Errorf("the write-back covered %d modules, want %d", l.Modules, restoreModules)
			}
			if writeBack, err = jsonDuration(l.Took); err != nil {
				return 0, 0, err
			}
		}
	}
	if reconnected == 0 || writeBack == 0 {
		return 0, 0, fmt.Errorf("no reconnect or write-back line in the engine's log:\n%s", strings.Join(slices.Collect(func(yield func(string) bool) {
			for _, l := range strings.Split(log, "\n") {
				if strings.Contains(l, "redis") && !yield(l) {
					return
				}
			}
		}), "\n"))
	}
	return reconnected, writeBack, nil
}

// jsonDuration reads a duration hclog wrote in JSON: a number of nanoseconds or Go's text form.
func jsonDuration(raw json.RawMessage) (time.Duration, error) {
	var ns int64
	if json.Unmarshal(raw, &ns) == nil {
		return time.Duration(ns), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("duration %s: %w", raw, err)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	return d, nil
}
