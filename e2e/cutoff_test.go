package e2e

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// cutProxy stands between a node's cluster port and everyone who dials it: cut, it drops every
// connection and takes no new one, as a network that no longer reaches the node would.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.setCut(true) })
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

// A node the others can no longer reach (a partition: its cluster port cut off) stops its modules
// once it has gone as long without a leader as the others wait before marking it down, so that
// while they run its modules none runs twice; when the network heals it takes its share back.
func TestCutOffNodeStopsItsModules(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.NewCluster(t, config(rds.URL), "cut", 3)
	n3 := c.Nodes[2]
	n3.Raft = testutil.FreeAddr(t)
	proxy := newCutProxy(t, n3.Raft)
	n3.Flags = []string{"--advertise-raft", proxy.ln.Addr().String()}
	c.Start(clusterModel(drv), clusterModules)
	if c.Leader() == n3 {
		t.Skip("the node behind the proxy leads: the cut would test an election instead") // rare: the first node bootstraps and leads
	}
	place := c.WaitHealthy(3)
	mine := 0
	for _, node := range place {
		if node == n3.ID {
			mine++
		}
	}
	if mine == 0 {
		t.Fatalf("no module on %s to move: %v", n3.ID, place)
	}

	proxy.setCut(true)
	n3.WaitLog(15*time.Second, "cut off from the leader")
	// Every module runs exactly once, on the two nodes the leader still reaches; none on n3.
	c.Eventually(20*time.Second, "every module running once, none on the cut-off node", func() bool {
		seen := map[string]int{}
		for _, n := range c.Nodes {
			loaded, err := n.Loaded()
			if err != nil {
				return false
			}
			for _, mods := range loaded {
				for _, m := range mods {
					if n == n3 {
						return false
					}
					seen[m]++
				}
			}
		}
		for _, k := range seen {
			if k != 1 {
				return false
			}
		}
		return len(seen) == clusterModules
	})
	if r := n3.Do("GET", "/api/core/v1/ready", ""); r.Status != 503 {
		t.Fatalf("the cut-off node says it is ready: %d %s", r.Status, r.Body)
	}

	proxy.setCut(false)
	n3.WaitLog(20*time.Second, "a leader is in contact again")
	c.WaitHealthy(3)
	if !strings.Contains(n3.Logs().String(), "stopped every module this node ran") {
		t.Fatal("no log line says why the modules stopped")
	}
}
