// Package bench holds the benchmarks that need the whole engine, each measured side by side with
// its baseline in one run and printed as a markdown table for BENCHMARKS.md (scripts/bench.sh):
//
//   - BenchmarkExecute: REST execute against a bare proxy (a plain net/http handler making the
//     same go-plugin gRPC call, in a process of its own) and against the direct gRPC call, at 1
//     and 32 clients, with the engine's own allocations per call (allocs-own).
//   - BenchmarkCluster*: on a local 3-node cluster, leader kill to new leader, node kill to its
//     modules answering elsewhere, modules moved on join and leave against the ideal, and
//     execute through a non-owner node against execute at the owner.
//   - BenchmarkSDK*: commands per second through one module's queue, memory per idle module.
//   - BenchmarkWS*: WebSocket notify fan-out to 1000 sessions against a bare gorilla hub,
//     memory per idle session against a bare gorilla session, and exec over one session against
//     a bare gorilla echo-to-gRPC loop.
//   - BenchmarkStartup1000Modules: one node starting 1000 modules against the same modules
//     started directly through go-plugin, with memory.
//   - BenchmarkRedisRestore: Redis restarted empty under a node hosting 1000 modules with 10
//     statuses each; the node's write-back against a bare go-redis pipeline writing the same
//     fields, and the time until every status is back.
//   - BenchmarkDevWatchSaveToAnswer: `engine dev --watch` on a driver repository, a save to the
//     first execute answering the new code (s-save-to-answer) against a plain `go build` of the
//     same folder (s-go-build).
//   - BenchmarkStatusFlood: a healthy module's execute p50/p99 while a raw driver floods
//     statuses, against the same without the flood, with the default --driver-status-rate and
//     with it off, and the engine's CPU seconds per second in each phase.
//
// Run them all with `make bench` (scripts/bench.sh, which writes BENCHMARKS.md), or one family
// with e.g. `go test -run '^$' -bench '^BenchmarkCluster' -benchtime 1x ./scripts/bench/`.
package bench
