package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// engine is one `engine serve` process under test.
type engine struct {
	t    *testing.T
	spec nodeSpec
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startEngine runs a single-node `engine serve` with the given model and waits until it is
// ready. It is stopped with SIGTERM at the end of the test, and every driver process it started
// must be gone then.
func startEngine(t *testing.T, redisURL, modelYAML, dataDir string, extraEnv ...string) *engine {
	t.Helper()
	modelPath := filepath.Join(t.TempDir(), "model.yaml")
	if err := os.WriteFile(modelPath, []byte(modelYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	e := launch(t, nodeSpec{id: "e2e", http: freeAddr(t), raft: "127.0.0.1:0", dataDir: dataDir, redisURL: redisURL, env: extraEnv},
		"--bootstrap", "--model", modelPath)
	e.waitReady()
	return e
}

// nodeSpec is what stays the same across restarts of one node.
type nodeSpec struct {
	id, http, raft, dataDir, redisURL string
	env                               []string
}

// launch starts `engine serve` for spec with extra flags; it does not wait for readiness.
func launch(t *testing.T, spec nodeSpec, extra ...string) *engine {
	t.Helper()
	bin := testutil.BuildBinary(t, "./cmd/engine")
	e := &engine{t: t, spec: spec, base: "http://" + spec.http, logs: &syncBuffer{}, done: make(chan struct{})}
	args := append([]string{"serve", "--node-id", spec.id, "--http-addr", spec.http, "--raft-addr", spec.raft,
		"--redis", spec.redisURL, "--data-dir", spec.dataDir, "--log-level", "debug", "--auth", "none"}, extra...)
	e.cmd = exec.Command(bin, args...)
	e.cmd.Env = append(os.Environ(), spec.env...)
	e.cmd.Stderr = io.MultiWriter(e.logs, testLogWriter{t, spec.id})
	e.cmd.Stdout = e.logs
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.cmd.Wait(); close(e.done) }()
	t.Cleanup(e.stop)
	return e
}

// waitReady waits until the node reports ready for the current epoch.
func (e *engine) waitReady() {
	e.t.Helper()
	e.waitFor(30*time.Second, e.spec.id+" ready", func() bool {
		resp, err := http.Get(e.base + "/api/core/v1/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// testLogWriter copies the engine's log into the test log only when -v is given.
type testLogWriter struct {
	t    *testing.T
	node string
}

func (w testLogWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Logf("%s: %s", w.node, strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// stop sends SIGTERM and checks that the engine stopped every driver process it started.
func (e *engine) stop() {
	select {
	case <-e.done:
		return
	default:
	}
	drivers := testutil.Children(e.cmd.Process.Pid)
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(20 * time.Second):
		_ = e.cmd.Process.Kill()
		e.t.Errorf("engine did not stop within 20s of SIGTERM")
		<-e.done
	}
	testutil.WaitGone(e.t, drivers...)
}

func (e *engine) waitFor(d time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s\nengine log tail:\n%s", d, what, tail(e.logs.String(), 4000))
		}
		select {
		case <-e.done:
			e.t.Fatalf("engine exited while waiting for %s\nengine log tail:\n%s", what, tail(e.logs.String(), 4000))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type response struct {
	status int
	body   string
	header http.Header
}

// do sends a request and fails the test if the node cannot be reached.
func (e *engine) do(method, path, body string) response {
	e.t.Helper()
	r, err := e.try(method, path, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// try sends a request; an unreachable node is an error, not a failure.
func (e *engine) try(method, path, body string) (response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}, nil
}

// driverPID returns the pid of the driver process of the given binary.
func (e *engine) driverPID(binary string) int {
	e.t.Helper()
	r := e.do("GET", "/api/core/v1/status/driver?path="+binary, "")
	if r.status != 200 {
		e.t.Fatalf("driver status: %d %s", r.status, r.body)
	}
	var st struct {
		PID     int  `json:"pid"`
		Running bool `json:"running"`
	}
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		e.t.Fatal(err)
	}
	return st.PID
}

func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON %q", want)
	}
	return reflect.DeepEqual(g, w)
}
