package state

import (
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/metrics"
)

// seriesValue is the value of one series, -1 when absent.
func seriesValue(m *metrics.Metrics, line string) float64 {
	if v, ok := m.Value(line); ok {
		return v
	}
	return -1
}

// A missing value is an answer, not an error; a refused command is. A Redis restart counts the
// lost pub/sub connection and its return.
func TestMetricsErrorsAndReconnects(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	m := metrics.New()
	s, _ := newStore(t, r, func(o *Options) { o.Metrics = m })
	const cmdErrs, psErrs, recon = `engine_redis_errors_total{source="command"}`, `engine_redis_errors_total{source="pubsub"}`, "engine_redis_reconnects_total"

	if _, _, err := s.StatusValue(ctxT(t), "mod-none", "power"); err != nil {
		t.Fatal(err)
	}
	if v := seriesValue(m, cmdErrs); v != 0 {
		t.Fatalf("a missing key counted as %v errors", v)
	}
	if err := s.Client().Do(ctxT(t), "NO-SUCH-COMMAND").Err(); err == nil {
		t.Fatal("Redis accepted an unknown command")
	}
	if v := seriesValue(m, cmdErrs); v != 1 {
		t.Fatalf("command errors = %v, want 1", v)
	}

	r.Restart(t)
	testutil.Eventually(t, 10*time.Second, "pub/sub loss and reconnect counted", func() bool {
		return seriesValue(m, psErrs) >= 1 && seriesValue(m, recon) >= 1
	})
}
