package clustertls

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"path/filepath"
	"testing"
	"time"
)

// TestOnlyNodeCertificatesConnect: certificates the cluster's CA verifies but that are no node's —
// the CA's own, one without the client-authentication usage — are refused in the handshake, and
// a node cannot load one as its own. A fingerprint names the certificate presented.
func TestOnlyNodeCertificatesConnect(t *testing.T) {
	t.Parallel()
	dir := initDir(t, "n1", "n2")
	n1 := load(t, dir, "n1")
	addr, peers := serve(t, n1)
	ca, caKey, err := loadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	// A certificate for node use, but server authentication only (as openssl makes with a
	// partial extendedKeyUsage).
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "n3"},
		DNSNames: []string{ServerName}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caPair, err := tls.LoadX509KeyPair(CAFile(dir), CAKeyFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	for name, cert := range map[string]tls.Certificate{
		"the CA's certificate":               caPair,
		"a certificate without client usage": {Certificate: [][]byte{der}, PrivateKey: key},
	} {
		c, err := tls.Dial("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: ServerName, MinVersion: tls.VersionTLS13})
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // a server that took it says nothing
			_, err = c.Read(make([]byte, 1))                       // TLS 1.3: the server's verdict comes with the first read
			_ = c.Close()
		}
		if err == nil {
			t.Fatalf("%s was served", name)
		}
		if got := <-peers; got != "refused" {
			t.Fatalf("%s: the server saw %q", name, got)
		}
	}

	// Nor is it a node's own certificate.
	certFile := filepath.Join(t.TempDir(), "n3.pem")
	if err := writePEM(certFile, "CERTIFICATE", der, 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "n3-key.pem")
	if err := writeKey(keyFile, key); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(CAFile(dir), certFile, keyFile); err == nil {
		t.Fatal("a certificate without client usage loaded as a node's")
	}

	// A node's certificate connects; the other side's fingerprint names the certificate it showed.
	c, err := load(t, dir, "n2").Dial(t.Context(), addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := <-peers; got != "n2" {
		t.Fatalf("the server saw %q", got)
	}
	cs := c.(*tls.Conn).ConnectionState()
	if fp := PeerFingerprint(&cs); fp != n1.Fingerprint() || len(fp) != 64 {
		t.Fatalf("the server's fingerprint %q, n1's %q", fp, n1.Fingerprint())
	}
}
