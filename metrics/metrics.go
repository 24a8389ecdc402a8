package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/placeos-go/engine/errkind"
)

// Exec results, the values of the exec histogram's result label.
const (
	ResultOK          = "ok"
	ResultDriverError = "driver_error"
	ResultBadRequest  = "bad_request"
	ResultNotFound    = "not_found"
	ResultUnavailable = "unavailable"
	ResultTimeout     = "timeout"
	ResultOther       = "other"
)

// Results lists every exec result label value.
var Results = []string{ResultOK, ResultDriverError, ResultBadRequest, ResultNotFound, ResultUnavailable, ResultTimeout, ResultOther}

// Raft states as labelled on raft_state (hashicorp/raft's RaftState names, lower case).
var RaftStates = []string{"follower", "candidate", "leader", "shutdown"}

// Why the HTTP server refused a connection, the values of http_connections_refused_total's
// reason label.
const (
	ConnRefusedPerIP = "per_ip" // the remote address already holds its share of connections
	ConnRefusedLimit = "limit"  // the server holds its maximum and its probe reserve is full
	ConnRefusedBusy  = "busy"   // admitted on the probe reserve, but the request was not a probe (503)
	// ConnEvicted is an idle connection (no request being served) closed to admit a new one.
	ConnEvicted = "evicted"
)

// ConnRefusedReasons lists every reason label value.
var ConnRefusedReasons = []string{ConnRefusedPerIP, ConnRefusedLimit, ConnRefusedBusy, ConnEvicted}

// WebSocket limits, the values of websocket_refused_total's limit label.
const (
	WSLimitBinds        = "binds_per_session"  // a bind past the session's binding limit
	WSLimitDebugs       = "debugs_per_session" // a debug past the session's debug-stream limit
	WSLimitUserSessions = "sessions_per_user"  // an upgrade past the user's session limit
	WSLimitNodeSessions = "sessions_per_node"  // an upgrade past the node's session limit
)

// WSLimits lists every limit label value.
var WSLimits = []string{WSLimitBinds, WSLimitDebugs, WSLimitUserSessions, WSLimitNodeSessions}

// Driver limits (core.Limits), the values of driver_limited_total's limit label.
const (
	// DriverStatusDelayed: a status write over the module's rate, kept to be written later.
	DriverStatusDelayed = "status_delayed"
	// DriverStatusCoalesced: a delayed value replaced by a newer one before it was written (an
	// intermediate value no watcher saw).
	DriverStatusCoalesced = "status_coalesced"
	DriverCallsRefused    = "calls_refused"         // a driver-to-driver call over the driver's rate
	DriverSubsRefused     = "subscriptions_refused" // a subscription past the driver's maximum
	DriverSavesRefused    = "saves_refused"         // a setting save over the driver's rate
	// DriverSettingsFull: a setting save that would grow its module's settings past their bound.
	DriverSettingsFull = "settings_full"
	// DriverStatusRefused: a status write over its size, or past its module's bound of statuses
	// or bytes.
	DriverStatusRefused = "status_refused"
)

const namespace = "engine"

// Metrics holds the node's collectors. Build it with New; a nil *Metrics records nothing.
type Metrics struct {
	reg *prometheus.Registry

	execDuration *prometheus.HistogramVec
	// execSeries caches execDuration's series by execLabels: an execute observes one, and
	// finding it through the vector (hashing each label, a shared lock) cost more than the
	// observation itself. The vector never drops a series, so neither does the cache.
	execMu     sync.RWMutex
	execSeries map[execLabels]prometheus.Observer

	driverRestarts *prometheus.CounterVec
	driverStates   *prometheus.GaugeVec
	modules        *prometheus.GaugeVec
	unplaced       *prometheus.GaugeVec

	wsSessions    prometheus.Gauge
	wsBindings    prometheus.Gauge
	wsSlowClients prometheus.Counter
	wsRefused     *prometheus.CounterVec

	httpConns        prometheus.Gauge
	httpConnsRefused *prometheus.CounterVec

	redisErrors     *prometheus.CounterVec
	redisReconnects prometheus.Counter

	raftState         *prometheus.GaugeVec
	raftLeaderChanges prometheus.Counter
	raftApply         prometheus.Histogram

	buildDuration *prometheus.HistogramVec
	buildFailures prometheus.Counter
	buildFailed   *prometheus.GaugeVec

	// Driver isolation (driver_isolation.go).
	driverLogDropped    *prometheus.CounterVec
	driverOOM           *prometheus.CounterVec
	driverLimited       *prometheus.CounterVec
	driverSubscriptions *prometheus.GaugeVec
}

// New builds the collectors on a fresh registry, with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		execDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "exec_duration_seconds",
			Help: "Executes run on this node, by driver, function and result (" + strings.Join(Results, ", ") + ").",
			// From sub-millisecond local calls up to the 60 s default execute timeout.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"driver", "function", "result"}),
		driverRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "driver_restarts_total",
			Help: "Driver processes that exited unexpectedly or failed to launch, by driver.",
		}, []string{"driver"}),
		driverStates: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "driver_processes",
			Help: "Driver processes on this node by driver and state (running, restarting, crashloop).",
		}, []string{"driver", "state"}),
		unplaced: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "modules_unplaced",
			Help: "Running modules of the whole cluster that no up node may host, by placement constraint (every node reports the same).",
		}, []string{"constraint"}),
		modules: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "modules",
			Help: "Modules this node should run, by state (running, starting, building, failed).",
		}, []string{"state"}),
		wsSessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "websocket_sessions", Help: "Open WebSocket sessions.",
		}),
		wsBindings: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "websocket_bindings", Help: "Status bindings of open WebSocket sessions.",
		}),
		wsSlowClients: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "websocket_slow_disconnects_total",
			Help: "WebSocket sessions closed because the client did not read fast enough.",
		}),
		wsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "websocket_refused_total",
			// Built from the list, so a new limit is named here too.
			Help: "WebSocket binds, debug streams and sessions refused by a limit (" + strings.Join(WSLimits, ", ") + ").",
		}, []string{"limit"}),
		httpConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "http_connections",
			Help: "Open connections of the HTTP API listener, WebSocket sessions included.",
		}),
		httpConnsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_connections_refused_total",
			Help: "HTTP connections refused by the connection limits, or idle ones closed to admit a new one, by reason (" + strings.Join(ConnRefusedReasons, ", ") + ").",
		}, []string{"reason"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "redis_errors_total",
			Help: "Redis failures: commands that failed (source=command), pub/sub connections lost (source=pubsub).",
		}, []string{"source"}),
		redisReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "redis_reconnects_total",
			Help: "Times the Redis pub/sub connection was re-established after a loss.",
		}),
		raftState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "raft_state",
			Help: "1 for this node's current Raft state, 0 for the others.",
		}, []string{"state"}),
		raftLeaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "raft_leader_changes_total",
			Help: "Leader changes this node has observed.",
		}),
		raftApply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "raft_apply_duration_seconds",
			Help:    "Time for a command to be committed and applied, measured on the leader.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		buildDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "build_duration_seconds",
			Help:    "Driver compiles by result (ok, failed).",
			Buckets: []float64{.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300},
		}, []string{"result"}),
		buildFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "build_failures_total", Help: "Driver compiles that failed.",
		}),
		buildFailed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "driver_build_failed",
			Help: "1 while a repository driver's latest build on this node failed (its modules run the last good build, if any).",
		}, []string{"driver"}),
		driverLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "driver_limited_total",
			Help: "What the driver limits held back, by driver and limit (status_delayed, status_coalesced, calls_refused, subscriptions_refused, saves_refused, settings_full).",
		}, []string{"driver", "limit"}),
		driverSubscriptions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "driver_subscriptions",
			Help: "Status subscriptions and channel monitors drivers hold open on this node, by driver (--driver-max-subscriptions caps each).",
		}, []string{"driver"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.execDuration, m.driverRestarts, m.driverStates, m.modules, m.unplaced,
		m.wsSessions, m.wsBindings, m.wsSlowClients, m.wsRefused,
		m.httpConns, m.httpConnsRefused,
		m.redisErrors, m.redisReconnects,
		m.raftState, m.raftLeaderChanges, m.raftApply,
		m.buildDuration, m.buildFailures, m.buildFailed,
		m.driverLimited, m.driverSubscriptions,
	)
	m.registerDriverIsolation()
	// Series that exist from the start, so dashboards and alerts see zeros rather than gaps.
	for _, s := range []string{"command", "pubsub"} {
		m.redisErrors.WithLabelValues(s)
	}
	for _, s := range RaftStates {
		m.raftState.WithLabelValues(s)
	}
	for _, s := range WSLimits {
		m.wsRefused.WithLabelValues(s)
	}
	for _, s := range ConnRefusedReasons {
		m.httpConnsRefused.WithLabelValues(s)
	}
	return m
}

// Handler serves the registry in the Prometheus text (or OpenMetrics) format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry the collectors live on, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// ExecResult classifies an execute's outcome into one of Results.
func ExecResult(err error) string {
	if err == nil {
		return ResultOK // before the errors.As target below, which is allocated at entry
	}
	return failedResult(err)
}

func failedResult(err error) string {
	var de *errkind.DriverError
	switch {
	case errors.As(err, &de):
		return ResultDriverError
	case errors.Is(err, errkind.Timeout), errors.Is(err, context.DeadlineExceeded):
		return ResultTimeout
	case errors.Is(err, errkind.BadRequest):
		return ResultBadRequest
	case errors.Is(err, errkind.NotFound):
		return ResultNotFound
	case errors.Is(err, errkind.Unavailable):
		return ResultUnavailable
	default:
		return ResultOther
	}
}

// ObserveExec records one execute. The function label is dropped for refused calls (see the
// package doc).
func (m *Metrics) ObserveExec(driver, function string, err error, d time.Duration) {
	if m == nil {
		return
	}
	result := ExecResult(err)
	if result == ResultBadRequest || result == ResultNotFound {
		function = ""
	}
	k := execLabels{driver, function, result}
	m.execMu.RLock()
	o := m.execSeries[k]
	m.execMu.RUnlock()
	if o == nil {
		o = m.execDuration.WithLabelValues(driver, function, result)
		m.execMu.Lock()
		if m.execSeries == nil {
			m.execSeries = map[execLabels]prometheus.Observer{}
		}
		m.execSeries[k] = o
		m.execMu.Unlock()
	}
	o.Observe(d.Seconds())
}

type execLabels struct{ driver, function, result string }

// builtSuffix matches the builder's "_<commit>_<os>-<arch>" binary name suffix.
var builtSuffix = regexp.MustCompile(`_[0-9a-f]{7,40}_[a-z0-9]+-[a-z0-9]+$`)

// DriverName is the driver label of a driver binary: its file name without the builder's commit
// and platform suffix.
func DriverName(binary string) string {
	return builtSuffix.ReplaceAllString(filepath.Base(binary), "")
}

// DriverRestarted counts an unexpected exit or failed launch of a driver binary's process.
func (m *Metrics) DriverRestarted(binary string) {
	if m == nil {
		return
	}
	m.driverRestarts.WithLabelValues(DriverName(binary)).Inc()
}

// DriverState moves one driver process from state from to state to; "" is no state (a process
// that appears or goes away). Counting rather than setting keeps two binaries of one driver
// (old and new commit during a move) from overwriting each other.
func (m *Metrics) DriverState(binary, from, to string) {
	if m == nil || from == to {
		return
	}
	name := DriverName(binary)
	if from == "" {
		// The driver's counters exist from its first process on, at zero, so that an alert on
		// their increase has a series before the first restart, drop or out-of-memory kill.
		m.driverRestarts.WithLabelValues(name)
		m.driverLogDropped.WithLabelValues(name)
		m.driverOOM.WithLabelValues(name)
	}
	if from != "" {
		m.driverStates.WithLabelValues(name, from).Dec()
	}
	if to != "" {
		m.driverStates.WithLabelValues(name, to).Inc()
	}
}

// SetModules replaces the modules-by-state gauge; states missing from counts are set to zero.
func (m *Metrics) SetModules(counts map[string]int) {
	if m == nil {
		return
	}
	for _, s := range []string{"running", "starting", "building", "failed"} {
		m.modules.WithLabelValues(s).Set(float64(counts[s]))
	}
	for s, n := range counts {
		m.modules.WithLabelValues(s).Set(float64(n))
	}
}

// SetUnplaced replaces the unplaced-modules gauge: counts by constraint ("site=b").
func (m *Metrics) SetUnplaced(counts map[string]int) {
	if m == nil {
		return
	}
	m.unplaced.Reset()
	for c, n := range counts {
		m.unplaced.WithLabelValues(c).Set(float64(n))
	}
}

// AddWSSessions adds delta (+1 opened, -1 closed) to the WebSocket session gauge.
func (m *Metrics) AddWSSessions(delta int) {
	if m == nil {
		return
	}
	m.wsSessions.Add(float64(delta))
}

// AddWSBindings adds delta to the WebSocket binding gauge.
func (m *Metrics) AddWSBindings(delta int) {
	if m == nil || delta == 0 {
		return
	}
	m.wsBindings.Add(float64(delta))
}

// WSSlowDisconnect counts a session closed because its outgoing queue filled.
func (m *Metrics) WSSlowDisconnect() {
	if m == nil {
		return
	}
	m.wsSlowClients.Inc()
}

// WSRefused counts a bind or session refused by a limit; limit is one of WSLimits.
func (m *Metrics) WSRefused(limit string) {
	if m == nil {
		return
	}
	m.wsRefused.WithLabelValues(limit).Inc()
}

// DriverLimited counts what a driver limit held back; limit is one of the Driver* limit labels.
func (m *Metrics) DriverLimited(driver, limit string) {
	if m == nil {
		return
	}
	m.driverLimited.WithLabelValues(driver, limit).Inc()
}

// AddDriverSubscriptions adds delta (+1 opened, -1 ended) to driver's open subscriptions.
func (m *Metrics) AddDriverSubscriptions(driver string, delta int) {
	if m == nil {
		return
	}
	m.driverSubscriptions.WithLabelValues(driver).Add(float64(delta))
}

// AddHTTPConnections adds delta (+1 accepted, -1 closed) to the open connection gauge.
func (m *Metrics) AddHTTPConnections(delta int) {
	if m == nil {
		return
	}
	m.httpConns.Add(float64(delta))
}

// HTTPConnRefused counts a connection (or, for ConnRefusedBusy, its request) refused by the
// connection limits; reason is one of ConnRefusedReasons.
func (m *Metrics) HTTPConnRefused(reason string) {
	if m == nil {
		return
	}
	m.httpConnsRefused.WithLabelValues(reason).Inc()
}

// RedisError counts a Redis failure; source is "command" or "pubsub".
func (m *Metrics) RedisError(source string) {
	if m == nil {
		return
	}
	m.redisErrors.WithLabelValues(source).Inc()
}

// RedisReconnect counts the pub/sub connection coming back after a loss.
func (m *Metrics) RedisReconnect() {
	if m == nil {
		return
	}
	m.redisReconnects.Inc()
}

// SetRaftState sets the current Raft state (a hashicorp/raft RaftState's String(), any case).
func (m *Metrics) SetRaftState(state string) {
	if m == nil {
		return
	}
	state = lower(state)
	for _, s := range RaftStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.raftState.WithLabelValues(s).Set(v)
	}
}

// RaftLeaderChange counts a new leader observed by this node.
func (m *Metrics) RaftLeaderChange() {
	if m == nil {
		return
	}
	m.raftLeaderChanges.Inc()
}

// ObserveRaftApply records how long one command took through the log.
func (m *Metrics) ObserveRaftApply(d time.Duration) {
	if m == nil {
		return
	}
	m.raftApply.Observe(d.Seconds())
}

// ObserveBuild records one driver compile; a failed one also counts as a failure.
func (m *Metrics) ObserveBuild(d time.Duration, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
		m.buildFailures.Inc()
	}
	m.buildDuration.WithLabelValues(result).Observe(d.Seconds())
}

// SetBuildFailed records whether the latest build of a repository driver (by id) failed.
func (m *Metrics) SetBuildFailed(driver string, failed bool) {
	if m == nil {
		return
	}
	v := 0.0
	if failed {
		v = 1
	}
	m.buildFailed.WithLabelValues(driver).Set(v)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Value is the current value of one series, named as in the text exposition
// (`engine_redis_errors_total{source="command"}`); false when the series does not exist. It is
// for tests and tools that read a node's own numbers. A histogram answers as `<name>_count` and
// `<name>_sum`.
func (m *Metrics) Value(series string) (float64, bool) {
	if m == nil {
		return 0, false
	}
	families, err := m.reg.Gather()
	if err != nil {
		return 0, false
	}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			var labels string
			if ls := mt.GetLabel(); len(ls) > 0 {
				parts := make([]string, len(ls))
				for i, l := range ls {
					parts[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
				}
				labels = "{" + strings.Join(parts, ",") + "}"
			}
			name := f.GetName()
			switch {
			case mt.Counter != nil && series == name+labels:
				return mt.GetCounter().GetValue(), true
			case mt.Gauge != nil && series == name+labels:
				return mt.GetGauge().GetValue(), true
			case mt.Untyped != nil && series == name+labels:
				return mt.GetUntyped().GetValue(), true
			case mt.Histogram != nil && series == name+"_count"+labels:
				return float64(mt.GetHistogram().GetSampleCount()), true
			case mt.Histogram != nil && series == name+"_sum"+labels:
				return mt.GetHistogram().GetSampleSum(), true
			}
		}
	}
	return 0, false
}
