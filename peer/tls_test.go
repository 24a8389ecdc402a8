package peer_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
)

// cluster makes a CA and certificates for nodes in a fresh folder and loads one node's.
type certs struct{ dir string }

func newCerts(t *testing.T, nodes ...string) certs {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tls")
	if _, err := clustertls.Init(dir, nodes, time.Now()); err != nil {
		t.Fatal(err)
	}
	return certs{dir}
}

func (c certs) of(t *testing.T, node string) *clustertls.Material {
	t.Helper()
	m, err := clustertls.Load(clustertls.CAFile(c.dir), clustertls.CertFile(c.dir, node), clustertls.KeyFile(c.dir, node))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestClusterPortOverTLS: nodes of one CA reach each other's node routes (executes, debug
// streams, joins) with no secret, the certificate naming the node; anything else is turned away
// in the handshake, before a byte of its request is read.
func TestClusterPortOverTLS(t *testing.T) {
	t.Parallel()
	cs := newCerts(t, "n1", "n2")
	n := newNode(t, func(s *setup) { s.proof = peer.Proof{TLS: cs.of(t, "n1")} })
	c := peer.NewClient(peer.Proof{TLS: cs.of(t, "n2")})

	caller := auth.Caller{UserID: "u1", Clearance: auth.ClearanceSupport}
	res, err := c.Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power", Caller: caller})
	if err != nil || res.Code != http.StatusOK {
		t.Fatalf("exec over TLS: %+v %v", res, err)
	}
	if got := n.local.execCalls()[0].Caller; got != (auth.Caller{UserID: "u1", Clearance: auth.ClearanceSupport, Node: true}) {
		t.Fatalf("caller %+v", got)
	}
	n.local.onDebug(nil, "info hello")
	var got lines
	cancel, err := c.Debug(t.Context(), n.addr, "mod-1", got.fn)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, within, "the line over wss", func() bool { return len(got.all()) == 1 })
	cancel()
	// A node joins as itself only: the certificate of n2 cannot add a node called n3.
	if err := c.Join(t.Context(), n.addr, member("n2", "127.0.0.1:7002", "127.0.0.1:8082")); err != nil {
		t.Fatalf("join as itself: %v", err)
	}
	wantKind(t, c.Join(t.Context(), n.addr, member("n3", "127.0.0.1:7003", "127.0.0.1:8083")), errkind.Forbidden, http.StatusForbidden)
	if joins := n.members.seen().joins; len(joins) != 1 || joins[0].ID != "n2" {
		t.Fatalf("joins %v", joins)
	}

	refusedBefore := n.port.Refused()
	// A node of another cluster: its own CA signed it, not ours.
	other := peer.NewClient(peer.Proof{TLS: newCerts(t, "n2").of(t, "n2")})
	if _, err := other.Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"}); err == nil {
		t.Fatal("a node of another cluster was served")
	} else if !errors.Is(err, clustertls.ErrNotACluster) || !strings.Contains(err.Error(), "is not of this cluster") {
		t.Fatalf("the error does not say the node is of another cluster: %v", err)
	}
	// A client with no certificate, and one that does not speak TLS at all.
	raw, err := tls.Dial("tcp", n.addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the attacker's side
	if err == nil {
		_, err = raw.Write([]byte("POST /api/core/v1/cluster/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"))
		if err == nil {
			_, err = raw.Read(make([]byte, 1))
		}
		_ = raw.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was answered")
	}
	plain, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Write([]byte("POST /api/core/v1/cluster/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = plain.SetReadDeadline(time.Now().Add(within))
	if k, err := plain.Read(buf); err == nil && k > 0 && string(buf[:4]) == "HTTP" {
		t.Fatalf("plain HTTP was answered: %q", buf[:k])
	}
	_ = plain.Close()
	testutil.Eventually(t, within, "three connections refused", func() bool { return n.port.Refused() >= refusedBefore+3 })
	if len(n.local.execCalls()) != 1 || len(n.members.seen().applies) != 0 {
		t.Fatal("a refused connection reached the engine")
	}
}

// TestClusterPortSortsRaftFromHTTP: connections whose first byte is a Raft RPC type go to the Raft
// listener, HTTP requests to the server; anything else is refused.
func TestClusterPortSortsRaftFromHTTP(t *testing.T) {
	t.Parallel()
	port, accepted := raftPort(t, peer.Proof{Open: true}, 3)
	c, err := port.Dial(context.Background(), port.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{0, 7, 9}); err != nil { // rpcAppendEntries and two bytes of it
		t.Fatal(err)
	}
	select {
	case b := <-accepted:
		if b[0] != 0 || b[1] != 7 || b[2] != 9 {
			t.Fatalf("raft got %v: the peeked byte was lost", b)
		}
	case <-time.After(within):
		t.Fatal("the Raft listener got nothing")
	}
	junk, err := net.Dial("tcp", port.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := junk.Write([]byte("\xff\xfe")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, within, "junk refused", func() bool { return port.Refused() == 1 })
	if _, err := junk.Read(make([]byte, 1)); err == nil {
		t.Fatal("junk connection left open")
	}
	_ = junk.Close()
	if err := port.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := port.HTTP().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
}

// TestClusterPortGreeting: without TLS, a Raft connection reaches the Raft listener only when it
// opens with the greeting of the port's cluster secret; one without (a stock Raft transport) or
// with another secret's is refused, as is every connection to a port that has no way to tell a
// node.
func TestClusterPortGreeting(t *testing.T) {
	t.Parallel()
	rpc := append([]byte{0, 7, 9}, make([]byte, 125)...) // an AppendEntries-sized write
	for _, tt := range []struct {
		name       string
		port, dial peer.Proof
		through    bool
	}{
		{"the port's secret", proved, proved, true},
		{"another secret", proved, peer.Proof{Secret: secret + "x"}, false},
		{"no greeting", proved, peer.Proof{}, false},
		{"a port with no proof", peer.Proof{}, proved, false},
		{"a port with no proof, no greeting", peer.Proof{}, peer.Proof{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port, accepted := raftPort(t, tt.port, len(rpc))
			// A port with no proof closes at once: the writes may fail, the refusal is what counts.
			c, err := tt.dial.Dial(t.Context(), port.Addr().String(), time.Second)
			if err == nil {
				defer c.Close()
				_, err = c.Write(rpc)
			}
			if err != nil && tt.through {
				t.Fatal(err)
			}
			if tt.through {
				select {
				case b := <-accepted:
					if !bytes.Equal(b, rpc) {
						t.Fatalf("raft got %v", b[:3])
					}
				case <-time.After(within):
					t.Fatal("the Raft listener got nothing")
				}
				return
			}
			testutil.Eventually(t, within, "the connection refused", func() bool { return port.Refused() == 1 })
			if c != nil {
				_ = c.SetReadDeadline(time.Now().Add(within))
				if _, err := c.Read(make([]byte, 1)); err == nil {
					t.Fatal("the refused connection was left open")
				}
			}
			select {
			case <-accepted:
				t.Fatal("a refused connection reached Raft")
			default:
			}
		})
	}
}

// raftPort is a cluster port admitting proof, and the first n bytes its Raft listener receives on
// the first connection it accepts.
func raftPort(t *testing.T, proof peer.Proof, n int) (*peer.Port, <-chan []byte) {
	t.Helper()
	port, err := peer.Listen("127.0.0.1:0", proof, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = port.Close() })
	accepted := make(chan []byte, 1)
	go func() {
		c, err := port.Raft().Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, n)
		if _, err := io.ReadFull(c, b); err == nil {
			accepted <- b
		}
	}()
	return port, accepted
}

// TestJoinThroughAClientAPI: a node with certificates that calls a plain HTTP server (a member's
// client API, given to --join by mistake) gets an error saying so, which a join does not retry.
func TestJoinThroughAClientAPI(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.NotFoundHandler())
	defer ts.Close()
	c := peer.NewClient(peer.Proof{TLS: newCerts(t, "n2").of(t, "n2")})
	err := c.Join(t.Context(), strings.TrimPrefix(ts.URL, "http://"), member("n2", "127.0.0.1:7002", "127.0.0.1:8082"))
	if !errors.Is(err, peer.ErrNotClusterPort) || !strings.Contains(err.Error(), "--raft-addr") {
		t.Fatalf("join through a plain HTTP server: %v", err)
	}
}

// TestNodeRoutesNeedANodeCertificate: a certificate of the cluster's CA that names no node gets
// through the handshake but is refused by every execute, over the exec protocol and over HTTP
// alike (403 access_denied); nothing runs.
func TestNodeRoutesNeedANodeCertificate(t *testing.T) {
	t.Parallel()
	cs := newCerts(t, "n1")
	n := newNode(t, func(s *setup) { s.proof = peer.Proof{TLS: cs.of(t, "n1")} })
	nameless := peer.Proof{TLS: cs.nameless(t)}
	_, err := peer.NewClient(nameless).Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"})
	wantKind(t, err, errkind.Forbidden, http.StatusForbidden)
	if !errors.Is(err, errkind.Forbidden) || !strings.Contains(err.Error(), "names no node") {
		t.Fatalf("exec: %v", err)
	}
	code, body := do(t, nameless, http.MethodPost, n.url+"/api/core/v1/command/mod-1/execute", `{"__exec__":"power","power":[]}`)
	if code != http.StatusForbidden || !strings.Contains(body, "names no node") {
		t.Fatalf("HTTP: %d %s", code, body)
	}
	if len(n.local.execCalls()) != 0 {
		t.Fatal("a certificate naming no node ran a call")
	}
}

// nameless is a certificate the cluster's CA signed for node use, without a node name.
func (c certs) nameless(t *testing.T) *clustertls.Material {
	t.Helper()
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		return blk.Bytes
	}
	ca, err := x509.ParseCertificate(read(clustertls.CAFile(c.dir)))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := x509.ParseECPrivateKey(read(clustertls.CAKeyFile(c.dir)))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), DNSNames: []string{clustertls.ServerName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(c.dir, "nameless.pem"), filepath.Join(c.dir, "nameless-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := clustertls.Load(clustertls.CAFile(c.dir), certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
