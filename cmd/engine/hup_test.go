package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
)

// TestAPIKeysReloadable: what a SIGHUP does to the API keys under each --auth setup, as the log
// says it: nothing under --auth none or without --api-keys; a good file's key count; a bad file's
// ERROR naming it and why, the keys in force kept. Never a key in the log.
func TestAPIKeysReloadable(t *testing.T) {
	t.Parallel()
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	const key, other = "reloadable-key-0123456789", "other-key-0123456789abc"
	testutil.WriteFile(t, keys, `[{key: "`+key+`", user_id: u1}]`)
	hup := func(o *options, file string, want ...string) {
		t.Helper()
		authn, err := authenticator(o)
		if err != nil {
			t.Fatal(err)
		}
		if file != "" {
			testutil.WriteFile(t, keys, file)
		}
		var logs strings.Builder
		apiKeys(o, authn)(hclog.New(&hclog.LoggerOptions{Output: &logs}))
		for _, w := range want {
			if !strings.Contains(logs.String(), w) {
				t.Fatalf("the log %q does not say %q", logs.String(), w)
			}
		}
		if strings.Contains(logs.String(), key) || strings.Contains(logs.String(), other) {
			t.Fatalf("the log shows a key: %s", logs.String())
		}
	}
	hup(&options{Auth: "none"}, "", "[INFO]", "--auth none reads no API keys; nothing to reload")
	hup(&options{Auth: "keys", JWTSecret: "a-jwt-secret-of-at-least-32-bytes-0123"}, "", "[INFO]", "no --api-keys file; nothing to reload")
	with := &options{Auth: "keys", APIKeys: keys}
	hup(with, `[{key: "`+key+`", user_id: u1}, {key: "`+other+`", user_id: u2}]`, "[INFO]", "API keys reloaded: file="+keys+" keys=2")
	hup(with, `[{key: "`+other+`", user_id: u2, role: root}]`, "[ERROR]", "reloading the API keys failed; keeping the ones in force",
		"file="+keys, "keys=2", `unknown role \"root\"`)
	// An empty file is taken where bearer tokens authenticate too, but said loudly.
	testutil.WriteFile(t, keys, `[{key: "`+key+`", user_id: u1}]`)
	tokensToo := &options{Auth: "keys", APIKeys: keys, JWTSecret: "a-jwt-secret-of-at-least-32-bytes-0123"}
	hup(tokensToo, `[]`, "[WARN]", "API keys reloaded: the file holds no keys, so every API key is refused now: file="+keys)
}
