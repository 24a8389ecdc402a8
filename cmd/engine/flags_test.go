package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJoinAddressForms: --join in the forms people type.
func TestJoinAddressForms(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.0.0.1:8080":          "10.0.0.1:8080",
		"http://10.0.0.1:8080":   "10.0.0.1:8080",
		"http://10.0.0.1:8080/":  "10.0.0.1:8080",
		"HTTP://node-1:8080":     "node-1:8080",
		"https://node-1:7000/":   "node-1:7000",
		" node-1:8080 ":          "node-1:8080",
		"[::1]:8080":             "[::1]:8080",
		"http://[fe80::1]:8080/": "[fe80::1]:8080",
	} {
		if got, err := memberAddr(in); err != nil || got != want {
			t.Errorf("--join %q = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"10.0.0.1", "http://10.0.0.1:8080/api", "user@host:80", ":8080", "host:", "ftp://h:1", "ws://h:1"} {
		if got, err := memberAddr(in); err == nil {
			t.Errorf("--join %q accepted as %q", in, got)
		} else if !strings.Contains(err.Error(), "--join") {
			t.Errorf("--join %q: the error does not name the flag: %v", in, err)
		}
	}
}

// TestBadFlagsTouchNothing: a refused combination of flags is refused before anything is created
// in the data directory (no Raft state bootstrapped, no directory made).
func TestBadFlagsTouchNothing(t *testing.T) {
	t.Parallel()
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(keys, []byte(`[{key: "0123456789abcdef0123", user_id: a, role: admin}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"join without a cluster secret": {"--auth", "keys", "--api-keys", keys, "--join", "127.0.0.1:1", "--bootstrap"},
		"join by ftp":                   {"--auth", "none", "--join", "ftp://127.0.0.1:1"},
		"open cluster port":             {"--auth", "none", "--raft-addr", "0.0.0.0:7000", "--bootstrap"},
		"half the TLS files":            {"--auth", "none", "--tls-ca", "ca.pem", "--bootstrap"},
		"unknown auth":                  {"--auth", "open", "--bootstrap"},
		"zero exec timeout":             {"--auth", "none", "--exec-timeout", "0s", "--bootstrap"},
		"keys without keys":             {"--auth", "keys", "--bootstrap"},
		"unknown log format":            {"--log-format", "xml", "--bootstrap"},
		"no auth beyond loopback":       {"--auth", "none", "--http-addr", "0.0.0.0:0", "--bootstrap"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := serve(ctx, append([]string{"--data-dir", dir, "--redis", "redis://127.0.0.1:1/0", "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"}, args...),
				false, &signals{cancel: cancel})
			if err == nil {
				t.Fatal("accepted")
			}
			if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
				t.Fatalf("refused with %v, but the data directory was created", err)
			}
		})
	}
}
