// Package core is the engine core: it makes this node true to the desired model and serves the
// engine at run time.
//
// The reconciler (reconcile.go, build.go) watches the model and the cluster's membership. For
// every module marked running and owned by this node (placement's ring over the up nodes, or over
// those its placement constraint selects; a module none of them satisfies is unplaced and
// answers 503: placement.go) it
// starts the module in its driver's process with merged settings, sends settings and connection
// changes as updates, moves modules to new driver binaries without a gap, stops what should no
// longer run, writes each module's metadata and the system lookups this node owns to Redis, and
// then marks the node ready for the membership epoch through Raft (cluster.go). It tells the
// state store what the node hosts (Share in deps.go: modules before they start and when they
// stop, the systems it owns), and the store writes all of that back if Redis loses it. The
// leader also keeps the cluster's members in Redis (state.ClusterKey, cluster.go), checked every
// 2 s apart from the passes, so that nothing a pass waits for keeps the record away. A module
// deleted from the model has its Redis keys deleted, after it stopped, by the one node that would
// host it now (forget.go: that is its host while the host is up), or after 30 s by any node that
// saw it leave, as that node may have restarted since and know nothing of it; a status its old instance sets
// afterwards is dropped. What a deletion no node lived to finish left behind, the leader's sweep
// deletes (sweep.go: ids the model lacked at two sweeps in a row, every Config.SweepEvery).
//
// A pass waits at most 2 s for the starts, updates and moves it began (modop.go): one that hangs
// in the driver's own code goes on in the background, later passes leave its module alone, and
// its end asks for another pass. A module that should stop meanwhile has it canceled first, so
// it ends stopped. Ready for a membership epoch means a pass of that epoch has acted on every
// module the node owns: each runs, or its start failed, or its start, update or move was still in
// flight after the pass's whole wait; a start that answers within the wait is waited for. A start
// in flight reads like a failed one: connected false (on its owner at once, everywhere once
// recorded; status/loaded lists it, as its process holds it), and after the wait a runtime error recorded in Redis, "start
// has not answered for N s" (N counted when read), cleared when the start succeeds
// (hungstart.go). So a driver stuck in one module's OnLoad holds neither the node's /ready nor
// the cluster's `ready`, as a start that fails at once never did. A failed start is one ERROR
// line (the supervisor and the SDK say it at DEBUG), and the same failure on the next passes
// DEBUG; a start that has not answered is one WARN. A settings update the driver refuses (supervisor.Refusal) is
// recorded in Redis like a failed start, so a read of the module shows it (runtime_error,
// has_runtime_error; the module runs on, so connected stands) until an update is accepted or the
// module stops here (runtime.go). A running module whose driver process goes down (it exited or
// its relaunch failed; the supervisor's OnProcessState says so) is recorded alike, with why
// ("driver process is crash-looping (5 restarts): exit status 9"): connected false on every node
// until a relaunched process has started it again. The record is written when the process goes
// down and when it turns to crash-looping, off the supervisor's goroutine, not on every restart
// (processdown.go).
//
// At run time it is the one path of every execute (execute.go): REST, WebSocket, drivers calling
// other modules and calls forwarded by other nodes all go through Execute, which refuses
// identifiers past 255 bytes and arguments that are not UTF-8 (input.go), resolves the target,
// checks the function, the caller's clearance and the arguments against the module's metadata
// (functions.go), and runs the call here or forwards it to the owner. Driver callbacks
// (host.go: statuses, calls, subscriptions, settings) come in through the supervisor; a driver's
// calls act for the caller of the execute it is serving (calls.go).
//
// It never speaks HTTP and never touches Redis, Raft or driver processes directly: it goes
// through the small interfaces of deps.go, wired in cmd/engine.
package core
