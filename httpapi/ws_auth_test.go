package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// The security matrix of PROTOCOL §8 over the WebSocket, checked against REST and
// driver-to-driver in the same table: one clearance rule, three ways in, the same answers.

const (
	wsaUserKey    = "ws-user-key-0123456789"
	wsaSupportKey = "ws-support-key-0123456789"
	wsaAdminKey   = "ws-admin-key-0123456789"
)

// wsAuthEnv is newWSEnv behind --auth keys: the three API keys above and HS256 bearer tokens.
func wsAuthEnv(t *testing.T) *wsEnv {
	t.Helper()
	keys, err := ParseAPIKeys([]byte(fmt.Sprintf(`
- {key: %q, user_id: ws-u, role: user}
- {key: %q, user_id: ws-s, role: support}
- {key: %q, user_id: ws-a, role: admin}
`, wsaUserKey, wsaSupportKey, wsaAdminKey)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewJWTVerifier(JWTConfig{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	auth := NewAuthenticator(AuthConfig{APIKeys: keys, JWT: v})
	return newWSEnv(t, func(c *Config) { c.Auth = auth })
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
	userID string // what AuthorizeDriverCall is handed for this caller
	hdr    []string
}

func wsaCredentials(t *testing.T, role Clearance) []wsaCredential {
	key := map[Clearance]string{ClearanceUser: wsaUserKey, ClearanceSupport: wsaSupportKey, ClearanceAdmin: wsaAdminKey}[role]
	keyUser := map[Clearance]string{ClearanceUser: "ws-u", ClearanceSupport: "ws-s", ClearanceAdmin: "ws-a"}[role]
	tokUser := "jwt-" + role.String()
	// The user role travels as PlaceOS does (no role claim, no u.p flags); support as u.p
	// flags; admin as a role claim.
	var tok string
	switch role {
	case ClearanceUser:
		tok = wsaToken(t, tokUser, "", nil)
	case ClearanceSupport:
		tok = wsaToken(t, tokUser, "", jwt.MapClaims{"u": map[string]any{"p": 1}})
	default:
		tok = wsaToken(t, tokUser, "admin", nil)
	}
	return []wsaCredential{
		{"api key", keyUser, []string{APIKeyHeader, key}},
		{"bearer token", tokUser, []string{"Authorization", "Bearer " + tok}},
	}
}

// wsaCalls counts the calls of fn that reached the driver for one user (subtests share the fake).
func wsaCalls(f *fakeModules, userID, fn string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.UserID == userID && c.Fn == fn {
			n++
		}
	}
	return n
}

// TestWSSecurityMatrix: user / support / admin × open / support / administrator function, each
// through WebSocket exec, REST execute and a driver-to-driver call; plus _-prefixed binds and
// debug, which need support.
func TestWSSecurityMatrix(t *testing.T) {
	t.Parallel()
	env := wsAuthEnv(t)
	// displayMeta: power is open, reboot needs support, factory_reset needs administrator.
	functions := []struct {
		fn, args string
		needs    Clearance
	}{
		{"power", `[true]`, ClearanceUser},
		{"reboot", `[]`, ClearanceSupport},
		{"factory_reset", `[]`, ClearanceAdmin},
	}
	for _, role := range []Clearance{ClearanceUser, ClearanceSupport, ClearanceAdmin} {
		for _, cred := range wsaCredentials(t, role) {
			t.Run(role.String()+" by "+cred.kind, func(t *testing.T) {
				t.Parallel()
				c := env.dial(t, cred.hdr...)
				id := 0
				for _, f := range functions {
					id++
					allowed := role >= f.needs
					before := wsaCalls(env.hs.mods, cred.userID, f.fn)

					c.send(fmt.Sprintf(`{"id":%d,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":%q,"args":%s}`, id, f.fn, f.args))
					meta := fmt.Sprintf(`{"sys":"sys-1","mod":"Display","index":1,"name":%q}`, f.fn)
					if allowed {
						c.expect(fmt.Sprintf(`{"id":%d,"type":"success","meta":%s,"value":{"ok":true},"code":200}`, id, meta))
					} else {
						c.expect(fmt.Sprintf(`{"id":%d,"type":"error","code":403,"error_code":2,"msg":"attempted to access privileged function %s"}`, id, f.fn))
						if n := wsaCalls(env.hs.mods, cred.userID, f.fn); n != before {
							t.Fatalf("ws exec %s: refused, yet the driver was called", f.fn)
						}
					}

					code, body, _ := env.hs.do(t, http.MethodPost, ClientBase+"/systems/sys-1/Display_1/"+f.fn, f.args, cred.hdr...)
					if want := map[bool]int{true: 200, false: 403}[allowed]; code != want {
						t.Fatalf("REST %s: %d %s, want %d", f.fn, code, body, want)
					}
					if !allowed && !strings.Contains(body, `"access_denied"`) {
						t.Fatalf("REST %s: refused with %s, want access_denied", f.fn, body)
					}

					// The session above authenticated this caller, so the engine knows its
					// clearance when one of its calls goes on from driver to driver.
					err := env.hs.srv.AuthorizeDriverCall(t.Context(), cred.userID, "mod-1", f.fn)
					switch {
					case allowed && err != nil:
						t.Fatalf("driver-to-driver %s as %s: %v", f.fn, cred.userID, err)
					case !allowed && !errors.Is(err, ErrAccessDenied):
						t.Fatalf("driver-to-driver %s as %s: %v, want access denied", f.fn, cred.userID, err)
					}
				}

				// A _-prefixed module (internal logic) needs support to bind; a plain one does not.
				id++
				lm := `{"sys":"sys-1","mod":"_Logic","index":1,"name":"state"}`
				c.send(fmt.Sprintf(`{"id":%d,"cmd":"bind","sys":"sys-1","mod":"_Logic","index":1,"name":"state"}`, id))
				if role >= ClearanceSupport {
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
				if role >= ClearanceSupport {
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
		{"expired token in the query", BearerParam + "=" + expired, nil, nil, 401},
		{"expired token in a cookie", "", nil, &http.Cookie{Name: BearerParam, Value: expired}, 401},
		{"token not valid yet", "", []string{"Authorization", "Bearer " + future}, nil, 401},
		{"token signed with another key", "", []string{"Authorization", "Bearer " + wrongKey}, nil, 401},
		{"wrongly signed token in the query", BearerParam + "=" + wrongKey, nil, nil, 401},
		{"alg none", "", []string{"Authorization", "Bearer " + none}, nil, 401},
		{"forged payload", "", []string{"Authorization", "Bearer " + strings.Join(forged, ".")}, nil, 401},
		{"garbage token", "", []string{"Authorization", "Bearer not.a.jwt"}, nil, 401},
		{"unknown API key", "", []string{APIKeyHeader, "ws-nobody-0123456789"}, nil, 401},
		{"unknown API key in the query", APIKeyParam + "=ws-nobody-0123456789", nil, nil, 401},
		{"basic auth", "", []string{"Authorization", "Basic dXNlcjpwYXNz"}, nil, 401},
		// Cross-site WebSocket hijacking: a page on another site rides the user's cookie.
		{"cookie from a foreign origin", "", []string{"Origin", "https://evil.example"}, &http.Cookie{Name: APIKeyParam, Value: wsaUserKey}, 400},
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
			{APIKeyHeader, wsaUserKey},
			{"Authorization", "Bearer " + valid},
			// A cookie is accepted from the engine's own origin.
			{"Cookie", (&http.Cookie{Name: BearerParam, Value: valid}).String(), "Origin", "http://" + env.hs.srv.Addr().String()},
		} {
			env.dial(t, hdr...).quiet()
		}
		q := url.Values{BearerParam: {valid}}
		conn, _, err := websocket.DefaultDialer.Dial(env.url+"?"+q.Encode(), nil)
		if err != nil {
			t.Fatalf("token in the query: %v", err)
		}
		_ = conn.Close()
	})
	t.Cleanup(func() {
		// Refused attempts never became sessions (the valid ones close with their tests).
		waitUntil(t, "no sessions", func() bool { return env.hs.srv.WSSessions() == 0 })
	})
}

// TestDriverCallClearance: the driver-to-driver column on its own, for callers the engine learnt
// about in different ways, and with --auth none.
func TestDriverCallClearance(t *testing.T) {
	t.Parallel()
	env := wsAuthEnv(t)
	// A bearer-token user is known only after it authenticated once.
	if code, body, _ := env.hs.do(t, http.MethodGet, ClientBase+"/systems/sys-1/Display_1",
		"", "Authorization", "Bearer "+wsaToken(t, "tok-support", "support", nil)); code != 200 {
		t.Fatalf("authenticate: %d %s", code, body)
	}
	none := newHarness(t) // --auth none: everyone is an admin
	tests := []struct {
		name, user, fn string
		srv            *Server
		allowed        bool
	}{
		{"internal call to an admin function", "", "factory_reset", env.hs.srv, true},
		{"internal call to a hidden function", "", "secret", env.hs.srv, true}, // internal calls are not checked
		{"unknown user, open function", "stranger", "power", env.hs.srv, true},
		{"unknown user, support function", "stranger", "reboot", env.hs.srv, false},
		{"token user seen as support", "tok-support", "reboot", env.hs.srv, true},
		{"token user seen as support, admin function", "tok-support", "factory_reset", env.hs.srv, false},
		{"auth none, admin function", "anyone", "factory_reset", none.srv, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.srv.AuthorizeDriverCall(t.Context(), tt.user, "mod-1", tt.fn)
			if tt.allowed != (err == nil) {
				t.Fatalf("AuthorizeDriverCall(%q, %s) = %v, want allowed=%v", tt.user, tt.fn, err, tt.allowed)
			}
		})
	}
	if err := env.hs.srv.AuthorizeDriverCall(t.Context(), "ws-u", "mod-1", "nope"); !errors.Is(err, ErrFunctionNotFound) {
		t.Fatalf("unknown function driver-to-driver: %v", err)
	}
}
