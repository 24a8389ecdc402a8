package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/core"
	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/supervisor"
)

// authenticator builds --auth keys; nil means --auth none (every caller is an admin, and the
// API refuses to listen beyond loopback).
func authenticator(o *options, log hclog.Logger) (*httpapi.Authenticator, error) {
	if o.Auth == "none" {
		return nil, nil
	}
	cfg := httpapi.AuthConfig{Logger: log}
	if o.APIKeys != "" {
		keys, err := httpapi.LoadAPIKeys(o.APIKeys)
		if err != nil {
			return nil, err
		}
		cfg.APIKeys = keys
	}
	jwt, err := httpapi.LoadJWTVerifier(o.JWTSecret, o.JWTPublicKey)
	if err != nil {
		return nil, err
	}
	cfg.JWT = jwt
	if cfg.APIKeys == nil && cfg.JWT == nil {
		return nil, fmt.Errorf("--auth keys needs --api-keys, --jwt-secret or --jwt-public-key (or --auth none, loopback only, for development)")
	}
	return httpapi.NewAuthenticator(cfg), nil
}

func loadCredentials(path string) ([]builder.Credential, error) {
	if path == "" {
		return nil, nil
	}
	return builder.LoadCredentials(path)
}

// findSDKDir is the engine checkout the binary was built in (the folder above bin/ holding the
// engine's go.mod), so driver builds use this engine's SDK; "" when there is none.
func findSDKDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	for dir := filepath.Dir(exe); ; dir = filepath.Dir(dir) {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(data), "module "+builder.EngineModule+"\n") {
			return dir
		}
		if parent := filepath.Dir(dir); parent == dir {
			return ""
		}
	}
}

// debugger streams a module's debug lines from wherever it runs: this node's supervisor, or
// the owner node's debugger route.
type debugger struct {
	core   *core.Core
	sup    *supervisor.Supervisor
	self   string
	secret string
}

func (d *debugger) Debug(ctx context.Context, moduleID string, fn func(level, msg string)) (func(), error) {
	owner, addr := d.core.Owner(moduleID)
	if owner == d.self {
		return d.sup.Debug(moduleID, fn), nil
	}
	return httpapi.DialDebugger(ctx, addr, d.secret, moduleID, fn)
}
