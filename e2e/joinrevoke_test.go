package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
	"github.com/placeos-go/engine/raftfsm"
)

// TestRemovedNodeCertificateStaysRevoked: the red team's finding 2 (report 10). A node removed
// by an operator cannot join back with its certificate — through any member, after a leader
// change and a restart — nor use it on any node route; a join cannot move a live member to
// another address; the CA's own certificate is no node; a node restarted after a SIGTERM (a leave
// of its own) rejoins as itself; and the removed node's name comes back with a new certificate.
func TestRemovedNodeCertificateStaysRevoked(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(redis.URL), "rvk", 3, clusterModel(drv), clusterModules)
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	n4 := c.Join()
	c.WaitHealthy(4)
	client := func(node string) *peer.Client {
		t.Helper()
		m, err := clustertls.Load(clustertls.CAFile(c.TLSDir()), clustertls.CertFile(c.TLSDir(), node), clustertls.KeyFile(c.TLSDir(), node))
		if err != nil {
			t.Fatal(err)
		}
		cl := peer.NewClient(peer.Proof{TLS: m})
		t.Cleanup(cl.Close)
		return cl
	}
	removed := client(n4.ID) // its certificate, loaded before the files are replaced below
	rejoin := raftfsm.Member{ID: n4.ID, RaftAddr: n4.Raft, HTTPAddr: n4.HTTP}

	// The operator removes n4 through n2; the node is gone for good.
	if err := client(n1.ID).Remove(t.Context(), n2.Raft, n4.ID); err != nil {
		t.Fatalf("removing %s: %v", n4.ID, err)
	}
	n4.Kill()
	c.WaitHealthy(3)
	refused := func(what string, members int, nodes ...*enginetest.Node) {
		t.Helper()
		want := func(call string, err error) {
			t.Helper()
			if p := errkind.Classify(err); p.Status != http.StatusForbidden || !strings.Contains(err.Error(), "revoked") {
				t.Fatalf("%s, %s: want 403 revoked, got %v", what, call, err)
			}
		}
		for _, n := range nodes {
			want("join via "+n.ID, removed.Join(t.Context(), n.Raft, rejoin))
			want("forwarded write to "+n.ID, removed.Forward(t.Context(), n.Raft, zoneCommand(t, "zone-revoked")))
			_, err := removed.NodeStatus(t.Context(), n.Raft)
			want("status of "+n.ID, err)
			_, err = removed.Exec(t.Context(), n.Raft, call.Request{Target: call.Target{ModuleID: "mod-01"}, Function: "echo"})
			want("execute on "+n.ID, err)
		}
		if info, err := nodes[0].Info(); err != nil || len(info.Nodes) != members {
			t.Fatalf("%s: the cluster after the refusals: %+v %v", what, info, err)
		}
	}
	refused("after the removal", 3, n1, n2, n3)

	// A leader change, then the old leader restarted (it replays the log).
	old := c.Leader()
	var rest []*enginetest.Node
	for _, n := range []*enginetest.Node{n1, n2, n3} {
		if n != old {
			rest = append(rest, n)
		}
	}
	old.Kill()
	rest[0].Eventually(20*time.Second, "another leader", func() bool {
		info, err := rest[0].Info()
		return err == nil && info.Leader != "" && info.Leader != old.ID
	})
	refused("after a leader change", 3, rest...)
	old.Start("--join", rest[0].Raft)
	c.WaitHealthy(3)
	refused("after a restart", 3, old)

	// A join as a live member (a follower: the leader's own entry was never movable) at another
	// address: refused, and the member keeps serving.
	leader := c.Leader()
	victim, via := n1, n2
	if leader == n1 {
		victim, via = n2, n1
	}
	err := client(victim.ID).Join(t.Context(), via.Raft, raftfsm.Member{ID: victim.ID, RaftAddr: testutil.FreeAddr(t), HTTPAddr: victim.HTTP})
	if p := errkind.Classify(err); p.Status != http.StatusConflict || !strings.Contains(err.Error(), "live") {
		t.Fatalf("moving a live member: want 409, got %v", err)
	}
	if info, err := leader.Info(); err != nil || info.State(victim.ID) != "up" || !victim.Ready() {
		t.Fatalf("the member after the refused move: %+v %v ready=%t", info, err, victim.Ready())
	}

	// The CA's own certificate is no node: refused in the handshake.
	ca, err := tls.LoadX509KeyPair(clustertls.CAFile(c.TLSDir()), clustertls.CAKeyFile(c.TLSDir()))
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{ca}, RootCAs: roots, ServerName: clustertls.ServerName, MinVersion: tls.VersionTLS13}}}
	defer hc.CloseIdleConnections()
	if r, err := hc.Post("https://"+n1.Raft+"/api/core/v1/cluster/join", "application/json",
		strings.NewReader(`{"id":"engine cluster CA","raft_addr":"127.0.0.1:1","http_addr":"127.0.0.1:2","non_voter":true}`)); err == nil {
		_ = r.Body.Close()
		t.Fatalf("the CA certificate's join: %s", r.Status)
	}

	// A node stopped with SIGTERM leaves by itself: it rejoins with the same certificate.
	n3.Stop()
	n3.Start("--join", n1.Raft)
	c.WaitHealthy(3)

	// The removed node's name, with a new certificate (`engine tls init` after deleting its files).
	for _, f := range []string{clustertls.CertFile(c.TLSDir(), n4.ID), clustertls.KeyFile(c.TLSDir(), n4.ID)} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := clustertls.Init(c.TLSDir(), []string{n4.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	n4.Start("--join", n1.Raft)
	c.WaitHealthy(4)
	refused("after the name came back", 4, n1)
}
