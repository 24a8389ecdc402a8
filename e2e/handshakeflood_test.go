package e2e

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// TestClusterPortFloodLeavesNodesIn: a client with no certificate holds more connections to a
// node's cluster port than the port has handshake places (from 127.0.0.2; the nodes use
// 127.0.0.1), opening each again as soon as the port closes it. The other nodes still open new
// connections to that node: an execute through them of a module it hosts — their first, so
// over a new exec link — is answered.
func TestClusterPortFloodLeavesNodesIn(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	owners := c.owners()
	target := c.Nodes[0]
	var mod string
	for m, o := range owners {
		if o == target.ID {
			mod = m
			break
		}
	}
	if mod == "" {
		t.Fatalf("%s hosts no module: %v", target.ID, owners)
	}
	stopFlood := flood(t, target.Raft, 300)
	defer stopFlood()
	for _, n := range c.Live() {
		if n == target {
			continue
		}
		r := n.Do("POST", "/api/engine/v2/modules/"+mod+"/exec/pid", "[]")
		if r.Status != 200 {
			t.Fatalf("execute of %s (on %s) through %s during the flood: %d %s", mod, target.ID, n.ID, r.Status, r.Body)
		}
	}
}

// flood keeps n idle connections from 127.0.0.2 open to addr, each opened again once closed,
// until the function it answers is called (which waits for them to be closed).
func flood(t *testing.T, addr string, n int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	opened := make(chan struct{}, n)
	for range n {
		wg.Go(func() {
			first := true
			for ctx.Err() == nil {
				conn, err := d.DialContext(ctx, "tcp", addr)
				if first {
					opened <- struct{}{}
					first = false
				}
				if err != nil {
					continue
				}
				stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
				_, _ = conn.Read(make([]byte, 1)) // until the port closes it (or the test ends)
				stop()
				_ = conn.Close()
			}
		})
	}
	for range n {
		select {
		case <-opened:
		case <-time.After(30 * time.Second):
			cancel()
			wg.Wait()
			t.Fatalf("the flood could not open %d connections to %s", n, addr)
		}
	}
	return func() {
		cancel()
		wg.Wait()
	}
}
