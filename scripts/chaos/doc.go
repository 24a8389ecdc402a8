// Package chaos is the engine's fault suite. It runs a real local cluster — three `engine serve`
// processes on loopback sharing one real redis-server, with the test driver (nine modules) and
// the example display driver (three modules, each against its own simulated display) — under a
// steady load, applies faults one at a time, and after each checks and prints the invariants.
//
// Load, running through every node for the whole run:
//   - execute: a few goroutines per node call echo on the test modules with ?timeout=, so every
//     call has a deadline the engine must answer within;
//   - model writes: one goroutine PUTs a new zone every 100 ms through the nodes in turn and
//     remembers every write the engine acknowledged (200, or 202 from a node whose own copy lags);
//   - bindings: one WebSocket session per node binds every display's volume, reconnecting and
//     rebinding as a PlaceOS front-end does when its node goes away.
//
// Faults (TestChaosShort applies one of each; TestChaosFull repeats them for a few minutes):
//   - repeated driver SIGKILLs: POST /api/core/v1/chaos/terminate for the test driver, and a plain
//     kill(pid) of the display driver;
//   - a forking driver's crash: a module of internal/baddriver started two children (one in a
//     session of its own); it is crashed, and both children must be gone when it is back;
//   - a hung driver: SIGSTOP of a driver process; the supervisor's Info probe must kill and
//     relaunch it;
//   - follower kill and return, leader kill and return (SIGKILL, then start again from the data
//     directory);
//   - Redis restart (a fresh server on the same port: connections drop and every key is gone);
//   - in TestChaosFull, whose Redis is a primary, a replica and three sentinels: the primary's
//     SIGKILL (the sentinels promote the replica and the nodes follow it; the old primary then
//     returns, empty, as the new one's replica);
//   - one node isolated from the others: SIGSTOP of its engine process for 5 s, then SIGCONT. This
//     stands in for a network partition: the others see its Raft and HTTP traffic stop exactly as
//     if its links were cut, and when it comes back its term, log and connections are stale. It
//     is harsher than a partition in one way (the node cannot act on its own side, e.g. step down
//     as leader or fail its own clients' calls) and needs neither root nor network namespaces;
//   - a node's disk filling: the third node's data directory is a small tmpfs, filled to ENOSPC
//     for a few seconds and then freed; once as it is, and once after node-3 was made the leader
//     (the leader of the moment frozen until another is elected, until the election falls on
//     node-3): a leader steps down at its first failed log write, and may hold last entries the
//     others never got, which the next leader's replace once the disk is freed. Mounting needs
//     CAP_SYS_ADMIN; without it these faults are reported as not applied (with the mount error)
//     and the rest of the suite runs. A read-only raft folder is no substitute: root, which the
//     suite usually runs as, writes through file permissions.
//
// Invariants, checked and printed after every fault:
//   - no acknowledged model write lost: every zone the engine answered 200 (or 202) for is on every node
//     (checked after each fault and once more at the end);
//   - every execute answered within its deadline (plus a small slack) with its result, or with a
//     documented error: 502/503/504 and a JSON body {"error": ..., "message": ...}. Calls to a node
//     the suite itself killed or froze during the call are counted as excused, not answered;
//   - every binding delivering again: after the fault each display's volume is changed and every
//     session must see the notify;
//   - modules back (answering through every live node) within the fault's target;
//   - after a Redis fault, every module's status back in Redis as it was before, written back by
//     the nodes hosting the modules;
//   - no driver process orphaned: every process running a driver binary that carries this run's
//     marker in its environment has a live engine of this run as its parent, and none is stopped.
//
// Run `go test ./scripts/chaos -run TestChaosShort -v` (about a minute; part of `make test`) or
// `CHAOS=full go test ./scripts/chaos -run TestChaosFull -v -timeout 20m` (`make chaos`).
package chaos
