// Package metrics owns the engine's Prometheus collectors and the /metrics handler. One Metrics
// value per node holds every collector on its own registry (never the global one, so tests and
// several engines in one process do not collide), together with the Go runtime and process
// collectors.
//
// Every method is nil-safe: a nil *Metrics records nothing, so packages take an optional
// Config.Metrics and their tests need not build one.
//
// Labels are kept bounded so a busy node cannot grow the series set without limit: executes are
// labelled by driver (the model's driver id) and function, never by module, system or user;
// calls refused before they reached a function (bad request, not found) carry an empty function
// label, because their function name is whatever the caller typed. Driver process series are
// labelled by the binary's name with the builder's commit and platform suffix removed, so a new
// commit of a driver continues its series rather than starting a new one.
//
// Series (all prefixed engine_):
//
//	exec_duration_seconds{driver,function,result}   histogram; result is one of Results
//	driver_restarts_total{driver}                   counter: unexpected process exits and failed launches
//	driver_processes{driver,state}                  gauge: processes by state (running, restarting, crashloop)
//	modules{state}                                  gauge: this node's modules by state
//	websocket_sessions                              gauge
//	websocket_bindings                              gauge
//	websocket_slow_disconnects_total                counter: sessions closed because their queue filled
//	websocket_refused_total{limit}                  counter: binds, debug streams and sessions refused by a limit (one of WSLimits)
//	http_connections                                gauge: open connections of the API listener
//	http_connections_refused_total{reason}          counter: connections refused by the connection limits, or idle ones closed for room (one of ConnRefusedReasons)
//	redis_errors_total{source}                      counter: failed commands (command) and lost pub/sub connections (pubsub)
//	redis_reconnects_total                          counter: pub/sub connection re-established
//	raft_state{state}                               gauge: 1 for this node's current Raft state
//	raft_leader_changes_total                       counter: new leaders this node has seen
//	raft_apply_duration_seconds                     histogram: one command through the log on the leader
//	build_duration_seconds{result}                  histogram: driver compiles (ok, failed)
//	build_failures_total                            counter
//	driver_build_failed{driver}                     gauge: 1 while a repository driver's latest build failed (its modules run the last good build)
package metrics
