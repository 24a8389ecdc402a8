package e2e

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// stockAppendEntries is the attack of a process that reaches a cluster port: a stock Raft
// transport claiming a term far ahead and sending a log entry. It must not be answered.
func stockAppendEntries(t *testing.T, addr string, term uint64) {
	t.Helper()
	trans, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 2*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	var resp raft.AppendEntriesResponse
	err = trans.AppendEntries("attacker", raft.ServerAddress(addr), &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("attacker"), Addr: []byte("127.0.0.1:1")},
		Term:              term + 100,
		Entries:           []*raft.Log{{Index: 1 << 20, Term: term + 100, Type: raft.LogCommand, Data: []byte(`{"op":"apply"}`)}},
		LeaderCommitIndex: 1 << 20,
	}, &resp)
	if err == nil {
		t.Fatalf("the node answered a stock Raft transport: %+v", resp)
	}
}

// raftTerm is the Raft term a node reports on its status route.
func raftTerm(t *testing.T, n *enginetest.Node) uint64 {
	t.Helper()
	var st struct {
		Term uint64 `json:"raft_term"`
	}
	if err := n.GetJSON("/api/core/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	return st.Term
}

// TestClusterPortRefusesOutsiders: the cluster port (Raft and node-to-node calls) admits only
// holders of a certificate of the cluster's CA. A stock Raft transport sending AppendEntries with
// a higher term changes nothing; a node with a certificate of another CA cannot join; an HTTPS
// client without the cluster's certificate reaches no node route.
func TestClusterPortRefusesOutsiders(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(redis.URL), "sec", 2, clusterModel(drv), clusterModules)
	n1 := c.Nodes[0]
	leader := c.Leader().ID
	term := raftTerm(t, n1)
	model := n1.Do("GET", "/api/engine/v2/model", "").Body

	// 1. An attacker with a stock Raft transport claims a higher term and sends a log entry.
	stockAppendEntries(t, n1.Raft, term)
	n1.Eventually(10*time.Second, "the refusal in the log", func() bool {
		return strings.Contains(n1.Logs().String(), "cluster connection refused")
	})
	if got := raftTerm(t, n1); got != term {
		t.Fatalf("the term moved from %d to %d", term, got)
	}
	if got := c.Leader().ID; got != leader {
		t.Fatalf("the leader changed from %s to %s", leader, got)
	}
	if got := n1.Do("GET", "/api/engine/v2/model", "").Body; got != model {
		t.Fatal("the model changed")
	}

	// 2. A node holding a certificate of another CA, for a name the cluster would accept.
	other := filepath.Join(t.TempDir(), "other-ca")
	stranger := enginetest.NewNode(t, config(redis.URL), "sec-3")
	if _, err := clustertls.Init(other, []string{stranger.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	stranger.TLSDir = other
	stranger.Start("--join", n1.Raft)
	if err := enginetest.Within(t, 30*time.Second, "the stranger to give up", func() bool { return !stranger.Running() }); err != nil {
		t.Fatal(err)
	}
	if logs := stranger.Logs().String(); !strings.Contains(logs, "not a certificate of this cluster") {
		t.Fatalf("the stranger's log does not say why it could not join:\n%s", stranger.Logs().Tail(2000))
	}
	info, err := n1.Info()
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Nodes) != 2 {
		t.Fatalf("the cluster has %d nodes", len(info.Nodes))
	}

	// 3. Node routes over HTTPS without the cluster's certificate, and over plain HTTP.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the attacker's side
	}}
	body := `{"op":"node_remove","data":{"id":"sec-2"}}`
	if r, err := hc.Post("https://"+n1.Raft+"/api/core/v1/cluster/apply", "application/json", strings.NewReader(body)); err == nil {
		b, _ := io.ReadAll(r.Body)
		_ = r.Body.Close()
		t.Fatalf("HTTPS without the certificate was answered: %d %s", r.StatusCode, b)
	}
	if r, err := http.Post("http://"+n1.Raft+"/api/core/v1/cluster/apply", "application/json", strings.NewReader(body)); err == nil {
		_ = r.Body.Close()
		t.Fatalf("plain HTTP on the cluster port was answered: %d", r.StatusCode)
	}
	// The client API does not serve node routes at all.
	if r := n1.Do("POST", "/api/core/v1/cluster/apply", body); r.Status != http.StatusNotFound {
		t.Fatalf("node route on the client port: %d %s", r.Status, r.Body)
	}
	if info, err := n1.Info(); err != nil || len(info.Nodes) != 2 || info.Up() != 2 {
		t.Fatalf("after the attempts: %+v %v", info, err)
	}
	var st map[string]json.RawMessage
	if err := c.Nodes[1].GetJSON("/api/core/v1/status", &st); err != nil || string(st["ready"]) != "true" {
		t.Fatalf("sec-2 after the attempts: %s %v", st["ready"], err)
	}
}

// TestClusterPortWithoutTLS: on loopback a cluster may run without certificates. With a cluster
// secret every connection to the cluster port opens with a greeting derived from it: the nodes
// join and route executes to each other, while a stock Raft transport, or a node route request
// carrying the secret itself in a header, is turned away unread. A node with --auth keys and
// neither TLS nor a secret runs alone: its cluster port takes no connection at all.
func TestClusterPortWithoutTLS(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	secretFile := filepath.Join(t.TempDir(), "cluster-secret")
	const secret = "the-cluster-secret-of-this-test-0123"
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := apiKeysFile(t)

	t.Run("cluster secret", func(t *testing.T) {
		t.Parallel()
		cfg := config(redis.URL, "--auth", "keys", "--api-keys", keys, "--cluster-secret-file", secretFile)
		cfg.APIKey = adminKey
		c := enginetest.NewCluster(t, cfg, "plain", 2)
		for _, n := range c.Nodes {
			n.TLSDir = ""
		}
		c.Start(clusterModel(drv), clusterModules)
		n1, n2 := c.Nodes[0], c.Nodes[1]
		placed, err := c.Placement()
		if err != nil {
			t.Fatal(err)
		}
		var remote string
		for id, owner := range placed {
			if owner == n2.ID {
				remote = id
				break
			}
		}
		if remote == "" {
			t.Fatalf("placement %v has no module on %s", placed, n2.ID)
		}
		if r := n1.Do("POST", "/api/engine/v2/modules/"+remote+"/exec/echo", `["over the greeting"]`, enginetest.APIKey(adminKey)); r.Status != 200 {
			t.Fatalf("execute through %s on %s: %d %s", n1.ID, n2.ID, r.Status, r.Body)
		}

		term := raftTerm(t, n1)
		stockAppendEntries(t, n1.Raft, term)
		// The secret in the header older versions sent it in is not the greeting.
		req, err := http.NewRequest("POST", "http://"+n1.Raft+"/api/core/v1/cluster/join", strings.NewReader(`{"id":"evil","raft_addr":"127.0.0.1:1","http_addr":"127.0.0.1:2"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Cluster-Secret", secret)
		req.Header.Set("X-Engine-Clearance", "admin")
		if r, err := (&http.Client{Timeout: 5 * time.Second}).Do(req); err == nil {
			_ = r.Body.Close()
			t.Fatalf("a join without the greeting was answered: %d", r.StatusCode)
		}
		n1.Eventually(10*time.Second, "the refusals in the log", func() bool {
			return strings.Contains(n1.Logs().String(), "wrong cluster greeting")
		})
		if got := raftTerm(t, n1); got != term {
			t.Fatalf("the term moved from %d to %d", term, got)
		}
		if info, err := n1.Info(); err != nil || len(info.Nodes) != 2 || info.Up() != 2 {
			t.Fatalf("after the attempts: %+v %v", info, err)
		}
	})

	t.Run("no secret", func(t *testing.T) {
		t.Parallel()
		cfg := config(redis.URL, "--auth", "keys", "--api-keys", keys)
		cfg.APIKey = adminKey
		n := enginetest.NewNode(t, cfg, "alone")
		n.Start("--bootstrap", "--model", enginetest.WriteModel(t, clusterModel(drv)))
		n.WaitReady()
		n.WaitLog(5*time.Second, "the cluster port takes no connection")
		term := raftTerm(t, n)
		stockAppendEntries(t, n.Raft, term)
		// Anyone on the host, claiming to be a node joining as an admin.
		if r, err := (&http.Client{Timeout: 5 * time.Second}).Post("http://"+n.Raft+"/api/core/v1/cluster/join", "application/json",
			strings.NewReader(`{"id":"evil","raft_addr":"127.0.0.1:1","http_addr":"127.0.0.1:2"}`)); err == nil {
			_ = r.Body.Close()
			t.Fatalf("a join on a port without proof was answered: %d", r.StatusCode)
		}
		if got := raftTerm(t, n); got != term {
			t.Fatalf("the term moved from %d to %d", term, got)
		}
		if info, err := n.Info(); err != nil || len(info.Nodes) != 1 || info.Leader != n.ID {
			t.Fatalf("after the attempts: %+v %v", info, err)
		}
		if r := n.Do("POST", "/api/engine/v2/modules/mod-01/exec/echo", `["alone"]`, enginetest.APIKey(adminKey)); r.Status != 200 {
			t.Fatalf("execute on the lone node: %d %s", r.Status, r.Body)
		}
	})
}
