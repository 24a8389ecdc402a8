package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/metrics"
)

// metricValue is the value of an unlabelled series in m's exposition (-1 when absent).
func metricValue(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	if v, ok := m.Value(name); ok {
		return v
	}
	return -1
}

// The session and binding gauges follow binds, unbinds and the session's end, and GET /metrics
// serves them through the API's routes.
func TestWSMetricsAndRoute(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	env := newWSEnv(t, func(c *Config) { c.Metrics = m })
	c := env.dial(t)
	for i := 1; i <= 3; i++ {
		c.send(`{"id":` + strconv.Itoa(i) + `,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"s` + strconv.Itoa(i) + `"}`)
		c.read()
	}
	c.send(`{"id":9,"cmd":"unbind","sys":"sys-1","mod":"Display","index":1,"name":"s1"}`)
	c.expect(`{"id":9,"type":"success"}`)

	resp, err := http.Get("http://" + env.hs.srv.Addr().String() + MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"engine_websocket_sessions 1\n", "engine_websocket_bindings 2\n", "go_goroutines "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}

	_ = c.conn.Close()
	testutil.Eventually(t, 10*time.Second, "gauges back to zero", func() bool {
		return metricValue(t, m, "engine_websocket_sessions") == 0 && metricValue(t, m, "engine_websocket_bindings") == 0
	})
}

// Without metrics the route does not exist.
func TestMetricsRouteNeedsMetrics(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	rec := httptest.NewRecorder()
	hs.srv.Handler().ServeHTTP(rec, newRequest("GET", MetricsPath, nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /metrics without Metrics: %d", rec.Code)
	}
}

// Under authentication /metrics is like any other GET: no credentials, no metrics.
func TestMetricsRouteIsAuthenticated(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, func(c *Config) {
		c.Metrics = metrics.New()
		c.Auth = fakeAuth{fn: func(r *http.Request) (auth.Caller, error) {
			if r.Header.Get(auth.APIKeyHeader) != "scraper-key" {
				return auth.Caller{}, auth.ErrUnauthenticated
			}
			return auth.Caller{UserID: "prometheus", Clearance: auth.ClearanceUser}, nil
		}}
	})
	for _, tc := range []struct {
		key  string
		want int
	}{{"", http.StatusUnauthorized}, {"scraper-key", http.StatusOK}} {
		req := newRequest("GET", MetricsPath, nil)
		if tc.key != "" {
			req.Header.Set(auth.APIKeyHeader, tc.key)
		}
		rec := httptest.NewRecorder()
		hs.srv.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("key %q: %d, want %d", tc.key, rec.Code, tc.want)
		}
	}
}
