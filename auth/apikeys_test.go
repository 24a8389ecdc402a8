package auth_test

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/errkind"
)

func TestParseAPIKeys(t *testing.T) {
	t.Parallel()
	type hit struct {
		key    string
		caller auth.Caller
	}
	tests := []struct {
		name string
		data string
		hits []hit
		miss []string
	}{
		{
			name: "yaml",
			data: `
- {key: "user-key-0123456789", user_id: u1, role: user}
- key: support-key-0123456789
  user_id: s1
  role: support
- {key: "admin-key-0123456789", user_id: a1, role: admin}
- {key: "administrator-key-0123", user_id: a2, role: administrator}
`,
			hits: []hit{
				{"user-key-0123456789", auth.Caller{UserID: "u1", Clearance: auth.ClearanceUser}},
				{"support-key-0123456789", auth.Caller{UserID: "s1", Clearance: auth.ClearanceSupport}},
				{"admin-key-0123456789", auth.Caller{UserID: "a1", Clearance: auth.ClearanceAdmin}},
				{"administrator-key-0123", auth.Caller{UserID: "a2", Clearance: auth.ClearanceAdmin}},
			},
			miss: []string{"", "user-key-012345678", "user-key-0123456789 ", "USER-KEY-0123456789", "nope-nope-nope-nope"},
		},
		{
			name: "json",
			data: `[{"key": "json-key-0123456789", "user_id": "j1", "role": "Support"}]`,
			hits: []hit{{"json-key-0123456789", auth.Caller{UserID: "j1", Clearance: auth.ClearanceSupport}}},
			miss: []string{"json-key-012345678"},
		},
		{
			// No role is a user; roles are read case-insensitively and trimmed.
			name: "role defaults and spelling",
			data: `
- {key: "no-role-key-0123456", user_id: n1}
- {key: "upper-role-key-0123", user_id: n2, role: " ADMIN "}
`,
			hits: []hit{
				{"no-role-key-0123456", auth.Caller{UserID: "n1", Clearance: auth.ClearanceUser}},
				{"upper-role-key-0123", auth.Caller{UserID: "n2", Clearance: auth.ClearanceAdmin}},
			},
		},
		{
			name: "key of exactly 16 characters",
			data: `[{key: "0123456789abcdef", user_id: u1}]`,
			hits: []hit{{"0123456789abcdef", auth.Caller{UserID: "u1"}}},
		},
		{
			// An empty file is an empty list: no error, and no key matches.
			name: "empty",
			data: ``,
			miss: []string{"", "anything-0123456789"},
		},
		{
			name: "empty list",
			data: `[]`,
			miss: []string{"anything-0123456789"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := auth.ParseAPIKeys([]byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tt.hits {
				got, ok := k.Lookup(h.key)
				if !ok || auth.WithoutKey(got) != h.caller {
					t.Errorf("Lookup(%q) = %+v, %v; want %+v, true", h.key, got, ok, h.caller)
				}
			}
			for _, m := range tt.miss {
				if got, ok := k.Lookup(m); ok {
					t.Errorf("Lookup(%q) = %+v, want a miss", m, got)
				}
			}
		})
	}
}

func TestParseAPIKeysRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data, want string
	}{
		{"short key", `[{key: "0123456789abcde", user_id: u1, role: user}]`, "entry 1: key must be at least 16 characters"},
		{"empty key", `[{user_id: u1, role: user}]`, "entry 1: key must be at least 16 characters"},
		{"missing user_id", `
- {key: "user-key-0123456789", user_id: u1}
- {key: "other-key-0123456789", role: admin}
`, "entry 2: user_id is required"},
		{"unknown role", `[{key: "user-key-0123456789", user_id: u1, role: root}]`, `entry 1: unknown role "root"`},
		{"internal is no role", `[{key: "user-key-0123456789", user_id: u1, role: internal}]`, `entry 1: unknown role "internal"`},
		{"duplicate key", `
- {key: "same-key-0123456789", user_id: u1, role: user}
- {key: "same-key-0123456789", user_id: u2, role: admin}
`, "entry 2: duplicate key"},
		{"unknown field", `[{key: "user-key-0123456789", user_id: u1, role: user, name: Bob}]`, "unknown field"},
		{"misspelt field", `[{key: "user-key-0123456789", userid: u1}]`, "unknown field"},
		{"not a list", `{key: "user-key-0123456789", user_id: u1, role: user}`, "bad authentication configuration"},
		{"a string", `just-a-string`, "bad authentication configuration"},
		{"not yaml", "- {key: [", "bad authentication configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := auth.ParseAPIKeys([]byte(tt.data))
			if err == nil {
				t.Fatalf("accepted: %+v", k)
			}
			if !errors.Is(err, auth.ErrBadConfig) {
				t.Fatalf("%v is not ErrBadConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
			if p := errkind.Classify(err); p.Status != http.StatusBadRequest {
				t.Fatalf("classified as %d, want 400", p.Status)
			}
		})
	}
}

func TestLoadAPIKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(good, []byte(`[{key: "file-key-0123456789", user_id: f1, role: support}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := auth.LoadAPIKeys(good)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := k.Lookup("file-key-0123456789"); !ok || auth.WithoutKey(c) != (auth.Caller{UserID: "f1", Clearance: auth.ClearanceSupport}) {
		t.Fatalf("Lookup = %+v, %v", c, ok)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`[{key: short, user_id: f1}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadAPIKeys(bad); !errors.Is(err, auth.ErrBadConfig) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("bad file: %v, want ErrBadConfig naming the file", err)
	}

	missing := filepath.Join(dir, "missing.yaml")
	_, err = auth.LoadAPIKeys(missing)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, auth.ErrBadConfig) {
		t.Fatalf("missing file: %v, want a not-exist error", err)
	}
}

func TestLookupOnNilKeys(t *testing.T) {
	t.Parallel()
	var k *auth.APIKeys
	if c, ok := k.Lookup("anything-0123456789"); ok {
		t.Fatalf("nil keys found %+v", c)
	}
}
