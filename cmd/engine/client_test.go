package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
)

func TestServerURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"127.0.0.1:8080", "http://127.0.0.1:8080"},
		{" https://engine.example.com/ ", "https://engine.example.com"},
		{"HTTP://node-1:8080/", "http://node-1:8080"},
		{"https://example.com/engine/", "https://example.com/engine"},
		{"ftp://node-1:21", ""},
		{"http://", ""},
		{"node-1:8080/?x=1", ""},
	} {
		got, err := serverURL(tt.in)
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), "http(s)://host:port or host:port") {
				t.Errorf("serverURL(%q) = %q, %v; want an error naming the forms", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("serverURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestCallHints: the client subcommands say what to fix for the two usual mistakes: no API key,
// and --server naming a cluster port (which answers no one but nodes).
func TestCallHints(t *testing.T) {
	t.Setenv("ENGINE_API_KEY", "")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"unauthorized","message":"credentials required"}`))
	}))
	defer ts.Close()
	if err := call(context.Background(), http.MethodGet, ts.URL+"/api/engine/v2/cluster", nil, nil); err == nil ||
		!strings.Contains(err.Error(), "set ENGINE_API_KEY") {
		t.Fatalf("401 without a key: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close() // a cluster port refusing a connection without proof
		}
	}()
	if err := call(context.Background(), http.MethodGet, "http://"+ln.Addr().String()+"/api/engine/v2/cluster", nil, nil); err == nil ||
		!strings.Contains(err.Error(), "--http-addr") {
		t.Fatalf("a cluster port as --server: %v", err)
	}
}

// TestNoEngineHint: engine status and apply with nothing at --server (the port closed, or a host
// with no address) say how to start a node or name one; other failures are left as they are.
func TestNoEngineHint(t *testing.T) {
	t.Setenv("ENGINE_SERVER", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close() // nothing listens there now: connection refused
	want := "no engine answers at " + closed + ": start one (make run) or point at one with --server URL or ENGINE_SERVER"
	for cmd, run := range map[string]func() error{
		"status": func() error { return status(context.Background(), []string{"--server", closed}) },
		"apply":  func() error { return apply(context.Background(), []string{"--server", closed, "-f", writeModel(t)}) },
	} {
		if err := run(); err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("engine %s with nothing listening: %v; want %q and the cause", cmd, err, want)
		}
	}

	noHost := &net.DNSError{Err: "no such host", Name: "node-9", IsNotFound: true}
	if err := noEngineHint("http://node-9:8080", fmt.Errorf("dial: %w", noHost)); !strings.HasPrefix(err.Error(), "no engine answers at http://node-9:8080: ") {
		t.Errorf("no such host: %v", err)
	}
	other := errors.New("http://x/api/engine/v2/cluster: HTTP 500: boom")
	if err := noEngineHint("http://x", other); err != other {
		t.Errorf("another failure was changed: %v", err)
	}
}

func writeModel(t *testing.T) string {
	t.Helper()
	f := t.TempDir() + "/model.yaml"
	testutil.WriteFile(t, f, "zones: [{id: zone-1, name: Z}]\n")
	return f
}

// TestStatusListsUnreachableModules: a node listed up that does not answer (no leader is left to
// mark it down) keeps its modules in the MODULE table, owned by it and marked unreachable, from
// the model; the modules the model has stopped are not listed. The node table's READY is each
// node's own answer, `?` for the one that does not answer: the cluster's table, which no leader
// updates, still said true of both (a cut-off node answering 503 not ready read as ready).
func TestStatusListsUnreachableModules(t *testing.T) {
	t.Setenv("ENGINE_API_KEY", "")
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.Addr().String()
	_ = gone.Close()
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	defer ts.Close()
	answer := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }
	}
	mux.Handle("GET /api/engine/v2/cluster", answer(fmt.Sprintf(`{"leader": "", "epoch": 3, "nodes": [
		{"id": "node-1", "http_addr": %q, "state": "up", "ready": true, "modules": 1},
		{"id": "node-2", "http_addr": %q, "state": "up", "ready": true, "modules": 1}]}`, goneAddr, strings.TrimPrefix(ts.URL, "http://"))))
	mux.Handle("GET /api/core/v1/status", answer(`{"node": "node-2", "ready": false, "modules": [{"id": "mod-2", "driver": "drv", "running": true}],
		"drivers": [{"driver": "drv", "state": "running", "pid": 100, "spare_pid": 101, "module_instances": 1},
			{"driver": "drv-old", "state": "restarting", "pid": 0, "spare_pid": 0, "module_instances": 1, "restart_count": 1},
			{"driver": "drv-port", "state": "running", "pid": 200, "spare_pid": 0, "module_instances": 1,
			 "spare_error": "launch failed: driver process exited during its launch (exit status 3)\nmore"}]}`))
	mux.Handle("GET /api/engine/v2/model", answer(`{"modules": [
		{"id": "mod-1", "driver_id": "drv", "running": true},
		{"id": "mod-2", "driver_id": "drv", "running": true},
		{"id": "mod-3", "driver_id": "drv", "running": false}]}`))

	var out strings.Builder
	err = printStatus(context.Background(), &out, ts.URL)
	if !errors.Is(err, errDegraded) || !strings.Contains(err.Error(), "node-1 does not answer") {
		t.Errorf("exit error %v; want the cluster degraded, node-1 not answering", err)
	}
	t.Logf("engine status:\n%s", out.String())
	lines := strings.Split(out.String(), "\n")
	for _, want := range [][]string{{"node-1", goneAddr, "unreachable", "?"}, {"node-2", strings.TrimPrefix(ts.URL, "http://"), "up", "false"}} {
		if !slices.ContainsFunc(lines, func(l string) bool { f := strings.Fields(l); return len(f) >= 4 && slices.Equal(f[:4], want) }) {
			t.Errorf("node table:\n%s\nwant a row starting %q", out.String(), strings.Join(want, " "))
		}
	}
	// The driver table: SPARE is the spare process's pid, "-" without one.
	for _, want := range []string{"node-2 drv running 100 101 1 0", "node-2 drv-old restarting 0 - 1 1",
		"node-2 drv-port running 200 - 1 0 spare launch failed: driver process exited during its launch (exit status 3)"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Join(strings.Fields(l), " ") == want }) {
			t.Errorf("driver table:\n%s\nwant a row %q", out.String(), want)
		}
	}
	_, table, _ := strings.Cut(out.String(), "\nMODULE")
	rows := strings.Fields(strings.ReplaceAll(table, "\n", " | "))
	want := strings.Fields("OWNER STATE LAST ERROR | mod-1 node-1 (unreachable) unknown its node does not answer | mod-2 node-2 running |")
	if !slices.Equal(rows, want) {
		t.Errorf("MODULE table:\n%s\nwant the rows %q", out.String(), strings.Join(want, " "))
	}
}

// Every way net/http reports a server that closed the connection without answering gets the
// cluster-port hint (which one it reports depends on timing).
func TestHungUp(t *testing.T) {
	t.Parallel()
	for _, err := range []error{io.EOF, syscall.ECONNRESET, syscall.EPIPE, errors.New("http: server closed idle connection")} {
		wrapped := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: err}
		if !hungUp(wrapped) {
			t.Errorf("%v: not taken for a hang-up", wrapped)
		}
	}
	if hungUp(&url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: syscall.ECONNREFUSED}) {
		t.Error("a refused connection taken for a hang-up")
	}
}

// TestStatusKeepsHTTPS: engine status asks every node with --server's scheme. Each request carries
// ENGINE_API_KEY, so an https cluster's nodes must not be asked at http:// (the key in clear).
func TestStatusKeepsHTTPS(t *testing.T) {
	t.Setenv("ENGINE_API_KEY", "admin-key-0123456789")
	mux := http.NewServeMux()
	ts := httptest.NewTLSServer(mux)
	defer ts.Close()
	saved := http.DefaultClient.Transport
	http.DefaultClient.Transport = ts.Client().Transport // trusts the test server's certificate
	defer func() { http.DefaultClient.Transport = saved }()
	mux.Handle("GET /api/engine/v2/cluster", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, `{"leader": "node-1", "epoch": 3, "ready": true, "nodes": [{"id": "node-1", "http_addr": %q, "state": "up", "ready": true, "leader": true}]}`,
			strings.TrimPrefix(ts.URL, "https://"))
	}))
	mux.Handle("GET /api/core/v1/status", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"node": "node-1", "ready": true}`))
	}))
	mux.Handle("GET /api/engine/v2/model", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{}`)) }))
	var out strings.Builder
	if err := printStatus(context.Background(), &out, ts.URL); err != nil {
		t.Fatalf("engine status of an https cluster: %v\n%s", err, out.String())
	}
}
