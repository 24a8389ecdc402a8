package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
)

// scrape fetches the handler's text exposition.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: read the body: %v", err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// Every method of a nil *Metrics is a no-op, so packages run without metrics.
func TestNilIsSafe(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.ObserveExec("d", "f", nil, time.Millisecond)
	m.DriverRestarted("/bin/x")
	m.DriverState("/bin/x", "", "running")
	m.SetModules(map[string]int{"running": 1})
	m.AddWSSessions(1)
	m.AddWSBindings(1)
	m.WSSlowDisconnect()
	m.WSRefused(WSLimitBinds)
	m.AddHTTPConnections(1)
	m.HTTPConnRefused(ConnRefusedLimit)
	m.RedisError("command")
	m.RedisReconnect()
	m.SetRaftState("Leader")
	m.RaftLeaderChange()
	m.ObserveRaftApply(time.Millisecond)
	m.ObserveBuild(time.Second, errors.New("x"))
	if m.Registry() != nil {
		t.Fatal("nil Metrics has a registry")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Fatalf("nil Metrics handler answered %d, want 404", rec.Code)
	}
}

func TestExecResult(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ResultOK},
		{&errkind.DriverError{Class: "RuntimeError", Message: "x"}, ResultDriverError},
		{fmt.Errorf("wrapped: %w", &errkind.DriverError{}), ResultDriverError},
		{errkind.Wrap(errkind.BadRequest, nil, "bad"), ResultBadRequest},
		{errkind.New(errkind.NotFound, "gone"), ResultNotFound},
		{errkind.Wrap(errkind.Unavailable, errors.New("restarting"), "exec"), ResultUnavailable},
		{errkind.Wrap(errkind.Timeout, nil, "late"), ResultTimeout},
		{fmt.Errorf("call: %w", context.DeadlineExceeded), ResultTimeout},
		{errkind.New(errkind.Forbidden, "no"), ResultOther},
		{errors.New("plain"), ResultOther},
	} {
		if got := ExecResult(tc.err); got != tc.want {
			t.Errorf("ExecResult(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestDriverName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ binary, want string }{
		{"/var/lib/engine/drivers/display", "display"},
		{"bin/drivers/camera", "camera"},
		{"/data/drivers/drivers+display_0123abc_linux-amd64", "drivers+display"},
		{"/data/drivers/root_0123456789abcdef0123456789abcdef01234567_darwin-arm64", "root"},
		{"/tmp/testbin/internal_testdriver", "internal_testdriver"},
	} {
		if got := DriverName(tc.binary); got != tc.want {
			t.Errorf("DriverName(%q) = %q, want %q", tc.binary, got, tc.want)
		}
	}
}

// The exposition has every collector with the labels and values recorded.
func TestExposition(t *testing.T) {
	t.Parallel()
	m := New()
	m.ObserveExec("drv-display", "power", nil, 3*time.Millisecond)
	m.ObserveExec("drv-display", "power", &errkind.DriverError{}, time.Millisecond)
	m.ObserveExec("drv-display", "typed-by-a-caller", errkind.New(errkind.BadRequest, "no such function"), time.Millisecond)
	m.DriverState("/d/display", "", "restarting")
	m.DriverState("/d/display", "restarting", "running")
	m.DriverRestarted("/d/display")
	m.DriverState("/d/display", "running", "restarting")
	m.DriverState("/d/display", "restarting", "running")
	m.SetModules(map[string]int{"running": 3, "failed": 1})
	m.SetUnplaced(map[string]int{"site=a": 1})
	m.SetUnplaced(map[string]int{"site=b": 2}) // replaces: site=a placed again
	m.AddWSSessions(2)
	m.AddWSSessions(-1)
	m.AddWSBindings(5)
	m.WSSlowDisconnect()
	m.WSRefused(WSLimitBinds)
	m.AddHTTPConnections(1)
	m.HTTPConnRefused(ConnRefusedLimit)
	m.RedisError("command")
	m.RedisReconnect()
	m.SetRaftState("Leader")
	m.RaftLeaderChange()
	m.ObserveRaftApply(2 * time.Millisecond)
	m.ObserveBuild(3*time.Second, nil)
	m.ObserveBuild(time.Second, errors.New("compile error"))

	out := scrape(t, m.Handler())
	for _, want := range []string{
		`engine_exec_duration_seconds_count{driver="drv-display",function="power",result="ok"} 1`,
		`engine_exec_duration_seconds_count{driver="drv-display",function="power",result="driver_error"} 1`,
		`engine_exec_duration_seconds_count{driver="drv-display",function="",result="bad_request"} 1`,
		`engine_driver_restarts_total{driver="display"} 1`,
		`engine_driver_log_lines_dropped_total{driver="display"} 0`, // from the first process on
		`engine_driver_out_of_memory_total{driver="display"} 0`,
		`engine_driver_processes{driver="display",state="running"} 1`,
		`engine_driver_processes{driver="display",state="restarting"} 0`,
		`engine_modules{state="running"} 3`,
		`engine_modules{state="failed"} 1`,
		`engine_modules{state="starting"} 0`,
		`engine_modules_unplaced{constraint="site=b"} 2`,
		`engine_websocket_sessions 1`,
		`engine_websocket_bindings 5`,
		`engine_websocket_slow_disconnects_total 1`,
		`engine_websocket_refused_total{limit="binds_per_session"} 1`,
		`engine_websocket_refused_total{limit="sessions_per_user"} 0`,
		`engine_websocket_refused_total{limit="sessions_per_node"} 0`,
		`engine_http_connections 1`,
		`engine_http_connections_refused_total{reason="limit"} 1`,
		`engine_http_connections_refused_total{reason="per_ip"} 0`,
		`engine_http_connections_refused_total{reason="busy"} 0`,
		`engine_redis_errors_total{source="command"} 1`,
		`engine_redis_errors_total{source="pubsub"} 0`,
		`engine_redis_reconnects_total 1`,
		`engine_raft_state{state="leader"} 1`,
		`engine_raft_state{state="follower"} 0`,
		`engine_raft_leader_changes_total 1`,
		`engine_raft_apply_duration_seconds_count 1`,
		`engine_build_duration_seconds_count{result="ok"} 1`,
		`engine_build_duration_seconds_count{result="failed"} 1`,
		`engine_build_failures_total 1`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	// A scrape's HELP line names every value of a limit's label: it said nothing of
	// debugs_per_session and evicted, which an operator then met in the samples unexplained.
	for metric, values := range map[string][]string{
		"engine_websocket_refused_total":        WSLimits,
		"engine_http_connections_refused_total": ConnRefusedReasons,
	} {
		_, help, _ := strings.Cut(out, "# HELP "+metric+" ")
		help, _, _ = strings.Cut(help, "\n")
		for _, v := range values {
			if !strings.Contains(help, v) {
				t.Errorf("HELP of %s does not name %q: %s", metric, v, help)
			}
		}
	}
	if strings.Contains(out, "typed-by-a-caller") {
		t.Error("a refused call's function name became a label value")
	}
	if strings.Contains(out, `constraint="site=a"`) {
		t.Error("a constraint placed again is still listed as unplaced")
	}
}

// Value reads counters, labelled gauges and histograms the way they are exposed.
func TestValue(t *testing.T) {
	t.Parallel()
	m := New()
	m.RaftLeaderChange()
	m.RaftLeaderChange()
	m.SetModules(map[string]int{"running": 3})
	m.ObserveRaftApply(2 * time.Millisecond)
	tests := []struct {
		series string
		want   float64
		ok     bool
	}{
		{"engine_raft_leader_changes_total", 2, true},
		{`engine_modules{state="running"}`, 3, true},
		{"engine_raft_apply_duration_seconds_count", 1, true},
		{"engine_raft_apply_duration_seconds_sum", 0.002, true},
		{"engine_nope", 0, false},
	}
	for _, tt := range tests {
		if v, ok := m.Value(tt.series); ok != tt.ok || v != tt.want {
			t.Errorf("Value(%s) = %v, %v; want %v, %v", tt.series, v, ok, tt.want, tt.ok)
		}
	}
	if _, ok := (*Metrics)(nil).Value("engine_modules"); ok {
		t.Error("a nil Metrics has values")
	}
}
