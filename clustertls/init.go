package clustertls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/placeos-go/engine/internal/atomicfile"
)

// ServerName is the DNS name every node certificate carries and every node dials.
const ServerName = "node.engine.cluster"

// Lifetimes of what Init makes.
const (
	CALifetime   = 10 * 365 * 24 * time.Hour
	NodeLifetime = 2 * 365 * 24 * time.Hour
)

// Files of a node in an Init output folder.
func CAFile(dir string) string             { return filepath.Join(dir, "ca.pem") }
func CAKeyFile(dir string) string          { return filepath.Join(dir, "ca-key.pem") }
func CertFile(dir, node string) string     { return filepath.Join(dir, node+".pem") }
func KeyFile(dir, node string) string      { return filepath.Join(dir, node+"-key.pem") }
func nodeFiles(dir, node string) [2]string { return [2]string{CertFile(dir, node), KeyFile(dir, node)} }

var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// Init writes the cluster's CA (ca.pem, ca-key.pem) into dir, unless it is there already, and a
// certificate and key for each node (<node>.pem, <node>-key.pem) that has none. Keys are written
// readable by their owner only. It returns the files it wrote.
func Init(dir string, nodes []string, now time.Time) ([]string, error) {
	for _, n := range nodes {
		if !nodeName.MatchString(n) {
			return nil, fmt.Errorf("%w: node name %q (letters, digits, '.', '_', '-')", ErrBadMaterial, n)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var wrote []string
	ca, caKey, err := loadCA(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if ca, caKey, err = newCA(now); err != nil {
			return nil, err
		}
		if err := writePEM(CAFile(dir), "CERTIFICATE", ca.Raw, 0o644); err != nil {
			return nil, err
		}
		if err := writeKey(CAKeyFile(dir), caKey); err != nil {
			return nil, err
		}
		wrote = append(wrote, CAFile(dir), CAKeyFile(dir))
	} else if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		files := nodeFiles(dir, n)
		if _, err := os.Stat(files[0]); err == nil {
			continue // rotate by deleting the files and running Init again
		}
		der, key, err := newNodeCert(n, ca, caKey, now)
		if err != nil {
			return nil, err
		}
		if err := writeKey(files[1], key); err != nil {
			return nil, err
		}
		if err := writePEM(files[0], "CERTIFICATE", der, 0o644); err != nil {
			return nil, err
		}
		wrote = append(wrote, files[0], files[1])
	}
	return wrote, nil
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "engine cluster CA", Organization: []string{"engine"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func newNodeCert(node string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: node, Organization: []string{"engine"}},
		DNSNames:     []string{ServerName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(NodeLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Every node is both: it serves the cluster port and dials the others.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	return der, key, err
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(CAFile(dir))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(CAKeyFile(dir))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s exists but its key %s cannot be read: %w", ErrBadMaterial, CAFile(dir), CAKeyFile(dir), err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%w: %s or %s is not PEM", ErrBadMaterial, CAFile(dir), CAKeyFile(dir))
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrBadMaterial, CAFile(dir), err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrBadMaterial, CAKeyFile(dir), err)
	}
	return ca, key, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

// writePEM writes the file whole: a crash never leaves half a key.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}
