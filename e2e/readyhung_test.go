package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// readyAfterHang bounds how long a node with a hung start may take to be ready: the pass waits
// 2 s for it, and a loaded machine gets the rest.
const readyAfterHang = 10 * time.Second

// hungRead checks that module id reads like a module whose start has not answered: connected
// false, its runtime error saying so (status/loaded lists it: its driver process holds it).
func hungRead(t *testing.T, n *enginetest.Node, id string) {
	t.Helper()
	var m moduleRead
	n.Eventually(10*time.Second, id+" read as a start that has not answered", func() bool {
		// A follower may not have applied the module's write yet: 404 until it has.
		r := n.Do("GET", "/api/engine/v2/modules/"+id, "")
		return r.Status == 200 && json.Unmarshal([]byte(r.Body), &m) == nil && m.HasRuntimeError
	})
	if m.Connected || m.ErrorTimestamp == nil || !strings.HasPrefix(m.RuntimeError, "start has not answered for ") {
		t.Fatalf("%s on %s reads %+v; want not connected, its start not answered", id, n.ID, m)
	}
}

// A module whose driver's start hangs (its OnLoad stuck, deaf to the deadline) does not hold its
// node's readiness, at its first start or after a restart, and reads like a module that does not
// run yet; a start that takes 1 s is waited for, never reported as hung; one that answers after
// 5 s has its record cleared then.
func TestHungStartDoesNotHoldReadiness(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	n := enginetest.NewNode(t, config(redis.URL), "hung")
	n.Raft = "127.0.0.1:0"
	n.Start("--bootstrap", "--model", enginetest.WriteModel(t, fmt.Sprintf(`
drivers:
  - {id: drv-test, module_name: Test, role: service, binary: %q}
modules:
  - {id: mod-a, driver_id: drv-test, running: true}
  - {id: mod-hang, driver_id: drv-test, running: true, settings: {hang_start_ms: 600000}}
`, drv)))
	began := time.Now()
	n.Eventually(readyAfterHang, "ready beside the hung start", n.Ready)
	t.Logf("first start: ready after %s with a start hanging", time.Since(began).Round(time.Millisecond))
	hungRead(t, n, "mod-hang")
	// Ready does not wait on a start that takes longer than the pass's wait, which mod-a's may on
	// a loaded machine (CI): it is seen running soon after, beside the hung one.
	n.Eventually(10*time.Second, "mod-a running beside the hung start", func() bool {
		m := readModule(t, n, "mod-a")
		return m.Connected && !m.HasRuntimeError
	})

	n.Stop()
	n.Start()
	began = time.Now()
	n.Eventually(readyAfterHang, "ready after a restart beside the hung start", n.Ready)
	t.Logf("restart: ready after %s with a start hanging", time.Since(began).Round(time.Millisecond))
	hungRead(t, n, "mod-hang")

	// The driver's process is up: the second counted is the start's own.
	putModule(t, n, `{"id": "mod-slow", "driver_id": "drv-test", "running": true, "settings": {"hang_start_ms": 1000}}`)
	n.Eventually(10*time.Second, "mod-slow answering", func() bool {
		return n.Do("POST", "/api/engine/v2/modules/mod-slow/exec/echo", "[1]").Status == 200
	})
	if m := readModule(t, n, "mod-slow"); !m.Connected || m.HasRuntimeError || m.RuntimeError != "" {
		t.Fatalf("a start that answered after 1 s reads %+v", m)
	}
	if logs := n.Logs().String(); strings.Contains(logs, "mod-slow") && hasHungLine(logs, "mod-slow") {
		t.Fatal("a start that answered after 1 s was logged as not answering")
	}

	// Hung for a while, then it answers: its record goes.
	putModule(t, n, `{"id": "mod-late", "driver_id": "drv-test", "running": true, "settings": {"hang_start_ms": 5000}}`)
	hungRead(t, n, "mod-late")
	n.Eventually(15*time.Second, "mod-late started, its record cleared", func() bool {
		m := readModule(t, n, "mod-late")
		loaded, err := n.Loaded()
		return m.Connected && !m.HasRuntimeError && m.RuntimeError == "" && err == nil && strings.Contains(fmt.Sprint(loaded), "mod-late")
	})
}

// hasHungLine tells whether the engine logged module id's start as not answering.
func hasHungLine(logs, id string) bool {
	return slices.ContainsFunc(strings.Split(logs, "\n"), func(l string) bool {
		return strings.Contains(l, "has not answered") && strings.Contains(l, id)
	})
}

// In a cluster, a node whose module's start hangs is ready again soon after a membership change
// (another node's restart), the cluster's `ready` is published, and every node reads the module
// as not connected with its start not answered.
func TestHungStartDoesNotHoldClusterReady(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	leader := c.Leader()
	putModule(t, leader, `{"id": "mod-hang", "driver_id": "drv-test", "running": true, "settings": {"hang_start_ms": 600000}}`)
	var owner *enginetest.Node
	leader.Eventually(10*time.Second, "mod-hang placed", func() bool {
		var m struct {
			CoreNode string `json:"core_node"`
		}
		r := leader.Do("GET", "/api/engine/v2/modules/mod-hang", "")
		if json.Unmarshal([]byte(r.Body), &m) != nil || m.CoreNode == "" {
			return false
		}
		owner = c.Node(m.CoreNode)
		return true
	})
	for _, n := range c.Live() {
		hungRead(t, n, "mod-hang")
	}

	var other *enginetest.Node // neither the owner nor the leader: no election in the way
	for _, n := range c.Nodes {
		if n != owner && n != leader {
			other = n
		}
	}
	if other == nil {
		other = c.Nodes[0]
		if other == owner {
			other = c.Nodes[1]
		}
	}
	before, err := owner.Info()
	if err != nil {
		t.Fatal(err)
	}
	for len(c.ready) > 0 {
		<-c.ready
	}
	// Killed and started again: marked down, then up, two new epochs.
	testutil.WaitGone(t, other.Kill()...)
	other.Start()
	began := time.Now()
	c.Eventually(30*time.Second, "a new epoch, the cluster ready for it", func() bool {
		ci, err := owner.Info()
		return err == nil && ci.Epoch > before.Epoch && ci.Ready && ci.Up() == 3 && owner.Ready()
	})
	t.Logf("%s restarted: the cluster ready after %s with %s's start hanging", other.ID, time.Since(began).Round(time.Millisecond), owner.ID)
	c.waitReadyMessage()
	hungRead(t, other, "mod-hang")
}
