package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// engine is one `engine serve` process under test.
type engine struct {
	t    *testing.T
	spec nodeSpec
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	logs *enginetest.LockedBuffer
	done chan struct{}
}

func freeAddr(t *testing.T) string { return enginetest.FreeAddr(t) }

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
	e := &engine{t: t, spec: spec, base: "http://" + spec.http, logs: &enginetest.LockedBuffer{}}
	e.cmd = exec.Command(bin, enginetest.ServeArgs(spec.id, spec.http, spec.raft, spec.redisURL, spec.dataDir, "debug", extra...)...)
	e.cmd.Env = append(os.Environ(), spec.env...)
	e.cmd.Stderr = io.MultiWriter(e.logs, testLogWriter{t, spec.id})
	e.cmd.Stdout = e.logs
	e.done = enginetest.Start(t, e.cmd)
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
func (e *engine) stop() { enginetest.Terminate(e.t, "engine "+e.spec.id, e.cmd, e.done) }

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
	r, err := enginetest.LegacyDo(context.Background(), http.DefaultClient, method, e.base+path, body, 30*time.Second)
	if err != nil && r.Status == 0 {
		return response{}, err
	}
	return response{status: r.Status, body: string(r.Body), header: r.Header}, nil
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
