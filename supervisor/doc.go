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
// Spares. With Config.Spare, a driver whose process has run StableAfter gets a second process of
// its binary, launched and initialised but with no module, which takes the process's place the
// moment it exits: the relaunch costs the modules their Starts, not a process start (spare.go).
// The exit is known from the zombie's exit status (/proc), before the /proc scan that kills what
// the process left behind and before it is reaped, so neither holds the relaunch (process.go,
// wait; bury finishes the dead process in the background). A spare that keeps failing (its
// launch, or exiting) is tried again after StableAfter, then after twice the last wait up to
// Config.SpareBackoffMax, with one WARN for the first failure in a row and one INFO line per
// repeat (spareretry.go).
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
// Config.OnProcessState is told when a process goes down unexpectedly (an exit or a failed
// relaunch, with the state and why) and when a relaunched one has started its modules and takes
// calls: a killed process cannot tell anyone its modules are gone, so the engine records it for
// them (module reads say connected false, with the reason).
//
// Launches. A launch (go-plugin's handshake line, then Init) must finish within
// Config.LaunchTimeout, 10 s by default: a real driver takes milliseconds, and every caller
// waiting for the driver (Start, the engine's reconcile pass) waits for the launch. A process
// that did not finish in time is killed with what it started and counts as a failed launch ("the
// driver did not complete go-plugin's handshake within 10s") in the backoff above; while its
// latest launch timed out, calls fail at once with ErrRestarting and that reason rather than
// wait for each retry. Stopping the driver's last module ends a launch in progress at once.
//
// A failed launch says why. A process that exits with a failure before its launch completed (a
// driver that cannot open its config and exits 3) fails with ErrLaunchExited, its exit status and
// its last 3 stderr lines (passed through Config.Scrub as its log lines are, then cut to 160 bytes
// each; from a Go panic its first line and the two after it): "driver process exited during its
// launch (exit status 3); its last lines on stderr: …". Only a process that wrote something other
// than go-plugin's handshake on stdout and then exited 0 or ran on (killed after a second) gets the
// hint that a driver binary must serve the engine's driver protocol and write nothing else to
// stdout. A driver's status counts launch_count, every launch tried on this node (failed ones
// included), and restart_count, the failed launches and unexpected exits since the last process
// that ran StableAfter (the count behind the backoff and "crashloop"): launch_count is never below
// restart_count.
//
// Slow starts. A module's Start or Update runs the driver's own code (its OnLoad), which may hang
// up to CallTimeout. Stop aborts one in flight (the supervisor stops waiting for it, and the
// module's Stop goes to the driver at once), and a Start or Update of the module waiting behind it
// gives up with its context. A launched process takes calls once its modules have started, or
// after 2 s with the slow ones still starting (a call to one of those reaches the driver before
// its Start returned, as a call does that comes while a module's first Start is on its way).
// A failed start is its caller's to report (the engine core logs it once): the supervisor logs
// a module's first start failing, and a launch failing before any of the driver's modules ran or
// failing as the last one did, at DEBUG; a module that fails to start again after a crash has no
// caller, and that is an ERROR.
//
// Hangs. Every ProbeInterval the supervisor calls Info with ProbeTimeout; a process that does not
// answer is killed and relaunched like a crashed one.
//
// Fencing. With Config.FenceAfter, every process gets a Heartbeat every HeartbeatInterval from a
// goroutine of its own that holds no lock (fence.go); a process that hears none for FenceAfter
// (this engine frozen: SIGSTOP, a long pause) stops its modules and exits with
// plugin.FencedExitCode (plugin's fence.go), before the other nodes start its modules. Its exit is
// logged as a crash with reason "fenced: …", and it is relaunched once Config.InContact says a
// leader has reached the node since (meanwhile the engine stops what moved away). A driver
// built before Heartbeat answers it Unimplemented: one INFO line, and no more heartbeats to it.
//
// Replaced binaries. A driver is keyed by its binary's path, and a process keeps the file it was
// started from: a new binary renamed over the path (writing over a running binary fails with
// "text file busy"; a recompile of the same commit, an operator's new prebuilt binary) is not
// what the process runs. The probe notices it (/proc/<pid>/exe is no longer the file at the
// path) and Reload compares content, SHA-256 of /proc/<pid>/exe against the file: a
// bit-identical file changes nothing (one DEBUG line); a different one is loaded without a gap,
// as Move moves modules to a new commit: a second process of the path is launched (a new driver
// entry that takes the path's place, so a module started meanwhile starts there), every module
// is started in it before its old instance stops and its calls in flight finish, then the old
// process ends. One INFO line names the old and new SHA-256. A module whose start fails in the
// new process keeps running in the old one (WARN, and Reload's error); so does every module
// when the new process does not launch. Start and Update of a module moved meanwhile go to its
// new instance. A driver that changes on every build gets a new path per build (the builder's
// commits, `engine dev --watch`), and its modules move to it with Move.
//
// Nothing left behind. Each driver process runs in its own process group (Setpgid; not its own
// session, which Linux's autogroup scheduling would make a CPU group of its own: see family)
// with ENGINE_DRIVER_INSTANCE=<random mark> in its environment. Every way a process ends —
// crash, hang kill, stop, move, Close — kills what it started: the processes of its group and
// those carrying its mark (a child that called setsid or setpgid has left the group but kept the
// environment), SIGTERM then SIGKILL after a second, before the exited driver is reaped (while
// it is a zombie its pid, the group id, cannot be reused). The exit is seen when the
// process itself ends, not when its stdout/stderr close (a child holding them would hide it).
// With a RunDir, every running process has a <pid>.pid file (binary, absolute and resolved
// whatever --driver-dir was; mark, start time, socket folder, the engine's pid and start time);
// New kills what such files name, left by an engine that was killed. Nothing a pid file names,
// whether found by its pid, its group or its mark, is touched while the engine it records (pid
// and start time) still runs and is not this one: a node started on a copy of another node's
// data directory finds that node's pid files, leaves its drivers running with their socket
// folders, and one INFO line says so. A pid file of an engine that did not record itself goes by
// the driver's parent, which for a killed engine's drivers is init or a subreaper. The pid
// file's process is the driver only if it started at the recorded time and runs the recorded
// binary (a relative one, as older engines wrote, from the driver's working directory) or
// carries the recorded mark: a pid since reused by another engine's driver of the same binary is
// not killed. Without cgroups a descendant that both leaves the group and clears its
// environment is not caught.
//
// Socket folders. go-plugin makes a folder $TMPDIR/plugin-dir* per process for its unix sockets
// and removes it in Client.Kill, which every exit above reaches; a launch whose process never
// started is cleaned by launch itself (go-plugin skips it then). A killed engine's are removed by
// New from the pid files, but only a plugin-dir* right in the temp dir, of the engine's user,
// holding nothing but sockets (socketdir.go): a pid file is a path from disk, and a tampered
// one must not make the engine delete its data dir. The pid file is written the moment the
// process started, so an engine killed during the handshake leaves nothing unrecorded either.
//
// Cgroups. With Config.Cgroups and a delegated cgroup v2 group (cgroup.go), each process runs in
// a group of its own: memory.max is its limit, memory.events tells an OOM kill, and cgroup.kill
// ends everything in it on every exit and at start-up for groups a killed engine left.
//
// Idle drivers. A driver with no module is never relaunched: once its last module stopped or
// moved away (or a move to it failed), its goroutine ends instead of restarting a process that
// crash-loops for ever.
//
// Memory. Config.MemoryLimit gives a binary's limit: memory.max of its cgroup, else RLIMIT_DATA
// (see limitMemory for why not RLIMIT_AS); GOMEMLIMIT at 90 % of it in the environment, and
// oom_score_adj 500 (or the engine's own + 100) so the kernel picks a driver before the engine.
// A driver over it dies (the runtime's "fatal error: … out of memory" or "… cannot allocate
// memory", isOutOfMemory, or an OOM kill in its cgroup); the
// supervisor logs "driver killed: out of memory (limit 512MiB)", counts
// engine_driver_out_of_memory_total, puts it in last_error and relaunches with backoff.
//
// Logs. A driver's hclog JSON lines (its stderr pipe) go into the engine's log at their level;
// its plain lines (os.Stdout/os.Stderr, which plugin.Serve redirects over go-plugin's stdio
// stream, and the runtime's panics on the pipe) at WARN. Both pass a token bucket per module
// (Config.LogRate, LogBurst; lines below the log level are not counted); over it, lines are
// dropped, one "driver log lines dropped" WARN per module and flood says how many, and
// engine_driver_log_lines_dropped_total counts them. A process that keeps flooding is read more
// slowly (floodDrops), so it blocks on its writes rather than burn the node's CPU. Their messages
// and field names are written with control characters escaped (logsafe.go), so a driver cannot
// forge a line that reads as the engine's or drive the operator's terminal. go-plugin's own
// lines that repeat the supervisor's ("plugin process exited", "plugin failed to exit gracefully",
// a stdout read ending on the closed pipe) are logged at DEBUG (pluginLogger).
//
// Identity. Each process gets a Host service of its own (guardedHost) that knows which modules
// it hosts, from just before their Start until their Stop returned: a host call naming any other
// module as its caller is refused with PermissionDenied and one WARN per process and module, so
// a driver cannot write another driver's statuses or settings. A stopped module's last status or
// log line is dropped quietly.
//
// Metadata. Every launch reads the process's metadata; when a relaunch's differs from the last
// process's (a binary rebuilt at the same path), Config.OnMetadata is told, so its new
// functions can be called without restarting the modules.
package supervisor
