package metrics

import "github.com/prometheus/client_golang/prometheus"

func (m *Metrics) registerDriverIsolation() {
	m.driverLogDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "driver_log_lines_dropped_total",
		Help: "Driver log lines (hclog lines and plain stderr lines) dropped by the per-module rate limit, by driver.",
	}, []string{"driver"})
	m.driverOOM = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "driver_out_of_memory_total",
		Help: "Driver processes that died at their memory limit, by driver.",
	}, []string{"driver"})
	m.reg.MustRegister(m.driverLogDropped, m.driverOOM)
}

// DriverLogLinesDropped counts n log lines of a driver binary dropped by the rate limit.
func (m *Metrics) DriverLogLinesDropped(binary string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.driverLogDropped.WithLabelValues(DriverName(binary)).Add(float64(n))
}

// DriverOutOfMemory counts a driver process that died at its memory limit.
func (m *Metrics) DriverOutOfMemory(binary string) {
	if m == nil {
		return
	}
	m.driverOOM.WithLabelValues(DriverName(binary)).Inc()
}
