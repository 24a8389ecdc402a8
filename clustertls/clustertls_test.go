package clustertls

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func initDir(t *testing.T, nodes ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tls")
	if _, err := Init(dir, nodes, time.Now()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t *testing.T, dir, node string) *Material {
	t.Helper()
	m, err := Load(CAFile(dir), CertFile(dir, node), KeyFile(dir, node))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInitWritesACAAndNodeCertificates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tls")
	wrote, err := Init(dir, []string{"n1", "n2"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{CAFile(dir), CAKeyFile(dir), CertFile(dir, "n1"), KeyFile(dir, "n1"), CertFile(dir, "n2"), KeyFile(dir, "n2")}
	if !slices.Equal(wrote, want) {
		t.Fatalf("wrote %v", wrote)
	}
	for _, key := range []string{CAKeyFile(dir), KeyFile(dir, "n1")} {
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", key, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v %v", dir, fi.Mode(), err)
	}
	// Run again for a new node: the CA and existing nodes are kept, the newcomer signed by them.
	before, err := os.ReadFile(CertFile(dir, "n1"))
	if err != nil {
		t.Fatal(err)
	}
	wrote, err = Init(dir, []string{"n1", "n3"}, time.Now())
	if err != nil || !slices.Equal(wrote, []string{CertFile(dir, "n3"), KeyFile(dir, "n3")}) {
		t.Fatalf("second Init wrote %v, %v", wrote, err)
	}
	if after, _ := os.ReadFile(CertFile(dir, "n1")); string(after) != string(before) {
		t.Fatal("an existing node certificate was replaced")
	}
	if m := load(t, dir, "n3"); m.Node() != "n3" || time.Until(m.Expires()) < NodeLifetime-2*time.Hour {
		t.Fatalf("n3: node %q expires %s", m.Node(), m.Expires())
	}
	for _, bad := range []string{"", "../x", "a b", "-x"} {
		if _, err := Init(dir, []string{bad}, time.Now()); !errors.Is(err, ErrBadMaterial) {
			t.Errorf("node name %q: %v", bad, err)
		}
	}
}

func TestLoadRefusesACertificateOfAnotherCA(t *testing.T) {
	t.Parallel()
	a, b := initDir(t, "n1"), initDir(t, "n1")
	if _, err := Load(CAFile(a), CertFile(b, "n1"), KeyFile(b, "n1")); !errors.Is(err, ErrBadMaterial) {
		t.Fatalf("a certificate of another CA: %v", err)
	}
	if _, err := Load(CAFile(a), CertFile(a, "n1"), KeyFile(b, "n1")); !errors.Is(err, ErrBadMaterial) {
		t.Fatalf("a key that does not match: %v", err)
	}
	if _, err := Load(filepath.Join(a, "missing.pem"), CertFile(a, "n1"), KeyFile(a, "n1")); !errors.Is(err, ErrBadMaterial) {
		t.Fatalf("no CA: %v", err)
	}
	if _, err := Load(CertFile(a, "n1"), CertFile(a, "n1"), KeyFile(a, "n1")); !errors.Is(err, ErrBadMaterial) {
		t.Fatalf("the node's own certificate as CA: %v", err)
	}
}

// serve accepts TLS connections with m and reports what each client presented.
func serve(t *testing.T, m *Material) (string, <-chan string) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	peers := make(chan string, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.HandshakeContext(context.Background()); err != nil {
					peers <- "refused"
					return
				}
				cs := tc.ConnectionState()
				peers <- PeerNode(&cs)
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String(), peers
}

func TestOnlyNodesOfTheClusterConnect(t *testing.T) {
	t.Parallel()
	dir := initDir(t, "n1", "n2")
	other := initDir(t, "n2")
	addr, peers := serve(t, load(t, dir, "n1"))

	c, err := load(t, dir, "n2").Dial(t.Context(), addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-peers; got != "n2" {
		t.Fatalf("server saw %q", got)
	}
	_ = c.Close()

	// A node of another cluster: its certificate is refused by the server, and it refuses the
	// server's in turn.
	if c, err := load(t, other, "n2").Dial(t.Context(), addr, 5*time.Second); err == nil {
		_ = c.Close()
		t.Fatal("a node of another cluster connected")
	} else if !errors.Is(err, ErrNotACluster) {
		t.Fatalf("dial error %v is not ErrNotACluster", err)
	}
	// A client with no certificate at all.
	raw, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the attacker's side
	if err == nil {
		// TLS 1.3 finishes the client's side before the server has checked; the server then
		// refuses, and the first read fails.
		_, err = raw.Read(make([]byte, 1))
		_ = raw.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}
	for range 2 {
		if got := <-peers; got != "refused" {
			t.Fatalf("server saw %q, want refused", got)
		}
	}
}

func TestReloadRotatesTheCertificate(t *testing.T) {
	t.Parallel()
	dir := initDir(t, "n1", "n2")
	m := load(t, dir, "n1")
	addr, peers := serve(t, m)
	first := m.cur.Load().cert.Leaf.SerialNumber
	for _, f := range []string{CertFile(dir, "n1"), KeyFile(dir, "n1")} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Init(dir, []string{"n1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if m.cur.Load().cert.Leaf.SerialNumber.Cmp(first) == 0 {
		t.Fatal("Reload kept the old certificate")
	}
	conn, err := load(t, dir, "n2").Dial(t.Context(), addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber
	if got.Cmp(m.cur.Load().cert.Leaf.SerialNumber) != 0 {
		t.Fatal("new connections do not get the reloaded certificate")
	}
	<-peers
	// A broken file keeps what is in use.
	if err := os.WriteFile(CertFile(dir, "n1"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(); !errors.Is(err, ErrBadMaterial) || m.Node() != "n1" {
		t.Fatalf("reload of a broken file: %v, node %q", err, m.Node())
	}
}
