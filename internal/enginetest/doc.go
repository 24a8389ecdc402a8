// Package enginetest runs real `engine serve` processes for the end-to-end tests (e2e), the
// benchmarks (scripts/bench) and the fault suite (scripts/chaos). It is imported only from
// _test.go files.
//
// What it offers:
//
//   - Node (node.go): one engine with its loopback addresses, data directory and log. Start,
//     Stop (SIGTERM), Kill (SIGKILL), Pause and Resume (SIGSTOP, SIGCONT) and Restart act on its
//     process; every process started is stopped when the test ends, and the test fails unless
//     the driver processes of every engine it stopped or killed are gone, and an engine
//     stopped with SIGTERM left nothing in its temp dir (a folder of the node's, removed with
//     what killed engines left when the test ends) but what it could not know of: a killed
//     predecessor's leftovers that no pid file names. StartEngine is a
//     single node bootstrapped with a model and ready; WriteModel writes a --model file.
//   - Cluster (cluster.go): nodes on one Redis; Start bootstraps the first with a model, joins
//     the others and waits until the cluster is healthy (WaitHealthy; Healthy checks once): one
//     agreed leader, every node up and ready, every module running exactly once. Join adds a
//     node; Live, Node, Leader and Placement find nodes and module owners.
//   - Waiting (wait.go): Node.Eventually and Cluster.Eventually are testutil.Eventually that
//     also fails at once when an engine exits on its own; Within returns a timeout as an error
//     for suites that record it and go on. A test that fails logs the tail of every engine's
//     log.
//   - engine dev --watch (devwatch.go): Config.Command "dev" runs `engine dev`; WatchedDriver is a
//     standalone driver repository whose answer() a save changes, StartDevWatch watches it,
//     SaveToAnswer times a save to the new answer, CallLoop calls it all along.
//   - HTTP (http.go): on a Node, Do (failing the test when the node is unreachable), Try,
//     Request (own context and timeout) and GetJSON, with optional headers (APIKey,
//     RequestID); the decoded cluster view (Info), loaded modules (Loaded), driver status
//     (Driver, DriverPID) and readiness (Ready); JSONEqual.
package enginetest
