package clustertls

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// KeyPair is a certificate and key served to clients (the client API's HTTPS,
// --http-tls-cert/--http-tls-key): any CA, read again on Reload like the cluster's material.
type KeyPair struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadKeyPair reads a PEM certificate (chain) and its key.
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	k := &KeyPair{certFile: certFile, keyFile: keyFile}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload reads the files again. On error the pair in use is kept.
func (k *KeyPair) Reload() error {
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return fmt.Errorf("%w: %s, %s: %w", ErrBadMaterial, k.certFile, k.keyFile, err)
	}
	k.cur.Store(&c)
	return nil
}

// ServerConfig serves the pair, whichever was loaded last.
func (k *KeyPair) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12, // browsers and tools of every age call the client API
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return k.cur.Load(), nil
		},
	}
}
