// Package supervisor owns the driver processes of this node: one go-plugin process per driver
// binary, hosting many modules. It starts, updates and stops modules, runs calls with deadlines,
// fans a module's debug log lines out to listeners, and keeps processes alive.
//
// Crashes. The supervisor learns that a process exited from the process itself (its own
// go-plugin runner waits on it), not from gRPC, so calls in flight fail at once with
// ErrProcessExited. It logs one ERROR line (driver, pid, exit_status, restart_count, modules),
// relaunches, re-sends Start for every module (calling Config.OnModuleStart first) and re-enables
// debug forwarding for modules that still have listeners.
//
// Backoff. The first relaunch after a stable run is immediate, so a single crash costs the
// modules only the launch time; each further crash within Config.StableAfter of its launch waits
// BackoffInitial, doubling up to BackoffMax. After CrashloopAfter such restarts the driver shows
// state "crashloop" (with the last error) and is still retried.
//
// Calls that arrive while a process is being relaunched wait for it within their own deadline
// (and the exec timeout) and then fail with ErrRestarting; in state "crashloop" they fail with
// ErrRestarting at once rather than queue behind a process that keeps dying.
//
// Hangs. Every ProbeInterval the supervisor calls Info with ProbeTimeout; a process that does not
// answer is killed and relaunched like a crashed one.
//
// Replaced binaries. A driver is keyed by its binary's path, and a process keeps the file it was
// started from: a new binary renamed over the path (writing over a running binary fails with
// "text file busy") is not loaded until all of the driver's modules stop, which ends the
// process, and start again. The probe notices it (/proc/<pid>/exe is no longer the file at the
// path) and logs one WARN per process saying so and what to do. A driver that changes on every
// build gets a new path per build (the builder's binaries, `engine dev --watch`), and its
// modules move to it without a gap (Move).
//
// Process groups. Each driver runs in its own process group, which is killed when the driver
// stops and on Close. With a RunDir, every running process has a <pid>.pid file naming its
// binary; New kills the groups of such processes left behind by an engine that was killed.
package supervisor
