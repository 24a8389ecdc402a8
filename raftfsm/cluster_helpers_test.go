package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
)

// httpForwarder is a minimal real HTTP implementation of Forwarder, like the one cmd/engine
// wires: POST the command to the leader, which answers with the error's kind as the status. The
// engine reaches the leader on its cluster port (its Raft address); these tests serve the apply
// route on a listener of its own, which httpOf finds from the Raft address.
type httpForwarder struct {
	client *http.Client
	httpOf func(raftAddr string) string
}

func (f httpForwarder) Forward(ctx context.Context, raftAddr string, cmd []byte) error {
	addr := f.httpOf(raftAddr)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/apply", bytes.NewReader(cmd))
	if err != nil {
		return errkind.Wrap(errkind.Internal, err, "forward")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return errkind.Wrap(errkind.Unavailable, err, "forward to %s", addr)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return errkind.Wrap(errkind.Unavailable, err, "forward to %s: read the answer", addr)
	}
	kinds := map[int]error{400: errkind.BadRequest, 403: errkind.Forbidden, 404: errkind.NotFound, 409: errkind.Conflict, 503: errkind.Unavailable}
	switch kind, ok := kinds[resp.StatusCode]; {
	case resp.StatusCode == http.StatusNoContent:
		return nil
	case ok:
		return errkind.New(kind, string(body))
	default:
		return errkind.New(errkind.Internal, string(body))
	}
}

func statusOf(err error) int {
	for _, k := range []struct {
		kind   error
		status int
	}{{errkind.BadRequest, 400}, {errkind.Forbidden, 403}, {errkind.NotFound, 404}, {errkind.Conflict, 409}, {errkind.Unavailable, 503}} {
		if errors.Is(err, k.kind) {
			return k.status
		}
	}
	return 500
}

// testNode is one cluster member with a real HTTP listener for forwarded writes.
type testNode struct {
	id       string
	dir      string
	raftAddr string // fixed after the first start so that a restart reuses it
	httpAddr string
	srv      *http.Server
	store    atomic.Pointer[Store]
	// closeErr is why its last Close failed: Raft that did not shut down keeps its log store
	// open, and a start in this process would wait forever for that file's lock.
	closeErr error
}

func (n *testNode) s() *Store { return n.store.Load() }

type cluster struct {
	t     testing.TB
	nodes []*testNode
	cfg   func(*Config)
	mu    sync.Mutex // guards the nodes' addresses, which forwarders read
}

func testLogger(t testing.TB) hclog.Logger {
	if os.Getenv("RAFT_TEST_LOG") == "" {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Info, Output: os.Stderr})
}

// newCluster makes n nodes (not started).
func newCluster(t testing.TB, n int, cfg func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, cfg: cfg}
	for i := range n {
		c.nodes = append(c.nodes, &testNode{id: fmt.Sprintf("node%d", i+1), dir: t.TempDir(), raftAddr: testutil.FreeAddr(t)})
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.stop(n)
		}
	})
	return c
}

// httpOf is the apply listener of the node whose Raft address is raftAddr.
func (c *cluster) httpOf(raftAddr string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.raftAddr == raftAddr {
			return n.httpAddr
		}
	}
	return raftAddr
}

// start opens the node's store (from its data dir) and HTTP listener.
func (c *cluster) start(n *testNode) {
	c.t.Helper()
	if n.closeErr != nil {
		c.t.Fatalf("%s cannot start again in this process: its last close failed, and its log store stays locked: %v", n.id, n.closeErr)
	}
	addr := n.httpAddr
	if addr == "" {
		addr = testutil.FreeAddr(c.t)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		c.t.Fatalf("%s: http listen: %v", n.id, err)
	}
	c.mu.Lock()
	n.httpAddr = ln.Addr().String()
	c.mu.Unlock()
	cfg := Config{
		NodeID: n.id, DataDir: n.dir, RaftAddr: n.raftAddr, HTTPAddr: n.httpAddr,
		DownAfter: time.Second, RemoveAfter: time.Minute,
		Forwarder: httpForwarder{client: &http.Client{Timeout: 5 * time.Second}, httpOf: c.httpOf},
		Logger:    testLogger(c.t),
	}
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		_ = ln.Close()
		c.t.Fatalf("%s: open: %v", n.id, err)
	}
	c.mu.Lock()
	n.raftAddr = s.RaftAddr()
	c.mu.Unlock()
	n.store.Store(s)
	n.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := s.ApplyForwarded(r.Context(), body); err != nil {
			http.Error(w, err.Error(), statusOf(err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = n.srv.Serve(ln) }()
}

// stop closes the node without leaving (a crash as far as the others can tell).
func (c *cluster) stop(n *testNode) {
	if s := n.store.Swap(nil); s != nil {
		_ = n.srv.Close()
		if err := s.Close(); err != nil {
			n.closeErr = err
			c.t.Errorf("%s: close: %v", n.id, err)
		}
	}
}

// bootstrap starts every node, bootstraps the first and joins the others through it.
func (c *cluster) bootstrap(ctx context.Context) {
	c.t.Helper()
	for _, n := range c.nodes {
		c.start(n)
	}
	first := c.nodes[0].s()
	if err := first.Bootstrap(ctx); err != nil {
		c.t.Fatal(err)
	}
	c.waitLeader(c.nodes[:1]...)
	for _, n := range c.nodes[1:] {
		c.join(ctx, first, Member{ID: n.id, RaftAddr: n.raftAddr, HTTPAddr: n.httpAddr})
	}
}

// join asks via to add m. A loaded machine can make a young leader miss its lease in the middle
// of a join ("leadership lost while committing log"); it is elected again, and the join is asked
// again, as an operator would (a join of a member is a no-op).
func (c *cluster) join(ctx context.Context, via *Store, m Member) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := via.Join(ctx, m)
		if err == nil {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.t.Fatalf("join %s: %v", m.ID, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// running returns the nodes whose store is open.
func (c *cluster) running() []*testNode {
	var out []*testNode
	for _, n := range c.nodes {
		if n.s() != nil {
			out = append(out, n)
		}
	}
	return out
}

// waitLeader waits until exactly one of nodes (default: the running ones) leads, with its
// Barrier done, and every other one of them knows it.
func (c *cluster) waitLeader(nodes ...*testNode) *testNode {
	c.t.Helper()
	if len(nodes) == 0 {
		nodes = c.running()
	}
	var leader *testNode
	testutil.Eventually(c.t, 10*time.Second, "a single leader known to all", func() bool {
		leader = nil
		for _, n := range nodes {
			if n.s().IsLeader() {
				if leader != nil {
					return false
				}
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range nodes {
			if id, _ := n.s().Leader(); id != leader.id {
				return false
			}
		}
		return true
	})
	return leader
}

func (c *cluster) node(id string) *testNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	c.t.Fatalf("no node %s", id)
	return nil
}

func (c *cluster) followers() []*testNode {
	var out []*testNode
	for _, n := range c.running() {
		if !n.s().IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

func nodeState(s *Store, id string) (Node, bool) {
	for _, n := range s.Nodes() {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}
