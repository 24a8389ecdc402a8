package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// Response is one answer of an engine.
type Response struct {
	Status int
	Body   string
	Header http.Header
}

// Header is one header a request carries; an empty value is left out.
type Header struct{ Name, Value string }

// APIKey authenticates a request on a node started with --auth keys.
func APIKey(key string) Header { return Header{"X-API-Key", key} }

// RequestID sets the id the engine logs the request under.
func RequestID(id string) Header { return Header{"X-Request-ID", id} }

// do sends one JSON request bounded by timeout; an unreachable node is an error.
func do(ctx context.Context, client *http.Client, method, url, body string, timeout time.Duration, h ...Header) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range h {
		if h.Value != "" {
			req.Header.Set(h.Name, h.Value)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Body: string(b), Header: resp.Header}, err
}

// Request sends one request to the node with its own context and timeout.
func (n *Node) Request(ctx context.Context, method, path, body string, timeout time.Duration, h ...Header) (Response, error) {
	return do(ctx, n.cfg.Client, method, n.Base+path, body, timeout, h...)
}

// Try sends one request to the node bounded by Config.Timeout; an unreachable node is an error.
func (n *Node) Try(method, path, body string, h ...Header) (Response, error) {
	return n.Request(context.Background(), method, path, body, n.cfg.Timeout, h...)
}

// Do is Try failing the test when the node cannot be reached.
func (n *Node) Do(method, path, body string, h ...Header) Response {
	n.tb.Helper()
	r, err := n.Try(method, path, body, h...)
	if err != nil {
		n.tb.Fatalf("%s %s on %s: %v", method, path, n.ID, err)
	}
	return r
}

// GetJSON decodes a 200 answer to GET path into v.
func (n *Node) GetJSON(path string, v any) error {
	return n.getJSON(path, n.cfg.Timeout, v)
}

func (n *Node) getJSON(path string, timeout time.Duration, v any) error {
	r, err := n.Request(context.Background(), http.MethodGet, path, "", timeout, APIKey(n.cfg.APIKey))
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("GET %s on %s: %d %s", path, n.ID, r.Status, r.Body)
	}
	return json.Unmarshal([]byte(r.Body), v)
}

// Ready reports whether GET /api/core/v1/ready answers 200.
func (n *Node) Ready() bool {
	r, err := n.Try(http.MethodGet, "/api/core/v1/ready", "")
	return err == nil && r.Status == http.StatusOK
}

// ClusterInfo is GET /api/engine/v2/cluster.
type ClusterInfo struct {
	Leader string        `json:"leader"`
	Epoch  uint64        `json:"epoch"`
	Ready  bool          `json:"ready"`
	Nodes  []ClusterNode `json:"nodes"`
	// Unplaced are the running modules no up node may host.
	Unplaced []Unplaced `json:"unplaced"`
}

// Unplaced is a module no up node may host, and why.
type Unplaced struct {
	ID        string `json:"id"`
	Placement string `json:"placement"`
	Reason    string `json:"reason"`
}

// ClusterNode is one member as a node sees it.
type ClusterNode struct {
	ID      string            `json:"id"`
	State   string            `json:"state"`
	Ready   bool              `json:"ready"`
	Leader  bool              `json:"leader"`
	Modules int               `json:"modules"`
	Labels  map[string]string `json:"labels"`
	Voter   bool              `json:"voter"`
}

// Up counts the members in state up.
func (ci ClusterInfo) Up() int {
	k := 0
	for _, n := range ci.Nodes {
		if n.State == "up" {
			k++
		}
	}
	return k
}

// State is member id's state ("" if it is not a member).
func (ci ClusterInfo) State(id string) string {
	for _, n := range ci.Nodes {
		if n.ID == id {
			return n.State
		}
	}
	return ""
}

// Info is the node's view of the cluster.
func (n *Node) Info() (ClusterInfo, error) { return n.InfoWithin(n.cfg.Timeout) }

// InfoWithin is Info bounded by timeout, for callers polling faster than Config.Timeout.
func (n *Node) InfoWithin(timeout time.Duration) (ClusterInfo, error) {
	var ci ClusterInfo
	err := n.getJSON("/api/engine/v2/cluster", timeout, &ci)
	return ci, err
}

// Loaded is GET /api/core/v1/status/loaded: driver binary to the module ids the node runs.
func (n *Node) Loaded() (map[string][]string, error) {
	var loaded map[string][]string
	err := n.GetJSON("/api/core/v1/status/loaded", &loaded)
	return loaded, err
}

// DriverStatus is the part of GET /api/core/v1/status/driver the tests read.
type DriverStatus struct {
	PID      int  `json:"pid"`
	SparePID int  `json:"spare_pid"`
	Running  bool `json:"running"`
}

// Driver is the status of binary's driver process on the node.
func (n *Node) Driver(binary string) (DriverStatus, error) {
	var st DriverStatus
	err := n.GetJSON("/api/core/v1/status/driver?path="+binary, &st)
	return st, err
}

// DriverPID is the pid of binary's driver process on the node; the test fails unless it runs.
func (n *Node) DriverPID(binary string) int {
	n.tb.Helper()
	st, err := n.Driver(binary)
	if err != nil {
		n.tb.Fatalf("driver status of %s on %s: %v", binary, n.ID, err)
	}
	if !st.Running || st.PID <= 0 {
		n.tb.Fatalf("driver %s on %s does not run: %+v", binary, n.ID, st)
	}
	return st.PID
}

// JSONEqual reports whether got and want are the same JSON value (false if either is not JSON).
func JSONEqual(got, want string) bool {
	var g, w any
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	return reflect.DeepEqual(g, w)
}
