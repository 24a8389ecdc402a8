package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// refusedWithin bounds a start the engine must refuse: it exits long before this.
const refusedWithin = 30 * time.Second

// runEngine runs the engine binary with args until it exits (killed after within, failing the
// test) and returns its exit status and everything it printed.
func runEngine(t *testing.T, within time.Duration, args ...string) (int, string) {
	t.Helper()
	bin := testutil.BuildBinary(t, "./cmd/engine")
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("engine %s did not exit within %s:\n%s", strings.Join(args, " "), within, tail(out))
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("engine %s: %v", strings.Join(args, " "), err)
	return 0, ""
}

func tail(b []byte) string {
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// serveArgs are the flags of a loopback node whose data directory is dir, on fresh ports.
func serveArgs(t *testing.T, id, dir, redisURL string, more ...string) []string {
	return append([]string{"serve", "--node-id", id, "--data-dir", dir, "--redis", redisURL,
		"--http-addr", testutil.FreeAddr(t), "--raft-addr", testutil.FreeAddr(t), "--log-level", "debug"}, more...)
}

// mustBeAbsent fails the test when the refused start created the data directory.
func mustBeAbsent(t *testing.T, dir, out string) {
	t.Helper()
	if entries, err := os.ReadDir(dir); !os.IsNotExist(err) {
		t.Fatalf("the refused start created the data directory %s (%d entries):\n%s", dir, len(entries), tail([]byte(out)))
	}
}

// TestStartRefusalsTouchNothing: an `engine serve` process refused at start exits 1 with a message
// naming what to fix, and leaves no data directory behind.
func TestStartRefusalsTouchNothing(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	for _, tt := range []struct {
		name  string
		args  []string
		wants []string // in the output
	}{
		{"unknown log level", []string{"--auth", "none", "--bootstrap", "--log-level", "verbose"},
			[]string{`--log-level must be trace, debug, info, warn (or warning) or error, not "verbose"`}},
		{"redis unreachable", []string{"--auth", "none", "--bootstrap", "--redis", "redis://127.0.0.1:1/0"},
			[]string{"engine: redis redis://127.0.0.1:1/0", "connection refused", "start redis-server, or name another Redis with --redis"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			code, out := runEngine(t, refusedWithin, serveArgs(t, "refused", dir, redis.URL, tt.args...)...)
			if code != 1 {
				t.Fatalf("exit status %d, want 1:\n%s", code, tail([]byte(out)))
			}
			for _, want := range tt.wants {
				if !strings.Contains(out, want) {
					t.Errorf("the output does not say %q:\n%s", want, tail([]byte(out)))
				}
			}
			mustBeAbsent(t, dir, out)
		})
	}
}
