package supervisor

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/metrics"
)

func scrapeMetrics(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatalf("read the exposition: %v", err)
	}
	return string(b)
}

// A process killed from outside counts one restart, and the state gauge follows the process
// through restarting back to running; a stopped supervisor leaves no process counted.
func TestMetricsRestartsAndStates(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	f := newFixture(t, Config{Metrics: m})
	f.start(t, testModule("mod-a", `{}`))
	name := metrics.DriverName(f.binary)
	series := func(s string) string { return strings.ReplaceAll(s, "NAME", name) }

	// Start returns once the module has started; the process is marked running just after its
	// modules are back (serve), so the gauge may lag Start by a moment.
	var out string
	running := series(`engine_driver_processes{driver="NAME",state="running"} 1`)
	testutil.Eventually(t, 10*time.Second, "running gauge", func() bool {
		out = scrapeMetrics(t, m)
		return strings.Contains(out, running)
	})
	// The counter is there from the first process on, at zero (alerts need a series).
	if !strings.Contains(out, series(`engine_driver_restarts_total{driver="NAME"} 0`)) {
		t.Fatalf("before any restart the counter is not there at zero:\n%s", grep(out, "engine_driver"))
	}

	pid := f.pid(t)
	if err := f.sup.Kill(f.binary); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "relaunch", func() bool {
		st, _ := f.sup.DriverStatus(f.binary)
		return st.Running && st.PID != pid && st.State == StateRunning
	})
	out = scrapeMetrics(t, m)
	for _, want := range []string{
		`engine_driver_restarts_total{driver="NAME"} 1`,
		`engine_driver_processes{driver="NAME",state="running"} 1`,
		`engine_driver_processes{driver="NAME",state="restarting"} 0`,
	} {
		if !strings.Contains(out, series(want)) {
			t.Errorf("after the kill: exposition lacks %q:\n%s", series(want), grep(out, "engine_driver"))
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.sup.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if out = scrapeMetrics(t, m); !strings.Contains(out, series(`engine_driver_processes{driver="NAME",state="running"} 0`)) {
		t.Errorf("after Close: %s", grep(out, "engine_driver"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
