// The helpers below are the ones scripts/bench and scripts/chaos used before the harness;
// they go once both suites run on it.

package enginetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// LockedBuffer collects an engine's log; the process writes while the test reads the tail.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Tail is the last n bytes of the log.
func (l *LockedBuffer) Tail(n int) string {
	s := l.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// ServeArgs is the `engine serve` command line of one node with auth off.
func ServeArgs(id, httpAddr, raftAddr, redisURL, dataDir, logLevel string, extra ...string) []string {
	return append([]string{"serve", "--node-id", id, "--http-addr", httpAddr, "--raft-addr", raftAddr,
		"--redis", redisURL, "--data-dir", dataDir, "--log-level", logLevel, "--auth", "none"}, extra...)
}

// Start starts cmd; the returned channel closes once the process has exited and been reaped.
func Start(tb testing.TB, cmd *exec.Cmd) chan struct{} {
	tb.Helper()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return done
}

// Terminate stops an engine gracefully (SIGKILL after 20 s) and waits for every driver process
// it started to exit, so that an engine leaking its drivers fails the test. A process already
// gone is left alone.
func Terminate(tb testing.TB, name string, cmd *exec.Cmd, done <-chan struct{}) {
	select {
	case <-done:
		return
	default:
	}
	drivers := testutil.Children(cmd.Process.Pid)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		tb.Errorf("%s (pid %d) did not stop within 20s of SIGTERM", name, cmd.Process.Pid)
		<-done
	}
	testutil.WaitGone(tb, drivers...)
}

// LegacyResponse is one answer of an engine.
type LegacyResponse struct {
	Status int
	Body   []byte
	Header http.Header
}

// LegacyDo sends one JSON request bounded by timeout; an unreachable node is an error.
func LegacyDo(ctx context.Context, client *http.Client, method, url, body string, timeout time.Duration) (LegacyResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return LegacyResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return LegacyResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return LegacyResponse{Status: resp.StatusCode, Body: b, Header: resp.Header}, err
}

// getJSON decodes a 200 answer to GET base+path into v.
func getJSON(client *http.Client, base, path string, timeout time.Duration, v any) error {
	r, err := LegacyDo(context.Background(), client, http.MethodGet, base+path, "", timeout)
	if err != nil {
		return err
	}
	if r.Status != 200 {
		return fmt.Errorf("GET %s on %s: %d %s", path, base, r.Status, r.Body)
	}
	return json.Unmarshal(r.Body, v)
}

// LegacyCluster fetches the cluster view of the node at base.
func LegacyCluster(client *http.Client, base string, timeout time.Duration) (ClusterInfo, error) {
	var ci ClusterInfo
	err := getJSON(client, base, "/api/engine/v2/cluster", timeout, &ci)
	return ci, err
}

// Loaded fetches GET /api/core/v1/status/loaded of the node at base: driver binary to the
// module ids it runs there.
func Loaded(client *http.Client, base string, timeout time.Duration) (map[string][]string, error) {
	var loaded map[string][]string
	err := getJSON(client, base, "/api/core/v1/status/loaded", timeout, &loaded)
	return loaded, err
}

// AddOwners records node as the owner of every module in its loaded map; it returns a module
// already owned by another node ("" if none), since a module must run exactly once.
func AddOwners(owners map[string]string, node string, loaded map[string][]string) (dup string) {
	for _, mods := range loaded {
		for _, m := range mods {
			if _, ok := owners[m]; ok {
				return m
			}
			owners[m] = node
		}
	}
	return ""
}
