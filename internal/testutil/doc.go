// Package testutil holds helpers shared by the engine's tests: building binaries from this
// module (build.go), watching processes through /proc (procs.go) and running a real redis-server
// (redis.go).
package testutil
