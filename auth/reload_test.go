package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/placeos-go/engine/auth"
)

// keyed authenticates a request carrying key in the X-API-Key header.
func keyed(t *testing.T, a *auth.Authenticator, key string) (auth.Caller, error) {
	t.Helper()
	return a.Authenticate(request("", []string{auth.APIKeyHeader, key}, nil))
}

func writeKeys(t *testing.T, path, yaml string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadAPIKeys: a good file replaces the keys for the next request — a removed key is
// refused, a kept one and a new one accepted — and a file failing any check is refused whole, the
// keys in force staying, with an error naming the file and the reason.
func TestReloadAPIKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, `
- {key: "`+userKey+`", user_id: u1, role: user}
- {key: "`+adminKey+`", user_id: a1, role: admin}
`)
	keys, err := auth.LoadAPIKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthenticator(t, auth.Config{APIKeys: keys})
	var changes atomic.Int32
	a.OnAPIKeysChange(func() {
		// The hook runs once the new keys are in force.
		if _, err := keyed(t, a, supportKey); err != nil {
			t.Errorf("in the hook, the new key is refused: %v", err)
		}
		changes.Add(1)
	})

	const newKey = "new-key-0123456789abc"
	writeKeys(t, path, `
- {key: "`+adminKey+`", user_id: a1, role: admin}
- {key: "`+supportKey+`", user_id: s1, role: support}
- {key: "`+newKey+`", user_id: n1}
`)
	n, err := a.ReloadAPIKeys(path)
	if err != nil || n != 3 {
		t.Fatalf("reload: %d keys, %v; want 3, nil", n, err)
	}
	if changes.Load() != 1 {
		t.Fatalf("the hook ran %d times, want once", changes.Load())
	}
	if _, err := keyed(t, a, userKey); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("the removed key: %v, want ErrUnauthenticated", err)
	}
	for key, want := range map[string]string{adminKey: "a1", supportKey: "s1", newKey: "n1"} {
		if c, err := keyed(t, a, key); err != nil || c.UserID != want {
			t.Fatalf("key of %s: %+v, %v", want, c, err)
		}
	}

	bad := []struct{ name, file, reason string }{
		{"not YAML", "- {key: [", "bad authentication configuration"},
		{"short key", `[{key: short, user_id: x}]`, "at least 16 characters"},
		{"duplicate", `[{key: "` + adminKey + `", user_id: a1}, {key: "` + adminKey + `", user_id: a2}]`, "duplicate key"},
		{"unknown role", `[{key: "` + adminKey + `", user_id: a1, role: root}]`, `unknown role "root"`},
		{"unknown field", `[{key: "` + adminKey + `", user_id: a1, rol: admin}]`, "unknown field"},
		{"no key left", `[]`, "every request would be refused"},
	}
	for _, b := range bad {
		writeKeys(t, path, b.file)
		n, err := a.ReloadAPIKeys(path)
		if !errors.Is(err, auth.ErrBadConfig) || !strings.Contains(err.Error(), b.reason) || n != 3 {
			t.Fatalf("%s: %d keys, %v; want the 3 in force and an error saying %q", b.name, n, err, b.reason)
		}
		if b.name != "no key left" && !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: the error does not name the file: %v", b.name, err)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReloadAPIKeys(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
	if changes.Load() != 1 {
		t.Fatalf("refused files ran the hook: %d runs", changes.Load())
	}
	if c, err := keyed(t, a, newKey); err != nil || c.UserID != "n1" {
		t.Fatalf("after the refused files the keys in force changed: %+v, %v", c, err)
	}
}

// TestSetAPIKeysNoKeyLeft: an empty set is accepted only when bearer tokens still authenticate,
// and --auth none has no keys to set.
func TestSetAPIKeysNoKeyLeft(t *testing.T) {
	t.Parallel()
	none, err := auth.ParseAPIKeys([]byte("[]"))
	if err != nil {
		t.Fatal(err)
	}
	withJWT := newAuthenticator(t, auth.Config{APIKeys: testAPIKeys(t), JWT: newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret)})})
	if err := withJWT.SetAPIKeys(none); err != nil {
		t.Fatalf("every key revoked, tokens still accepted: %v", err)
	}
	if _, err := keyed(t, withJWT, adminKey); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("a revoked key: %v", err)
	}
	tok := sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims(jwt.MapClaims{"sub": "t1"}))
	if c, err := withJWT.Authenticate(request("", []string{"Authorization", "Bearer " + tok}, nil)); err != nil || c.UserID != "t1" {
		t.Fatalf("a token after every key was revoked: %+v, %v", c, err)
	}
	if err := withJWT.SetAPIKeys(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := keyed(t, withJWT, adminKey); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("no keys at all: %v", err)
	}
	if err := newAuthenticator(t, auth.Config{Disabled: true}).SetAPIKeys(testAPIKeys(t)); !errors.Is(err, auth.ErrNoKeysToReload) {
		t.Fatalf("--auth none: %v", err)
	}
}

// TestRevoked: a caller its key authenticated is revoked when the key is gone, given to another
// user, or carries a lower role; not when its role rose, nor when a key other than its own
// changed. Callers of other credentials are never revoked by a keys change.
func TestRevoked(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret)})
	a := newAuthenticator(t, auth.Config{APIKeys: testAPIKeys(t), JWT: v})
	callers := map[string]auth.Caller{}
	for _, key := range []string{userKey, supportKey, adminKey} {
		c, err := keyed(t, a, key)
		if err != nil {
			t.Fatal(err)
		}
		callers[key] = c
	}
	tok := sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims(jwt.MapClaims{"sub": "t1", "role": "admin"}))
	byToken, err := a.Authenticate(request("", []string{"Authorization", "Bearer " + tok}, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []auth.Caller{byToken, {UserID: "a1", Clearance: auth.ClearanceAdmin}, auth.NodeCallerOf("a1", "admin")} {
		if why, revoked := a.Revoked(c); revoked {
			t.Fatalf("%+v revoked before any change: %s", c, why)
		}
	}
	tests := []struct {
		name string
		file string
		want map[string]string // key → why; absent: not revoked
	}{
		{"unchanged", `
- {key: "` + userKey + `", user_id: u1, role: user}
- {key: "` + supportKey + `", user_id: s1, role: support}
- {key: "` + adminKey + `", user_id: a1, role: admin}
`, nil},
		{"removed, lowered, raised", `
- {key: "` + userKey + `", user_id: u1, role: admin}
- {key: "` + adminKey + `", user_id: a1, role: support}
`, map[string]string{supportKey: "API key removed", adminKey: "API key's role lowered to support"}},
		{"given to another user", `
- {key: "` + userKey + `", user_id: u2, role: user}
- {key: "` + supportKey + `", user_id: s1, role: support}
- {key: "` + adminKey + `", user_id: a1, role: administrator}
`, map[string]string{userKey: "API key given to another user"}},
	}
	for _, tt := range tests {
		keys, err := auth.ParseAPIKeys([]byte(tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.SetAPIKeys(keys); err != nil {
			t.Fatal(err)
		}
		for key, c := range callers {
			why, revoked := a.Revoked(c)
			if want, ok := tt.want[key]; revoked != ok || why != want {
				t.Errorf("%s: %s's caller: revoked %v (%q), want %v (%q)", tt.name, c.UserID, revoked, why, ok, want)
			}
		}
		if _, revoked := a.Revoked(byToken); revoked {
			t.Errorf("%s: a token's caller was revoked by a keys change", tt.name)
		}
	}
}

// TestSetAPIKeysWhileAuthenticating: requests read the keys while reloads swap them (go test
// -race checks the swap needs no lock on the request path).
func TestSetAPIKeysWhileAuthenticating(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t, auth.Config{APIKeys: testAPIKeys(t)})
	other, err := auth.ParseAPIKeys([]byte(`[{key: "` + adminKey + `", user_id: a1, role: admin}]`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c, err := keyed(t, a, adminKey); err != nil || c.UserID != "a1" {
					t.Errorf("the key both sets hold: %+v, %v", c, err)
					return
				}
			}
		}()
	}
	for i := range 200 {
		keys := other
		if i%2 == 0 {
			keys = testAPIKeys(t)
		}
		if err := a.SetAPIKeys(keys); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
