package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestNodeRemovalAsked: a newcomer's removal request with a typo ({"node": …}) once made the node
// asked leave the cluster itself, and an id no member has "succeeded"; the removed node then ran
// on showing every node up. Now the route takes exactly {"id"} of a member, the node asked logs
// who asked, and the removed node says it is not a member: one ERROR line, not ready, and GET
// /cluster answers why and how to come back instead of its stale table, as its executes do. It
// keeps running (a service manager would restart it).
func TestNodeRemovalAsked(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(redis.URL), "nlv", 3, clusterModel(drv), clusterModules)
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	c.WaitHealthy(3)

	// The operator's curl, with node-1's certificate, to node-2's cluster port.
	m, err := clustertls.Load(clustertls.CAFile(c.TLSDir()), clustertls.CertFile(c.TLSDir(), n1.ID), clustertls.KeyFile(c.TLSDir(), n1.ID))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: m.ClientConfig()}}
	defer hc.CloseIdleConnections()
	leave := func(body string) (int, string) {
		t.Helper()
		r, err := hc.Post("https://"+n2.Raft+"/api/core/v1/cluster/leave", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.Body.Close() }()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	for _, tt := range []struct {
		body   string
		status int
		says   string
	}{
		{`{"node":"` + n3.ID + `"}`, 400, `unknown field \"node\"`},
		{`{}`, 400, `leave body must be {\"id\"`},
		{``, 400, `leave body must be {\"id\"`},
		{`{"id":"nope"}`, 404, `node \"nope\" is not a member`},
	} {
		if code, body := leave(tt.body); code != tt.status || !strings.Contains(body, tt.says) {
			t.Fatalf("leave %s: %d %s, want %d mentioning %s", tt.body, code, body, tt.status, tt.says)
		}
	}
	// Nothing left: the node asked is up, with the three members.
	if info, err := n2.Info(); err != nil || len(info.Nodes) != 3 || info.State(n2.ID) != "up" || !n2.Running() {
		t.Fatalf("after the refused removals: %+v %v running=%t", info, err, n2.Running())
	}

	if code, body := leave(`{"id":"` + n3.ID + `"}`); code != 200 || body != `{"left":true}` {
		t.Fatalf("removing %s: %d %s", n3.ID, code, body)
	}
	n2.WaitLog(10*time.Second, "removal of a node asked: node="+n2.ID+" id="+n3.ID+" self=false by="+n1.ID+" remote=127.0.0.1:")
	c.Eventually(30*time.Second, "a cluster of two", func() bool {
		info, err := n1.Info()
		return err == nil && len(info.Nodes) == 2 && info.State(n3.ID) == ""
	})

	const removed = "this node is not a member of the cluster ("
	n3.WaitLog(60*time.Second, removed)
	if !n3.Running() {
		t.Fatal("the removed node exited: under a service manager it would be started again, and loop")
	}
	if n3.Ready() {
		t.Error("the removed node says it is ready")
	}
	if r, err := n3.Try("GET", "/api/engine/v2/cluster", ""); err != nil || r.Status != http.StatusServiceUnavailable ||
		!strings.Contains(r.Body, removed) || !strings.Contains(r.Body, "start it with --join ") || !strings.Contains(r.Body, n1.Raft) || !strings.Contains(r.Body, `"state":"not a member"`) {
		t.Errorf("GET /cluster on the removed node: %+v %v, want 503 saying it is not a member", r, err)
	}
	if r, err := n3.Try("POST", "/api/engine/v2/systems/sys-1/Test_1/echo", `["hi"]`); err != nil || r.Status != http.StatusServiceUnavailable ||
		!strings.Contains(r.Body, removed) {
		t.Errorf("an execute on the removed node: %+v %v, want 503 saying it is not a member", r, err)
	}
	if got := strings.Count(n3.Logs().String(), "[ERROR] engine.membership: "+removed); got != 1 {
		t.Errorf("the removal logged %d times, want once", got)
	}
}
