package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/console"
)

const (
	consoleUserKey    = "console-user-key-0123456789"
	consoleSupportKey = "console-support-key-0123456789"
	consoleAdminKey   = "console-admin-key-0123456789"
)

// consoleHarness serves the real console behind --auth keys: an API key per role and HS256
// bearer tokens.
func consoleHarness(t *testing.T) *harness {
	t.Helper()
	authn := keysAuth(t, `
- {key: "`+consoleUserKey+`", user_id: cu, role: user}
- {key: "`+consoleSupportKey+`", user_id: cs, role: support}
- {key: "`+consoleAdminKey+`", user_id: ca, role: admin}
`)
	ui, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, func(c *Config) { c.Auth = authn; c.Console = ui })
}

// TestConsoleIsOpenAndStrict: the console's page and files need no credentials (they hold no
// data; a stale or wrong credential must not keep the sign-in page from loading), every answer
// carries the strict browser headers, and a name the console does not have is the API's 404.
func TestConsoleIsOpenAndStrict(t *testing.T) {
	t.Parallel()
	hs := consoleHarness(t)
	for _, tt := range []struct {
		path, typ string
		hdr       []string
	}{
		{"/console", "text/html", nil},
		{"/console/", "text/html", nil},
		{"/console/index.html", "text/html", nil},
		{"/console/app.js", "text/javascript", nil},
		{"/console/console.css", "text/css", nil},
		{"/console", "text/html", []string{auth.APIKeyHeader, "not-a-key-0123456789"}},
		{"/console/app.js", "text/javascript", []string{"Cookie", "api-key=" + consoleAdminKey, "Origin", "https://evil.example"}},
	} {
		code, body, rec := hs.do(t, http.MethodGet, tt.path, "", tt.hdr...)
		if code != http.StatusOK || body == "" {
			t.Fatalf("GET %s %v: %d %s", tt.path, tt.hdr, code, body)
		}
		if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, tt.typ) {
			t.Errorf("GET %s: Content-Type %q, want %s", tt.path, got, tt.typ)
		}
		for k, v := range console.SecurityHeaders {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", tt.path, k, got, v)
			}
		}
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("GET %s: Access-Control-Allow-Origin %q: no other site may read the console", tt.path, got)
		}
		if rec.Header().Get(RequestIDHeader) == "" {
			t.Errorf("GET %s: no %s: the console goes through the API's middleware", tt.path, RequestIDHeader)
		}
	}

	// A revalidation costs a 304.
	_, _, rec := hs.do(t, http.MethodGet, "/console/app.js", "")
	if code, _, _ := hs.do(t, http.MethodGet, "/console/app.js", "", "If-None-Match", rec.Header().Get("ETag")); code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", code)
	}

	code, body, _ := hs.do(t, http.MethodGet, "/console/nope.js", "")
	if code != http.StatusNotFound || !strings.Contains(body, `"error":"bad_request"`) || !strings.Contains(body, "/console/nope.js") {
		t.Errorf("unknown file: %d %s", code, body)
	}
	if code, body, _ := hs.do(t, http.MethodGet, "/console/a/b.js", ""); code != http.StatusNotFound {
		t.Errorf("nested path: %d %s", code, body)
	}
	if code, body, _ := hs.do(t, http.MethodPost, "/console/app.js", "x"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST a console file: %d %s, want 405", code, body)
	}
	// Only the console is open: a neighbouring path still needs credentials.
	if code, _, _ := hs.do(t, http.MethodGet, "/consoles", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /consoles without credentials: %d, want 401", code)
	}
}

// TestCurrentUser: who the caller is, for every role and way in; nothing without credentials.
func TestCurrentUser(t *testing.T) {
	t.Parallel()
	hs := consoleHarness(t)
	tok := func(claims jwt.MapClaims) string {
		claims["sub"] = "tok-1"
		claims["exp"] = time.Now().Add(time.Hour).Unix()
		return "Bearer " + token(t, claims, testSecret)
	}
	for _, tt := range []struct {
		name string
		path string
		hdr  []string
		want CurrentUser
	}{
		{"user key", CurrentUserPath, []string{auth.APIKeyHeader, consoleUserKey}, CurrentUser{ID: "cu", Role: "user"}},
		{"support key", CurrentUserPath, []string{auth.APIKeyHeader, consoleSupportKey}, CurrentUser{ID: "cs", Support: true, Role: "support"}},
		{"admin key", CurrentUserPath, []string{auth.APIKeyHeader, consoleAdminKey}, CurrentUser{ID: "ca", Support: true, SysAdmin: true, Role: "admin"}},
		{"key in the query", CurrentUserPath + "?api-key=" + consoleSupportKey, nil, CurrentUser{ID: "cs", Support: true, Role: "support"}},
		{"user token", CurrentUserPath, []string{"Authorization", tok(jwt.MapClaims{})}, CurrentUser{ID: "tok-1", Role: "user"}},
		{"admin token", CurrentUserPath, []string{"Authorization", tok(jwt.MapClaims{"role": "admin"})}, CurrentUser{ID: "tok-1", Support: true, SysAdmin: true, Role: "admin"}},
		// A read: a foreign page may send it with the cookie, but cannot read the answer (no
		// CORS header is ever sent, checked below).
		{"cookie from a foreign page", CurrentUserPath, []string{"Cookie", "api-key=" + consoleUserKey, "Origin", "https://evil.example"}, CurrentUser{ID: "cu", Role: "user"}},
	} {
		code, body, rec := hs.do(t, http.MethodGet, tt.path, "", tt.hdr...)
		var got CurrentUser
		if code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got != tt.want {
			t.Errorf("%s: %d %s, want %+v", tt.name, code, body, tt.want)
		}
		if v := rec.Header().Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", tt.name, v)
		}
	}
	for _, tt := range []struct {
		name string
		hdr  []string
	}{
		{"no credentials", nil},
		{"unknown key", []string{auth.APIKeyHeader, "nope-nope-nope-nope"}},
		{"bad token", []string{"Authorization", "Bearer x.y.z"}},
		{"basic auth", []string{"Authorization", "Basic dTpw"}},
	} {
		code, body, _ := hs.do(t, http.MethodGet, CurrentUserPath, "", tt.hdr...)
		if code != http.StatusUnauthorized || !strings.Contains(body, `"error":"unauthorized"`) {
			t.Errorf("%s: %d %s, want 401 unauthorized", tt.name, code, body)
		}
	}
	if code, body, _ := hs.do(t, http.MethodPost, CurrentUserPath, "{}", auth.APIKeyHeader, consoleAdminKey); code != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d %s, want 405", CurrentUserPath, code, body)
	}

	// Under --auth none every caller is an admin without an id.
	none := newHarness(t)
	code, body, _ := none.do(t, http.MethodGet, CurrentUserPath, "")
	if code != http.StatusOK || !strings.Contains(body, `"sys_admin":true`) || !strings.Contains(body, `"id":""`) {
		t.Errorf("--auth none: %d %s", code, body)
	}
}

// TestClusterStatusRoute: every node's status, for any authenticated caller (as this node's
// status is), and nothing without credentials.
func TestClusterStatusRoute(t *testing.T) {
	t.Parallel()
	hs := consoleHarness(t)
	if code, body, _ := hs.do(t, http.MethodGet, NodeBase+"/status/cluster", ""); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d %s", code, body)
	}
	code, body, _ := hs.do(t, http.MethodGet, NodeBase+"/status/cluster", "", auth.APIKeyHeader, consoleUserKey)
	if code != http.StatusOK || !strings.Contains(body, `"nodes":[{"node":"n1"`) || !strings.Contains(body, `"drivers":["drv/display"]`) {
		t.Errorf("as a user: %d %s", code, body)
	}
}
