package e2e

import (
	"testing"

	"github.com/placeos-go/engine/internal/enginetest"
)

// config is how the end-to-end tests run engines: on redisURL, logging at debug, the log copied
// into the test log under -v, with flags on every start.
func config(redisURL string, flags ...string) enginetest.Config {
	return enginetest.Config{Redis: redisURL, LogLevel: "debug", Flags: flags, LogToTest: true}
}

// startEngine runs a single-node `engine serve` named e2e with the given model and waits until
// it is ready. It is stopped with SIGTERM at the end of the test, and every driver process it
// started must be gone then.
func startEngine(t *testing.T, redisURL, modelYAML string) *enginetest.Node {
	t.Helper()
	return enginetest.StartEngine(t, config(redisURL), "e2e", modelYAML)
}
