package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/internal/testutil"
)

// Who the WebSocket says the caller is, and the checks that are the WebSocket's own: binding a
// protected (_-prefixed) module and debugging need support. The clearance of driver functions is
// the engine core's (one rule for REST, WebSocket and driver-to-driver calls; see e2e).

const (
	wsaUserKey    = "ws-user-key-0123456789"
	wsaSupportKey = "ws-support-key-0123456789"
	wsaAdminKey   = "ws-admin-key-0123456789"
)

// wsAuthEnv is newWSEnv behind --auth keys: the three API keys above and HS256 bearer tokens.
func wsAuthEnv(t *testing.T, opts ...func(*Config)) *wsEnv {
	t.Helper()
	authn := keysAuth(t, fmt.Sprintf(`
- {key: %q, user_id: ws-u, role: user}
- {key: %q, user_id: ws-s, role: support}
- {key: %q, user_id: ws-a, role: admin}
`, wsaUserKey, wsaSupportKey, wsaAdminKey))
	return newWSEnv(t, append([]func(*Config){func(c *Config) { c.Auth = authn }}, opts...)...)
}

// wsaToken is a bearer token for sub with role, valid for an hour unless claims say otherwise.
func wsaToken(t *testing.T, sub, role string, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	if role != "" {
		c["role"] = role
	}
	for k, v := range claims {
		c[k] = v
	}
	return token(t, c, testSecret)
}

// wsaCredential is one way a role's caller presents itself.
type wsaCredential struct {
	kind   string
	userID string // the user id the engine is told
	hdr    []string
}

func wsaCredentials(t *testing.T, role auth.Clearance) []wsaCredential {
	key := map[auth.Clearance]string{auth.ClearanceUser: wsaUserKey, auth.ClearanceSupport: wsaSupportKey, auth.ClearanceAdmin: wsaAdminKey}[role]
	keyUser := map[auth.Clearance]string{auth.ClearanceUser: "ws-u", auth.ClearanceSupport: "ws-s", auth.ClearanceAdmin: "ws-a"}[role]
	tokUser := "jwt-" + role.String()
	// The user role travels as PlaceOS does (no role claim, no u.p flags); support as u.p
	// flags; admin as a role claim.
	var tok string
	switch role {
	case auth.ClearanceUser:
		tok = wsaToken(t, tokUser, "", nil)
	case auth.ClearanceSupport:
		tok = wsaToken(t, tokUser, "", jwt.MapClaims{"u": map[string]any{"p": 1}})
	default:
		tok = wsaToken(t, tokUser, "admin", nil)
	}
	return []wsaCredential{
		{"api key", keyUser, []string{auth.APIKeyHeader, key}},
		{"bearer token", tokUser, []string{"Authorization", "Bearer " + tok}},
	}
}

// TestWSSecurityMatrix: user / support / admin by API key and by bearer token: the engine is told
// who calls (user id and clearance), _-prefixed binds and debug need support.
func TestWSSecurityMatrix(t *testing.T) {
	t.Parallel()
	env := wsAuthEnv(t)
	for _, role := range []auth.Clearance{auth.ClearanceUser, auth.ClearanceSupport, auth.ClearanceAdmin} {
		for _, cred := range wsaCredentials(t, role) {
			t.Run(role.String()+" by "+cred.kind, func(t *testing.T) {
				t.Parallel()
				c := env.dial(t, cred.hdr...)
				id := 1
				c.send(`{"id":1,"cmd":"exec","sys":"sys-1","mod":"Display","index":2,"name":"` + cred.userID + `","args":[]}`)
				c.expect(`{"id":1,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":2,"name":"` + cred.userID + `"},"value":{"ok":true},"code":200}`)
				got := env.hs.eng.callOf(t, cred.userID).Caller
				if got.Expires.IsZero() != (cred.kind == "api key") {
					t.Fatalf("the engine was told %+v: wrong expiry for a %s", got, cred.kind)
				}
				if got.Expires = (time.Time{}); exported(got) != (auth.Caller{UserID: cred.userID, Clearance: role, From: auth.FromHeader}) {
					t.Fatalf("the engine was told %+v", got)
				}

				// A _-prefixed module (internal logic) needs support to bind; a plain one does not.
				id++
				lm := `{"sys":"sys-1","mod":"_Logic","index":1,"name":"state"}`
				c.send(fmt.Sprintf(`{"id":%d,"cmd":"bind","sys":"sys-1","mod":"_Logic","index":1,"name":"state"}`, id))
				if role >= auth.ClearanceSupport {
					c.expect(fmt.Sprintf(`{"id":%d,"type":"success","meta":%s}`, id, lm))
				} else {
					c.expect(fmt.Sprintf(`{"id":%d,"type":"error","code":403,"error_code":2,"msg":"attempted to access protected module _Logic"}`, id))
				}
				id++
				c.send(fmt.Sprintf(`{"id":%d,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"volume"}`, id))
				c.expect(fmt.Sprintf(`{"id":%d,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"volume"}}`, id))

				// debug needs support. Each subtest debugs its own module id so that the shared
				// fake debugger's listeners do not mix.
				id++
				mod := "mod-dbg-" + cred.userID
				c.send(fmt.Sprintf(`{"id":%d,"cmd":"debug","sys":"sys-1","mod":%q,"name":"debug"}`, id, mod))
				if role >= auth.ClearanceSupport {
					c.expect(fmt.Sprintf(`{"id":%d,"type":"success"}`, id))
					if !env.dbg.emit(mod, "WARN", "line") {
						t.Fatal("debug success without a listener")
					}
					c.expect(fmt.Sprintf(`{"id":%d,"type":"debug","meta":{"sys":"sys-1","mod":%q,"index":1,"name":"debug"},"msg":"line","mod":%q,"level":"warn"}`, id, mod, mod))
				} else {
					c.expect(fmt.Sprintf(`{"id":%d,"type":"error","code":403,"error_code":2,"msg":"debug needs support clearance"}`, id))
					if env.dbg.emit(mod, "WARN", "line") {
						t.Fatal("a refused debug attached a listener")
					}
				}
				c.quiet()
			})
		}
	}
}

// TestWSUpgradeCredentials: a connection attempt without valid credentials is a plain 401 before
// any upgrade, wherever the credential travels, and leaves no session behind.
func TestWSUpgradeCredentials(t *testing.T) {
	t.Parallel()
	env := wsAuthEnv(t)
	expired := wsaToken(t, "late", "admin", jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})
	future := wsaToken(t, "early", "admin", jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()})
	wrongKey := token(t, jwt.MapClaims{"sub": "mallory", "role": "admin", "exp": time.Now().Add(time.Hour).Unix()}, testSecret+"-other")
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "mallory", "role": "admin",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// The signature of a valid token grafted onto an admin payload.
	valid := wsaToken(t, "ursula", "", nil)
	forged := strings.Split(wsaToken(t, "ursula", "admin", nil), ".")
	forged[2] = strings.Split(valid, ".")[2]

	tests := []struct {
		name   string
		query  string
		hdr    []string
		cookie *http.Cookie
		status int
	}{
		{"no credentials", "", nil, nil, 401},
		{"expired bearer token", "", []string{"Authorization", "Bearer " + expired}, nil, 401},
		{"expired token in the query", auth.BearerParam + "=" + expired, nil, nil, 401},
		{"expired token in a cookie", "", nil, &http.Cookie{Name: auth.BearerParam, Value: expired}, 401},
		{"token not valid yet", "", []string{"Authorization", "Bearer " + future}, nil, 401},
		{"token signed with another key", "", []string{"Authorization", "Bearer " + wrongKey}, nil, 401},
		{"wrongly signed token in the query", auth.BearerParam + "=" + wrongKey, nil, nil, 401},
		{"alg none", "", []string{"Authorization", "Bearer " + none}, nil, 401},
		{"forged payload", "", []string{"Authorization", "Bearer " + strings.Join(forged, ".")}, nil, 401},
		{"garbage token", "", []string{"Authorization", "Bearer not.a.jwt"}, nil, 401},
		// Claims read strictly (package auth): a NumericDate is a JSON number; a role is exact.
		{"exp as a string", "", []string{"Authorization", "Bearer " + wsaToken(t, "s", "", jwt.MapClaims{"exp": "9999999999"})}, nil, 401},
		{"exp as a string in the query", auth.BearerParam + "=" + wsaToken(t, "s", "", jwt.MapClaims{"exp": "9999999999"}), nil, nil, 401},
		{"role in capitals", "", []string{"Authorization", "Bearer " + wsaToken(t, "s", "ADMIN", nil)}, nil, 401},
		{"role with spaces", "", []string{"Authorization", "Bearer " + wsaToken(t, "s", " admin ", nil)}, nil, 401},
		{"unknown API key", "", []string{auth.APIKeyHeader, "ws-nobody-0123456789"}, nil, 401},
		{"unknown API key in the query", auth.APIKeyParam + "=ws-nobody-0123456789", nil, nil, 401},
		{"basic auth", "", []string{"Authorization", "Basic dXNlcjpwYXNz"}, nil, 401},
		// Cross-site WebSocket hijacking: a page on another site rides the user's cookie.
		{"cookie from a foreign origin", "", []string{"Origin", "https://evil.example"}, &http.Cookie{Name: auth.APIKeyParam, Value: wsaUserKey}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := env.url
			if tt.query != "" {
				u += "?" + tt.query
			}
			h := http.Header{}
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				h.Set(tt.hdr[i], tt.hdr[i+1])
			}
			if tt.cookie != nil {
				h.Set("Cookie", tt.cookie.String())
			}
			conn, resp, err := websocket.DefaultDialer.Dial(u, h)
			if err == nil {
				_ = conn.Close()
				t.Fatal("upgraded without valid credentials")
			}
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			var e struct {
				Error   string `json:"error"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
				t.Fatalf("error body %q is not the REST error shape", body)
			}
		})
	}
	t.Run("valid credentials upgrade", func(t *testing.T) {
		t.Parallel()
		for _, hdr := range [][]string{
			{auth.APIKeyHeader, wsaUserKey},
			{"Authorization", "Bearer " + valid},
			// A cookie is accepted from the engine's own origin.
			{"Cookie", (&http.Cookie{Name: auth.BearerParam, Value: valid}).String(), "Origin", "http://" + env.hs.srv.Addr().String()},
		} {
			env.dial(t, hdr...).quiet()
		}
		q := url.Values{auth.BearerParam: {valid}}
		conn, _, err := websocket.DefaultDialer.Dial(env.url+"?"+q.Encode(), nil)
		if err != nil {
			t.Fatalf("token in the query: %v", err)
		}
		_ = conn.Close()
	})
	t.Cleanup(func() {
		// Refused attempts never became sessions (the valid ones close with their tests).
		testutil.Eventually(t, 10*time.Second, "no sessions", func() bool { return env.hs.srv.WSSessions() == 0 })
	})
}
