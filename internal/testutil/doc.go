// Package testutil holds helpers shared by the engine's tests: building binaries from this
// module (build.go), watching processes through /proc (procs.go), running a real redis-server
// (redis.go), waiting for a condition with a deadline and collecting output (wait.go), writing
// a file as an editor saves it (files.go), counting goroutines by function for leak checks
// (goroutines.go).
package testutil
