package clustertls

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
)

// Fingerprint names one certificate: the SHA-256 of its DER encoding, in lower-case hex (what
// `openssl x509 -noout -fingerprint -sha256` prints, without the colons and in lower case). The
// cluster records the fingerprints a node joined with and refuses them once it is removed: a
// node's name alone cannot be revoked, as the CA may sign another certificate for it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// PeerFingerprint is the Fingerprint of the certificate a verified TLS peer presented ("" when
// the connection state has no verified chain).
func PeerFingerprint(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return Fingerprint(cs.VerifiedChains[0][0].Raw)
}

// Fingerprint is the Fingerprint of this node's certificate, the one it presents now.
func (m *Material) Fingerprint() string { return Fingerprint(m.cur.Load().cert.Leaf.Raw) }

// nodeCertificate checks that leaf can stand for a node: the CA signs node certificates, and a
// certificate that may sign others (the CA's own) or that was not made for mutual TLS is no node,
// whatever its name says. Go's chain check takes a certificate without extended key usages for
// any usage, so the usages are asked for explicitly.
func nodeCertificate(leaf *x509.Certificate) error {
	if leaf.IsCA {
		return fmt.Errorf("%w: the certificate %q is a CA's, not a node's", ErrNotACluster, leaf.Subject.CommonName)
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if !slices.Contains(leaf.ExtKeyUsage, u) {
			return fmt.Errorf("%w: the certificate %q lacks the client and server authentication usages of a node certificate",
				ErrNotACluster, leaf.Subject.CommonName)
		}
	}
	return nil
}

// verifyNode is the cluster port's check of a client beyond its chain (tls.Config.VerifyConnection).
func verifyNode(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // RequireAndVerifyClientCert refuses it already
	}
	return nodeCertificate(cs.PeerCertificates[0])
}
