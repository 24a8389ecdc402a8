package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
)

// The bare forwarder is BenchmarkClusterExecuteNonOwner's floor for an execute through a node
// that does not host the module: a plain net/http handler that reads the request and sends it
// on, method, path, Content-Type and body, to the owner's own client API with a keep-alive
// net/http client, and answers with the owner's status, Content-Type and body; it runs with the
// GOMAXPROCS the non-owner engine chose for itself on this machine. No auth, no
// metadata check, no ring, no exec protocol: one HTTP hop in front of the owner, in a process of
// its own, as a non-owner is. What the engine's non-owner costs beyond it is the cost of what it
// does; what the forwarder costs over calling the owner directly is the cost of any extra hop on
// this machine (at 1 client mostly the wake-ups of one more process, twice per call).

// forwardToEnv names the owner's base URL for the forwarder process.
const forwardToEnv = "CLUSTERBENCH_FORWARD_TO"

// forwarder is a running bare forwarder process.
type forwarder struct {
	base string // http://host:port
	pid  int
}

// startForwarder runs the bare forwarder in front of the node owner, with the GOMAXPROCS the
// node beside it (like) chose for itself (this test binary re-run as
// TestClusterBenchForwarderProcess), until the benchmark ends.
func startForwarder(b *testing.B, owner, like *enginetest.Node) *forwarder {
	b.Helper()
	c := startChild(b, "TestClusterBenchForwarderProcess", forwardToEnv+"="+owner.Base, maxProcsOf(b, like))
	return &forwarder{base: "http://" + c.line(b, "addr "), pid: c.cmd.Process.Pid}
}

// maxProcsOf is GOMAXPROCS=<n> for a child process: the GOMAXPROCS the node like chose for itself.
func maxProcsOf(b *testing.B, like *enginetest.Node) string {
	b.Helper()
	m := regexp.MustCompile(`runtime:.* gomaxprocs=(\d+)`).FindStringSubmatch(like.Logs().String())
	if m == nil {
		b.Fatalf("%s logged no runtime line with gomaxprocs", like.ID)
	}
	return "GOMAXPROCS=" + m[1]
}

// TestClusterBenchForwarderProcess is the bare forwarder process (see startForwarder): it writes
// "addr HOST:PORT" on stdout and serves until its input ends.
func TestClusterBenchForwarderProcess(t *testing.T) {
	target := os.Getenv(forwardToEnv)
	if target == "" {
		return // only BenchmarkClusterExecuteNonOwner runs it, as its child
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Header["Content-Type"] = r.Header["Content-Type"]
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header()["Content-Type"] = resp.Header["Content-Type"]
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	fmt.Printf("addr %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// The bare relay is the floor under the bare forwarder: a process that copies bytes between each
// client connection and a connection of its own to the owner's client API, parsing nothing. No
// way of sending a call through one more process can cost less than it on this machine: what it
// costs is the extra process's wake-ups and copies alone.

// relayToEnv names the owner's host:port for the relay process.
const relayToEnv = "CLUSTERBENCH_RELAY_TO"

// startRelay runs the bare relay in front of the node owner, with the GOMAXPROCS the node beside
// it (like) chose for itself, until the benchmark ends.
func startRelay(b *testing.B, owner, like *enginetest.Node) *forwarder {
	b.Helper()
	c := startChild(b, "TestClusterBenchRelayProcess", relayToEnv+"="+strings.TrimPrefix(owner.Base, "http://"), maxProcsOf(b, like))
	return &forwarder{base: "http://" + c.line(b, "addr "), pid: c.cmd.Process.Pid}
}

// TestClusterBenchRelayProcess is the bare relay process (see startRelay): it writes
// "addr HOST:PORT" on stdout and relays until its input ends.
func TestClusterBenchRelayProcess(t *testing.T) {
	target := os.Getenv(relayToEnv)
	if target == "" {
		return // only BenchmarkClusterExecuteNonOwner runs it, as its child
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); _ = out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	fmt.Printf("addr %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// echoAt runs echo([1]) on a module by id through the client API at base, as execEcho does
// through a node.
func echoAt(base, module string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/engine/v2/modules/"+module+"/exec/echo", strings.NewReader("[1]"))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != "[1]" {
		return fmt.Errorf("echo on %s through %s: %d %s", module, base, resp.StatusCode, body)
	}
	return nil
}
