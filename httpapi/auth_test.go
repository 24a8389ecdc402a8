package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/placeos-go/engine/auth"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func token(t *testing.T, claims jwt.MapClaims, secret string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthMatrixREST: each way a caller presents itself over REST, and what the engine is told
// about the caller (the core applies the clearance; see package core and e2e for the matrix).
func TestAuthMatrixREST(t *testing.T) {
	t.Parallel()
	authn := keysAuth(t, `
- {key: "user-key-0123456789", user_id: u1, role: user}
- {key: "support-key-0123456789", user_id: s1, role: support}
- {key: "admin-key-0123456789", user_id: a1, role: admin}
`)
	now := time.Now()
	valid := func(extra jwt.MapClaims) string {
		c := jwt.MapClaims{"sub": "tok-user", "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return token(t, c, testSecret)
	}
	power := base + "/systems/sys-1/Display_1/power"
	user := func(id string, c auth.Clearance) auth.Caller {
		return auth.Caller{UserID: id, Clearance: c, From: auth.FromHeader}
	}
	inQuery := func(c auth.Caller) auth.Caller { c.From = auth.FromQuery; return c }
	tests := []struct {
		name, path string
		hdr        []string
		status     int
		caller     auth.Caller
	}{
		{"no credentials", power, nil, 401, auth.Caller{}},
		{"unknown key", power, []string{auth.APIKeyHeader, "nope-nope-nope-nope"}, 401, auth.Caller{}},
		{"bad signature", power, []string{"Authorization", "Bearer " + token(t, jwt.MapClaims{"sub": "x", "exp": now.Add(time.Hour).Unix()}, testSecret+"x")}, 401, auth.Caller{}},
		{"expired", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})}, 401, auth.Caller{}},
		{"not yet valid", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})}, 401, auth.Caller{}},
		{"no exp", power, []string{"Authorization", "Bearer " + token(t, jwt.MapClaims{"sub": "x"}, testSecret)}, 401, auth.Caller{}},
		{"alg none", power, []string{"Authorization", "Bearer " + noneToken(t)}, 401, auth.Caller{}},
		{"basic auth", power, []string{"Authorization", "Basic dTpw"}, 401, auth.Caller{}},
		{"user key", power, []string{auth.APIKeyHeader, "user-key-0123456789"}, 200, user("u1", auth.ClearanceUser)},
		{"support key", power, []string{auth.APIKeyHeader, "support-key-0123456789"}, 200, user("s1", auth.ClearanceSupport)},
		{"admin key", power, []string{auth.APIKeyHeader, "admin-key-0123456789"}, 200, user("a1", auth.ClearanceAdmin)},
		{"key in the query", power + "?api-key=admin-key-0123456789", nil, 200, inQuery(user("a1", auth.ClearanceAdmin))},
		{"key wins over a token", power, []string{auth.APIKeyHeader, "user-key-0123456789", "Authorization", "Bearer " + valid(jwt.MapClaims{"role": "admin"})}, 200, user("u1", auth.ClearanceUser)},
		{"jwt u.p support", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"u": map[string]any{"p": 1}})}, 200, user("tok-user", auth.ClearanceSupport)},
		{"jwt u.p admin", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"u": map[string]any{"p": 3}})}, 200, user("tok-user", auth.ClearanceAdmin)},
		{"jwt role admin", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"role": "admin"})}, 200, user("tok-user", auth.ClearanceAdmin)},
		{"jwt unknown role", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"role": "root"})}, 401, auth.Caller{}},
		// A token's role is read as issued, not folded as the API-keys file's is.
		{"jwt role with spaces", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"role": " admin "})}, 401, auth.Caller{}},
		{"jwt role in capitals", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"role": "ADMIN"})}, 401, auth.Caller{}},
		// RFC 7519: a NumericDate is a JSON number, not a string holding one.
		{"jwt exp as a string", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"exp": "9999999999"})}, 401, auth.Caller{}},
		{"jwt nbf as a string", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"nbf": "0"})}, 401, auth.Caller{}},
		{"jwt user", power, []string{"Authorization", "Bearer " + valid(nil)}, 200, user("tok-user", auth.ClearanceUser)},
		{"query token", power + "?bearer_token=" + valid(nil), nil, 200, inQuery(user("tok-user", auth.ClearanceUser))},
		{"node credentials are not for the client API", power, []string{"X-Cluster-Secret", "cluster-secret", auth.UserIDHeader, "a1", auth.ClearanceHeader, "admin"}, 401, auth.Caller{}},
		{"forwarding headers next to a key", power, []string{auth.APIKeyHeader, "user-key-0123456789", auth.ClearanceHeader, "admin", auth.UserIDHeader, "a1"}, 200, user("u1", auth.ClearanceUser)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, func(c *Config) { c.Auth = authn })
			code, body, _ := hs.do(t, http.MethodPost, tt.path, `[true]`, tt.hdr...)
			if code != tt.status {
				t.Fatalf("got %d %s, want %d", code, body, tt.status)
			}
			if code == 200 {
				got := hs.eng.lastCall(t).Caller
				// A token's caller expires with the token (package auth tests when); a key's never.
				if got.Expires.IsZero() == (tt.caller.UserID == "tok-user") {
					t.Fatalf("the engine was told %+v: wrong expiry for this credential", got)
				}
				if got.Expires = (time.Time{}); exported(got) != tt.caller {
					t.Fatalf("the engine was told %+v, want %+v", got, tt.caller)
				}
			} else if hs.eng.callCount() != 0 {
				t.Fatal("an unauthenticated request reached the engine")
			}
		})
	}
	// Open routes stay open.
	hs := newHarness(t, func(c *Config) { c.Auth = authn })
	for _, p := range []string{"/", AuthorityPath, NodeBase + "/ready"} {
		if code, body, _ := hs.do(t, http.MethodGet, p, ""); code != 200 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
}

// noneToken is an unsigned token claiming admin ("alg": "none").
func noneToken(t *testing.T) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x", "role": "admin",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthority: the document names the configured public URL, or else the node's own address,
// never the request's Host (the harness's requests say 127.0.0.1, without a port).
func TestAuthority(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	code, body, _ := hs.do(t, http.MethodGet, AuthorityPath, "")
	want := `{"id":"authority-engine","name":"PlaceOS Go engine","description":"","domain":"127.0.0.1:8080","login_url":"/login?continue={{url}}","logout_url":"/logout","production":false,"session":true,"config":{},"version":"2.0.0"}`
	if code != 200 || body != want {
		t.Fatalf("got %d %s", code, body)
	}
	hs = newHarness(t, func(c *Config) { c.Authority.PublicURL = "https://engine.example.com/" })
	code, body, _ = hs.do(t, http.MethodGet, AuthorityPath, "")
	want = `{"id":"authority-engine","name":"PlaceOS Go engine","description":"","domain":"engine.example.com","login_url":"https://engine.example.com/login?continue={{url}}","logout_url":"https://engine.example.com/logout","production":false,"session":true,"config":{},"version":"2.0.0"}`
	if code != 200 || body != want {
		t.Fatalf("with a public URL: got %d %s", code, body)
	}
}

// exported is c with its exported fields only: what a test can write down to compare with (an API
// key's caller also remembers its key, for auth.Authenticator.Revoked).
func exported(c auth.Caller) auth.Caller {
	return auth.Caller{UserID: c.UserID, Clearance: c.Clearance, Node: c.Node, From: c.From, Expires: c.Expires}
}
