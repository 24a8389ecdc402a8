package peer_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/peer"
)

// TestRevokedCertificateRefusedEverywhere: a revoked certificate (its node was removed) is refused
// on every node route, the join's included, by the exec protocol and by Raft — also when its node's
// name is a member again, re-added with a new certificate, which is served.
func TestRevokedCertificateRefusedEverywhere(t *testing.T) {
	t.Parallel()
	cs := newCerts(t, "n1", "n3")
	n := newNode(t, func(s *setup) { s.proof = peer.Proof{TLS: cs.of(t, "n1")} })
	n.members.setTable("n1", "n3") // n3 re-added …
	old := cs.of(t, "n3")
	n.members.revoke(old.Fingerprint()) // … after its first certificate was revoked
	raft := raftConns(t, n.port)
	revoked := peer.Proof{TLS: old}
	c := newClient(t, revoked)

	wantRevoked := func(what string, err error) {
		t.Helper()
		wantKind(t, err, errkind.Forbidden, http.StatusForbidden)
		if !strings.Contains(fmtErr(err), "revoked") {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wantRevoked("join", c.Join(t.Context(), n.addr, member("n3", "127.0.0.1:7003", "127.0.0.1:8083")))
	_, err := c.Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"})
	wantRevoked("exec", err)
	wantRevoked("forwarded write", c.Forward(t.Context(), n.addr, []byte(`{"v":1,"op":"node_remove","data":{"id":"n2"}}`)))
	_, err = c.NodeStatus(t.Context(), n.addr)
	wantRevoked("status", err)
	_, err = c.Debug(t.Context(), n.addr, "mod-1", func(string, string) {})
	wantRevoked("debug", err)
	_, err = c.IsMember(t.Context(), n.addr, "n1", "")
	wantRevoked("membership question", err)
	for _, route := range []struct{ path, body string }{
		{"/command/mod-1/execute", `{"__exec__":"power","power":[]}`},
		{"/cluster/join", `{"id":"n3","raft_addr":"127.0.0.1:7003","http_addr":"127.0.0.1:8083"}`},
		{"/cluster/leave", `{"id":"n2"}`},
	} {
		if code, body := do(t, revoked, http.MethodPost, n.url+httpwire.NodeBase+route.path, route.body); code != http.StatusForbidden ||
			!strings.Contains(body, "revoked") {
			t.Errorf("POST %s: %d %s", route.path, code, body)
		}
	}
	if raftThrough(t, raft, revoked, n.addr) {
		t.Fatal("Raft took a revoked certificate")
	}
	if len(n.local.execCalls()) != 0 || n.members.calls() != 0 || n.leaves.Load() != 0 || len(n.local.attached()) != 0 {
		t.Fatal("a revoked certificate's request reached the node")
	}

	// A member asked about the node answers for that certificate: not a member.
	ok, err := newClient(t, peer.Proof{TLS: cs.of(t, "n1")}).IsMember(t.Context(), n.addr, "n3", old.Fingerprint())
	if err != nil || ok {
		t.Fatalf("membership of the revoked certificate: %t %v", ok, err)
	}

	// The node's new certificate is served, and its join records it, whatever the body says.
	fresh := peer.Proof{TLS: cs.reissue(t, "n3")}
	if !raftThrough(t, raft, fresh, n.addr) {
		t.Fatal("Raft refused the re-added node's new certificate")
	}
	j := member("n3", "127.0.0.1:7003", "127.0.0.1:8083")
	j.Cert = "chosen-by-the-joiner"
	if err := newClient(t, fresh).Join(t.Context(), n.addr, j); err != nil {
		t.Fatalf("join with the new certificate: %v", err)
	}
	if got := n.members.seen().joins; len(got) != 1 || got[0].Cert != fresh.TLS.Fingerprint() {
		t.Fatalf("the join recorded %+v, want the certificate %s", got, fresh.TLS.Fingerprint())
	}
}

// TestCACertificateIsNoNode: the CA's own certificate verifies against the CA, but it is no node:
// the cluster port refuses it in the handshake, so it cannot join, whatever its name.
func TestCACertificateIsNoNode(t *testing.T) {
	t.Parallel()
	cs := newCerts(t, "n1")
	n := newNode(t, func(s *setup) { s.proof = peer.Proof{TLS: cs.of(t, "n1")} })
	ca, err := tls.LoadX509KeyPair(clustertls.CAFile(cs.dir), clustertls.CAKeyFile(cs.dir))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(clustertls.CAFile(cs.dir))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{ca}, RootCAs: pool, ServerName: clustertls.ServerName, MinVersion: tls.VersionTLS13,
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(n.url+httpwire.NodeBase+"/cluster/join", "application/json",
		strings.NewReader(`{"id":"engine cluster CA","raft_addr":"127.0.0.1:7009","http_addr":"127.0.0.1:8089"}`))
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("the CA certificate was served: %s", resp.Status)
	}
	if n.members.calls() != 0 {
		t.Fatal("the CA certificate's join reached the membership")
	}
}

// reissue is a second certificate for node, signed by the same CA (as `engine tls init` makes
// after the node's files were deleted).
func (c certs) reissue(t *testing.T, node string) *clustertls.Material {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "again")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{clustertls.CAFile(c.dir), clustertls.CAKeyFile(c.dir)} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := clustertls.Init(dir, []string{node}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return certs{dir}.of(t, node)
}
