package enginetest

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/placeos-go/engine/clustertls"
)

// HealthyWithin is how long WaitHealthy gives a cluster.
const HealthyWithin = 60 * time.Second

// Cluster is engine nodes on loopback sharing one Redis, their cluster ports behind mutual TLS.
type Cluster struct {
	Nodes []*Node

	tb      testing.TB
	cfg     Config
	prefix  string
	modules int
	tlsDir  string
}

// NewCluster makes size nodes named prefix-1, prefix-2, ... ("node" when prefix is empty); it
// does not start them.
func NewCluster(tb testing.TB, cfg Config, prefix string, size int) *Cluster {
	tb.Helper()
	if prefix == "" {
		prefix = "node"
	}
	c := &Cluster{tb: tb, cfg: cfg, prefix: prefix, tlsDir: filepath.Join(tb.TempDir(), "tls")}
	for range size {
		c.Nodes = append(c.Nodes, c.newNode())
	}
	return c
}

// newNode is the next node, with a certificate of the cluster's CA (made as `engine tls init`
// does): a cluster's nodes talk to each other over mutual TLS.
func (c *Cluster) newNode() *Node {
	c.tb.Helper()
	n := NewNode(c.tb, c.cfg, c.nextID())
	if _, err := clustertls.Init(c.tlsDir, []string{n.ID}, time.Now()); err != nil {
		c.tb.Fatalf("certificates for %s: %v", n.ID, err)
	}
	n.TLSDir = c.tlsDir
	return n
}

// TLSDir is the folder of the cluster's CA and node certificates.
func (c *Cluster) TLSDir() string { return c.tlsDir }

// StartCluster is NewCluster and Start.
func StartCluster(tb testing.TB, cfg Config, prefix string, size int, model string, modules int) *Cluster {
	tb.Helper()
	c := NewCluster(tb, cfg, prefix, size)
	c.Start(model, modules)
	return c
}

func (c *Cluster) nextID() string { return fmt.Sprintf("%s-%d", c.prefix, len(c.Nodes)+1) }

// Start bootstraps the first node with model (YAML), joins the others through it and waits
// until the cluster is healthy (see WaitHealthy). modules is how many modules the model runs.
func (c *Cluster) Start(model string, modules int) {
	c.tb.Helper()
	c.modules = modules
	first := c.Nodes[0]
	first.Start("--bootstrap", "--model", WriteModel(c.tb, model))
	first.WaitReady()
	for _, n := range c.Nodes[1:] {
		n.Start("--join", first.Raft)
	}
	c.WaitHealthy(len(c.Nodes))
}

// Join adds a new node (fresh addresses and data directory) and starts it joining through the
// first node; it does not wait.
func (c *Cluster) Join() *Node {
	c.tb.Helper()
	n := c.newNode()
	c.Nodes = append(c.Nodes, n)
	n.Start("--join", c.Nodes[0].Raft)
	return n
}

// Live is the nodes whose engine runs and is not paused.
func (c *Cluster) Live() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Running() && !n.Paused() {
			out = append(out, n)
		}
	}
	return out
}

// Node is the node named id; the test fails if there is none.
func (c *Cluster) Node(id string) *Node {
	c.tb.Helper()
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	c.tb.Fatalf("no node %q", id)
	return nil
}

// Leader is the node the first live node that names a leader names; the test fails if none does.
func (c *Cluster) Leader() *Node {
	c.tb.Helper()
	for _, n := range c.Live() {
		if ci, err := n.Info(); err == nil && ci.Leader != "" {
			return c.Node(ci.Leader)
		}
	}
	c.tb.Fatal("no live node names a leader")
	return nil
}

// Placement maps every running module to the live node that has it loaded; a node that does
// not answer, or a module running on two nodes, is an error.
func (c *Cluster) Placement() (map[string]string, error) {
	out := map[string]string{}
	for _, n := range c.Live() {
		loaded, err := n.Loaded()
		if err != nil {
			return nil, err
		}
		for _, mods := range loaded {
			for _, m := range mods {
				if other, ok := out[m]; ok {
					return nil, fmt.Errorf("module %s runs on both %s and %s", m, other, n.ID)
				}
				out[m] = n.ID
			}
		}
	}
	return out, nil
}

// WaitHealthy waits until the cluster is Healthy with up nodes up and returns the placement.
func (c *Cluster) WaitHealthy(up int) map[string]string {
	c.tb.Helper()
	var place map[string]string
	c.Eventually(HealthyWithin, fmt.Sprintf("%d nodes up, ready, %d modules placed once", up, c.modules), func() bool {
		var ok bool
		place, ok = c.Healthy(up)
		return ok
	})
	return place
}

// Healthy reports whether every live node sees up nodes up, the same leader and the cluster
// ready, and every module of the model runs exactly once; it returns the placement then.
func (c *Cluster) Healthy(up int) (map[string]string, bool) {
	leader := ""
	for _, n := range c.Live() {
		ci, err := n.Info()
		if err != nil || !ci.Ready || ci.Leader == "" || ci.Up() != up || (leader != "" && ci.Leader != leader) {
			return nil, false
		}
		leader = ci.Leader
	}
	place, err := c.Placement()
	return place, err == nil && len(place) == c.modules
}
