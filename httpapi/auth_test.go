package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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

func TestAuthMatrixREST(t *testing.T) {
	t.Parallel()
	keys, err := ParseAPIKeys([]byte(`
- {key: "user-key-0123456789", user_id: u1, role: user}
- {key: "support-key-0123456789", user_id: s1, role: support}
- {key: "admin-key-0123456789", user_id: a1, role: admin}
`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewJWTVerifier(JWTConfig{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	auth := NewAuthenticator(AuthConfig{APIKeys: keys, JWT: v})
	hs := newHarness(t, func(c *Config) { c.Auth = auth; c.ClusterSecret = "cluster-secret" })
	now := time.Now()
	valid := func(extra jwt.MapClaims) string {
		c := jwt.MapClaims{"sub": "tok-user", "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return token(t, c, testSecret)
	}
	reboot := base + "/systems/sys-1/Display_1/reboot" // support
	reset := base + "/systems/sys-1/Display_1/factory_reset"
	power := base + "/systems/sys-1/Display_1/power"
	tests := []struct {
		name, path string
		hdr        []string
		status     int
	}{
		{"no credentials", power, nil, 401},
		{"unknown key", power, []string{APIKeyHeader, "nope-nope-nope-nope"}, 401},
		{"bad signature", power, []string{"Authorization", "Bearer " + token(t, jwt.MapClaims{"sub": "x", "exp": now.Add(time.Hour).Unix()}, testSecret+"x")}, 401},
		{"expired", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})}, 401},
		{"not yet valid", power, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})}, 401},
		{"no exp", power, []string{"Authorization", "Bearer " + token(t, jwt.MapClaims{"sub": "x"}, testSecret)}, 401},
		{"user open fn", power, []string{APIKeyHeader, "user-key-0123456789"}, 200},
		{"user support fn", reboot, []string{APIKeyHeader, "user-key-0123456789"}, 403},
		{"support support fn", reboot, []string{APIKeyHeader, "support-key-0123456789"}, 200}, // also listed under administrator: the first level wins
		{"admin admin fn", reset, []string{APIKeyHeader, "admin-key-0123456789"}, 200},
		{"support admin fn", reset, []string{APIKeyHeader, "support-key-0123456789"}, 403},
		{"jwt u.p support", reboot, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"u": map[string]any{"p": 1}})}, 200},
		{"jwt role admin", reset, []string{"Authorization", "Bearer " + valid(jwt.MapClaims{"role": "admin"})}, 200},
		{"jwt user", reboot, []string{"Authorization", "Bearer " + valid(nil)}, 403},
		{"query token", power + "?bearer_token=" + valid(nil), nil, 200},
		{"cluster secret", power, []string{ClusterSecretHeader, "cluster-secret"}, 200},
		{"wrong cluster secret", power, []string{ClusterSecretHeader, "nope"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body, _ := hs.do(t, http.MethodPost, tt.path, `[true]`, tt.hdr...)
			if tt.path == reboot || tt.path == reset {
				code, body, _ = hs.do(t, http.MethodPost, tt.path, ``, tt.hdr...)
			}
			if code != tt.status {
				t.Fatalf("got %d %s, want %d", code, body, tt.status)
			}
		})
	}
	// Open routes stay open.
	for _, p := range []string{"/", AuthorityPath} {
		if code, body, _ := hs.do(t, http.MethodGet, p, ""); code != 200 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
	// Driver-to-driver: the originating user's clearance, internal calls allowed.
	if err := hs.srv.AuthorizeDriverCall(t.Context(), "", "mod-1", "factory_reset"); err != nil {
		t.Fatalf("internal call: %v", err)
	}
	if err := hs.srv.AuthorizeDriverCall(t.Context(), "u1", "mod-1", "reboot"); err == nil {
		t.Fatal("user allowed a support function driver-to-driver")
	}
	if err := hs.srv.AuthorizeDriverCall(t.Context(), "a1", "mod-1", "factory_reset"); err != nil {
		t.Fatalf("admin driver-to-driver: %v", err)
	}
}

func TestAuthority(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	code, body, _ := hs.do(t, http.MethodGet, AuthorityPath, "")
	want := `{"id":"authority-engine","name":"PlaceOS Go engine","description":"","domain":"example.com","login_url":"/login?continue={{url}}","logout_url":"/logout","production":false,"session":true,"config":{},"version":"2.0.0"}`
	if code != 200 || body != want {
		t.Fatalf("got %d %s", code, body)
	}
}
