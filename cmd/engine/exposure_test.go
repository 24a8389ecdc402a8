package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestTokenClaimsAndAuthorityThroughAnEngine runs a real `engine serve` with --jwt-issuer,
// --jwt-audience, --public-url and a loopback --pprof-addr: bearer tokens pass only with the
// configured issuer and audience, and GET /auth/authority names the public URL whatever Host a
// request claims.
func TestTokenClaimsAndAuthorityThroughAnEngine(t *testing.T) {
	t.Parallel()
	const secret = "0123456789abcdef0123456789abcdef-jwt"
	redis := testutil.StartRedis(t)
	e := enginetest.StartEngine(t, enginetest.Config{Redis: redis.URL}, "n1", "zones: [{id: z1, name: Z}]\n",
		"--auth", "keys", "--jwt-secret", secret, "--jwt-issuer", "POS", "--jwt-audience", "engine.example.com",
		"--public-url", "https://engine.example.com/", "--pprof-addr", "localhost:0")

	token := func(claims jwt.MapClaims) string {
		c := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
		for k, v := range claims {
			c[k] = v
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tt := range []struct {
		name   string
		claims jwt.MapClaims
		status int
	}{
		{"issuer and audience", jwt.MapClaims{"iss": "POS", "aud": "engine.example.com"}, 200},
		{"audience among others", jwt.MapClaims{"iss": "POS", "aud": []string{"other.example.com", "engine.example.com"}}, 200},
		{"another issuer", jwt.MapClaims{"iss": "EVIL", "aud": "engine.example.com"}, 401},
		{"no issuer", jwt.MapClaims{"aud": "engine.example.com"}, 401},
		{"another audience", jwt.MapClaims{"iss": "POS", "aud": "evil.example.com"}, 401},
		{"no audience", jwt.MapClaims{"iss": "POS"}, 401},
	} {
		r := e.Do("GET", "/api/engine/v2/zones/z1", "", enginetest.Header{Name: "Authorization", Value: "Bearer " + token(tt.claims)})
		if r.Status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.name, r.Status, r.Body, tt.status)
		}
	}

	// A forged Host does not reach the document.
	req, err := http.NewRequest("GET", e.Base+"/auth/authority", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		Domain    string `json:"domain"`
		LoginURL  string `json:"login_url"`
		LogoutURL string `json:"logout_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 {
		t.Fatalf("authority: %d %v", resp.StatusCode, err)
	}
	if a.Domain != "engine.example.com" || a.LoginURL != "https://engine.example.com/login?continue={{url}}" ||
		a.LogoutURL != "https://engine.example.com/logout" {
		t.Fatalf("authority names %+v, want the public URL", a)
	}
}
