package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/peer"
	"github.com/placeos-go/engine/raftfsm"
)

// zoneCommand is the Raft command a forwarded write of one zone carries.
func zoneCommand(t *testing.T, id string) []byte {
	t.Helper()
	cmd, err := raftfsm.ApplyCommand(&model.File{Zones: []*model.Zone{{ID: id, Name: id}}})
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

// hasZone reports whether n's model has the zone id.
func hasZone(t *testing.T, n *enginetest.Node, id string) bool {
	t.Helper()
	return strings.Contains(n.Do("GET", "/api/engine/v2/model", "").Body, `"`+id+`"`)
}

// TestClusterPortRefusesBrowsersUnderAuthNone: the red team's finding 2. A node under --auth none
// takes every connection on its cluster port, so a web page could make the browser POST a model
// write there (a no-cors text/plain request needs no preflight). The cluster port refuses what a
// browser sends, and logs it with the remote address; the node's own client still writes.
func TestClusterPortRefusesBrowsersUnderAuthNone(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	n := enginetest.NewNode(t, config(redis.URL), "open") // its cluster port at a known address
	n.Start("--bootstrap", "--model", enginetest.WriteModel(t, "zones: [{id: zone-1, name: One}]\n"))
	n.WaitReady()
	apply := "http://" + n.Raft + "/api/core/v1/cluster/apply"
	hc := &http.Client{Timeout: 10 * time.Second}
	post := func(host string, body []byte, hdr ...string) int {
		t.Helper()
		req, err := http.NewRequest("POST", apply, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		r, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = r.Body.Close()
		return r.StatusCode
	}
	// Exactly what fetch(url, {method: 'POST', mode: 'no-cors', body}) sends from another site.
	if code := post(n.Raft, zoneCommand(t, "zone-pwn"), "Origin", "https://evil.example", "Content-Type", "text/plain;charset=UTF-8",
		"Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Fatalf("the browser's model write: %d", code)
	}
	// After DNS rebinding: JSON, no Origin, but the page's name as Host.
	if code := post("rebound.evil.example", zoneCommand(t, "zone-rebound"), "Content-Type", "application/json"); code != http.StatusForbidden {
		t.Fatalf("the rebound write: %d", code)
	}
	n.Eventually(10*time.Second, "the refusal logged with the remote address", func() bool {
		l := n.Logs().String()
		return strings.Contains(l, "node route refused: a request a browser could have sent") && strings.Contains(l, "remote=127.0.0.1:")
	})
	if hasZone(t, n, "zone-pwn") || hasZone(t, n, "zone-rebound") {
		t.Fatal("a browser's request wrote the model")
	}
	c := peer.NewClient(peer.Proof{Open: true})
	defer c.Close()
	if err := c.Forward(t.Context(), n.Raft, zoneCommand(t, "zone-node")); err != nil {
		t.Fatalf("the node client's write: %v", err)
	}
	if !hasZone(t, n, "zone-node") {
		t.Fatal("the node client's write is not in the model")
	}
	// A forwarded write with a protected setting in the clear (nodes seal them first): bad input.
	cmd, err := raftfsm.ApplyCommand(&model.File{Zones: []*model.Zone{{ID: "zone-plain", Name: "Plain",
		ProtectedSettings: []model.Protected{{Level: model.LevelAdmin, Settings: model.Settings{"pw": json.RawMessage(`"in the clear"`)}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Forward(t.Context(), n.Raft, cmd)
	if p := errkind.Classify(err); p.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "not a sealed value") {
		t.Fatalf("an unsealed protected setting: want 400 not a sealed value, got %d %v", p.Status, err)
	}
}

// TestClusterPortRefusesNonMembers: the red team's finding 8. A certificate the cluster's CA
// signed for a node that never joined (`engine tls init` issued it) gets 403 on a forwarded
// write, an execute (over the exec protocol, refused at its greeting, then over HTTP) and the
// status route. A new node still joins with its own; once it has left, its certificate is
// refused the same way.
func TestClusterPortRefusesNonMembers(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(redis.URL), "mem", 2, clusterModel(drv), clusterModules)
	n1 := c.Nodes[0]
	if _, err := clustertls.Init(c.TLSDir(), []string{"mem-9"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	refused := func(node, what string) {
		t.Helper()
		m, err := clustertls.Load(clustertls.CAFile(c.TLSDir()), clustertls.CertFile(c.TLSDir(), node), clustertls.KeyFile(c.TLSDir(), node))
		if err != nil {
			t.Fatal(err)
		}
		cl := peer.NewClient(peer.Proof{TLS: m})
		defer cl.Close()
		want := func(call string, err error) {
			t.Helper()
			if p := errkind.Classify(err); p.Status != http.StatusForbidden || !strings.Contains(err.Error(), "not a member") {
				t.Fatalf("%s, %s: want 403 not a member, got %v", what, call, err)
			}
		}
		want("forwarded write", cl.Forward(t.Context(), c.Leader().Raft, zoneCommand(t, "zone-"+node)))
		placed, err := c.Placement()
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.Exec(t.Context(), c.Node(placed["mod-01"]).Raft, call.Request{Target: call.Target{ModuleID: "mod-01"}, Function: "echo"})
		want("execute", err)
		_, err = cl.NodeStatus(t.Context(), n1.Raft)
		want("status", err)
		if hasZone(t, n1, "zone-"+node) {
			t.Fatalf("%s wrote the model", what)
		}
	}
	refused("mem-9", "a node that never joined")
	n1.Eventually(10*time.Second, "the refusal naming the node", func() bool {
		return strings.Contains(n1.Logs().String(), "peer=mem-9")
	})

	n3 := c.Join()
	c.WaitHealthy(3)
	n3.Stop() // SIGTERM: the node leaves the cluster
	n1.Eventually(30*time.Second, "the node gone from the cluster", func() bool {
		info, err := n1.Info()
		return err == nil && len(info.Nodes) == 2
	})
	refused(n3.ID, "a node that left")
}
