package peer_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/placeos-go/engine/peer"
)

// TestClientBoundsConnectionsPerNode: node-to-node requests follow clients' (a status read asks
// every node), so 200 at once must not open 200 connections to one node's cluster port: past
// the bound (64) they wait for a connection and all are answered.
func TestClientBoundsConnectionsPerNode(t *testing.T) {
	t.Parallel()
	const calls, bound = 200, 64
	var opened, active atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if active.Add(1) >= bound {
			once.Do(func() { close(release) })
		}
		<-release
		_, _ = w.Write([]byte(`{"node": "n2"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := peer.NewClient(peer.Proof{})
	addr := strings.TrimPrefix(srv.URL, "http://")
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range calls {
		wg.Go(func() {
			if _, err := c.NodeStatus(t.Context(), addr); err != nil {
				failed.Add(1)
				t.Logf("status: %v", err)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d status reads failed", failed.Load(), calls)
	}
	if n := opened.Load(); n > bound {
		t.Fatalf("%d calls at once opened %d connections to one node, want at most %d", calls, n, bound)
	}
}
