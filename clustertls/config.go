package clustertls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// Material is one node's view of the cluster's TLS: the CA it trusts and its own certificate.
// It is safe for concurrent use; Reload swaps what new connections use.
type Material struct {
	caFile, certFile, keyFile string
	cur                       atomic.Pointer[loaded]
}

type loaded struct {
	pool *x509.CertPool
	cert tls.Certificate
	node string // the certificate's common name
}

// Load reads the CA certificate and this node's certificate and key, checking that the
// certificate is one the CA signed for node use.
func Load(caFile, certFile, keyFile string) (*Material, error) {
	m := &Material{caFile: caFile, certFile: certFile, keyFile: keyFile}
	if err := m.Reload(); err != nil {
		return nil, err
	}
	return m, nil
}

// Reload reads the files again. On error the material in use is kept.
func (m *Material) Reload() error {
	caPEM, err := os.ReadFile(m.caFile)
	if err != nil {
		return fmt.Errorf("%w: CA: %w", ErrBadMaterial, err)
	}
	pool := x509.NewCertPool()
	for rest := caPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		ca, err := x509.ParseCertificate(b.Bytes)
		if err != nil || !ca.IsCA {
			return fmt.Errorf("%w: %s holds a certificate that is not a CA", ErrBadMaterial, m.caFile)
		}
		pool.AddCert(ca)
	}
	if pool.Equal(x509.NewCertPool()) {
		return fmt.Errorf("%w: %s holds no PEM certificate", ErrBadMaterial, m.caFile)
	}
	cert, err := tls.LoadX509KeyPair(m.certFile, m.keyFile)
	if err != nil {
		return fmt.Errorf("%w: node certificate: %w", ErrBadMaterial, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadMaterial, m.certFile, err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("%w: %s is not a node certificate of the CA in %s: %w", ErrBadMaterial, m.certFile, m.caFile, err)
	}
	if err := nodeCertificate(leaf); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadMaterial, m.certFile, err)
	}
	cert.Leaf = leaf
	m.cur.Store(&loaded{pool: pool, cert: cert, node: leaf.Subject.CommonName})
	return nil
}

// Node is the node name this node's certificate was made for.
func (m *Material) Node() string { return m.cur.Load().node }

// Expires is when this node's certificate stops being valid.
func (m *Material) Expires() time.Time { return m.cur.Load().cert.Leaf.NotAfter }

// ServerConfig is the cluster port's TLS: a client must present a certificate of the cluster.
func (m *Material) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cur := m.cur.Load()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{cur.cert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    cur.pool,
				// The CA's own certificate verifies against itself: refused here, at the handshake.
				VerifyConnection: verifyNode,
			}, nil
		},
	}
}

// ClientConfig is the TLS of a dial to another node: it presents this node's certificate and
// accepts only a server holding one of the cluster.
func (m *Material) ClientConfig() *tls.Config {
	cur := m.cur.Load()
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cur.cert},
		RootCAs:      cur.pool,
		ServerName:   ServerName,
	}
}

// Dial opens a TLS connection to another node's cluster port within timeout.
func (m *Material) Dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: m.ClientConfig()}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("%w: %s: %w", ErrNotACluster, addr, err)
		}
		return nil, err
	}
	return conn, nil
}

// PeerNode is the node name in the certificate a verified TLS peer presented ("" when the
// connection state has no verified chain).
func PeerNode(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return cs.VerifiedChains[0][0].Subject.CommonName
}
