package main

import (
	"fmt"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/clustertls"
)

// authenticator builds the --auth mode: keys (API keys and bearer tokens) or none (every caller
// is an admin, and the API refuses to listen beyond loopback).
func authenticator(o *options) (*auth.Authenticator, error) {
	cfg := auth.Config{Disabled: o.Auth == "none"}
	if !cfg.Disabled {
		if o.APIKeys != "" {
			keys, err := auth.LoadAPIKeys(o.APIKeys)
			if err != nil {
				return nil, err
			}
			cfg.APIKeys = keys
		}
		jwt, err := auth.LoadJWTVerifier(auth.JWTConfig{Secret: []byte(o.JWTSecret), Issuer: o.JWTIssuer, Audience: o.JWTAudience}, o.JWTPublicKey)
		if err != nil {
			return nil, err
		}
		cfg.JWT = jwt
	}
	return auth.New(cfg)
}

// clusterTLS loads the cluster's certificates; nil when the cluster port runs without TLS.
func clusterTLS(o *options) (*clustertls.Material, error) {
	if !o.tlsFiles() {
		return nil, nil
	}
	m, err := clustertls.Load(o.TLSCA, o.TLSCert, o.TLSKey)
	if err != nil {
		return nil, err
	}
	if m.Node() != o.NodeID {
		return nil, fmt.Errorf("--tls-cert was made for node %q, but this is node %q (--node-id)", m.Node(), o.NodeID)
	}
	return m, nil
}

func loadCredentials(path string) ([]builder.Credential, error) {
	if path == "" {
		return nil, nil
	}
	return builder.LoadCredentials(path)
}
