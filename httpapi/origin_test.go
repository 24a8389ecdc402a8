package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/model"
)

// Browser safety (docs/protocol.md §8.5): a credential a browser adds by itself (the cookie, or
// nothing at all under --auth none) may change something or open a WebSocket only from an
// allowed origin — the node's own or one of --allowed-origins.

const (
	originAdminKey = "origin-admin-key-0123456789"
	originUserKey  = "origin-user-key-0123456789"
	uiOrigin       = "https://ui.example"
	evilOrigin     = "https://evil.example"
)

func originAuth(t *testing.T) *auth.Authenticator {
	t.Helper()
	return keysAuth(t, `
- {key: "`+originAdminKey+`", user_id: oa, role: admin}
- {key: "`+originUserKey+`", user_id: ou, role: user}
`)
}

func mustOrigins(t *testing.T, list string) Origins {
	t.Helper()
	o, err := ParseOrigins(list)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestParseOrigins(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"":                                 nil,
		"  ":                               nil,
		"https://UI.Example":               {"https://ui.example"},
		"https://ui.example:443":           {"https://ui.example"},
		"http://ui.example:80/":            {"http://ui.example"},
		"http://ui.example:8080":           {"http://ui.example:8080"},
		"https://ui.example:80":            {"https://ui.example:80"},
		"http://[::1]:80, http://[::1]:81": {"http://[::1]", "http://[::1]:81"},
		" https://a.example ,http://b.example:3000 ": {"https://a.example", "http://b.example:3000"},
	} {
		o, err := ParseOrigins(in)
		if err != nil {
			t.Errorf("ParseOrigins(%q): %v", in, err)
			continue
		}
		if len(o.set) != len(want) {
			t.Errorf("ParseOrigins(%q) = %v, want %v", in, o.set, want)
		}
		for _, w := range want {
			if !o.set[w] {
				t.Errorf("ParseOrigins(%q) = %v, want %v", in, o.set, want)
			}
		}
	}
	for _, in := range []string{"ui.example", "ftp://ui.example", "https://ui.example/app", "https://ui.example?x=1",
		"https://ui.example#top", "https://user@ui.example", "null", "https://:443", "https://ui.example:https",
		",", "https://a.example,", "file:///etc/passwd", "*"} {
		if o, err := ParseOrigins(in); err == nil {
			t.Errorf("ParseOrigins(%q) accepted: %v", in, o.set)
		}
	}
}

// TestOriginAllowed: the node's own origin is the request's Host (any scheme: a TLS proxy changes
// the scheme, not the host); others must be listed exactly, scheme and port included.
func TestOriginAllowed(t *testing.T) {
	t.Parallel()
	o := mustOrigins(t, uiOrigin+",http://10.0.0.5:8081")
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Host = "engine.example:8080"
	for origin, want := range map[string]bool{
		"http://engine.example:8080":               true,
		"https://ENGINE.example:8080":              true,
		"http://engine.example:8080/a?b=1":         true, // a Referer
		"http://engine.example":                    false,
		"http://engine.example:8081":               false,
		uiOrigin:                                   true,
		"https://ui.example:443":                   true,
		"https://ui.example/some/page":             true,
		"http://ui.example":                        false,
		"https://ui.example:8443":                  false,
		"https://sub.ui.example":                   false,
		"http://10.0.0.5:8081":                     true,
		"http://10.0.0.5":                          false,
		evilOrigin:                                 false,
		"null":                                     false,
		"ftp://engine.example:8080":                false,
		"":                                         false,
		"https://engine.example:8080@evil.example": false,
	} {
		if got := o.allowed(origin, r); got != want {
			t.Errorf("allowed(%q) = %v, want %v", origin, got, want)
		}
	}
	r.Host = "engine.example" // default port: Origin and Host both leave it out
	if !o.allowed("https://engine.example", r) || !o.allowed("http://engine.example:80", r) {
		t.Error("the node's own origin on a default port")
	}
}

// TestBrowserSafetyREST: which credential authenticated decides whether the Origin matters.
func TestBrowserSafetyREST(t *testing.T) {
	t.Parallel()
	authn := originAuth(t)
	disabled, err := auth.New(auth.Config{Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	const own = "http://" + testHost // the harness's requests go to Host testHost
	cookie := func(name, value string) []string {
		return []string{"Cookie", (&http.Cookie{Name: name, Value: value}).String()}
	}
	adminCookie := cookie(auth.APIKeyParam, originAdminKey)
	adminToken := token(t, jwt.MapClaims{"sub": "tok-admin", "role": "admin", "exp": time.Now().Add(time.Hour).Unix()}, testSecret)
	with := func(hdr []string, more ...string) []string { return append(append([]string(nil), hdr...), more...) }

	// ok is what an accepted request answers when not 200.
	type route struct {
		name, method, path, body string
		ok                       int
	}
	execute := route{"execute", http.MethodPost, base + "/systems/sys-1/Display_1/power", `[true]`, 0}
	byID := route{"execute by id", http.MethodPost, base + "/modules/mod-1/exec/power", `[true]`, 0}
	stop := route{"stop", http.MethodPost, base + "/modules/mod-1/stop", ``, 0}
	modelPut := route{"model write", http.MethodPut, base + "/model", `{"zones": [{"id": "z-origin", "name": "Z"}]}`, 0}
	entityDelete := route{"entity delete", http.MethodDelete, base + "/zones/z-keep", ``, http.StatusNoContent}
	// The management compatibility writes (docs/protocol.md §9); the model's mod-1 has no
	// address, so an accepted ping is its 400.
	systemStop := route{"system stop", http.MethodPost, base + "/systems/sys-1/stop", ``, 0}
	entityPatch := route{"entity patch", http.MethodPatch, base + "/systems/sys-1", `{"name": "Patched"}`, 0}
	load := route{"module load", http.MethodPost, base + "/modules/mod-1/load", ``, 0}
	ping := route{"module ping", http.MethodPost, base + "/modules/mod-1/ping", ``, http.StatusBadRequest}
	writes := []route{execute, byID, stop, modelPut, entityDelete, systemStop, entityPatch, load, ping}
	read := route{"state read", http.MethodGet, base + "/systems/sys-1/Display_1", ``, 0}

	tests := []struct {
		name   string
		noAuth bool // --auth none
		query  string
		hdr    []string
		routes []route
		status int
	}{
		// The cookie: only from an allowed origin.
		{"cookie from a foreign origin", false, "", with(adminCookie, "Origin", evilOrigin), writes, 403},
		{"cookie from the node's own origin", false, "", with(adminCookie, "Origin", own), writes, 200},
		{"cookie from an allowed origin", false, "", with(adminCookie, "Origin", uiOrigin), writes, 200},
		{"cookie from an opaque origin", false, "", with(adminCookie, "Origin", "null"), writes, 403},
		{"cookie from the allowed host on another scheme", false, "", with(adminCookie, "Origin", "http://ui.example"), writes, 403},
		{"cookie without Origin or Referer", false, "", adminCookie, writes, 403},
		{"cookie without Origin, own Referer", false, "", with(adminCookie, "Referer", own+"/app/room?x=1"), writes, 200},
		{"cookie without Origin, allowed Referer", false, "", with(adminCookie, "Referer", uiOrigin+"/"), writes, 200},
		{"cookie without Origin, foreign Referer", false, "", with(adminCookie, "Referer", evilOrigin+"/x"), writes, 403},
		{"bearer cookie from a foreign origin", false, "", with(cookie(auth.BearerParam, adminToken), "Origin", evilOrigin), writes, 403},
		{"cookie next to an ignored query token", false, "?bearer_token=garbage", with(adminCookie, "Origin", evilOrigin), writes, 403},
		// Reads change nothing, and a foreign page cannot read the answer.
		{"cookie read from a foreign origin", false, "", with(adminCookie, "Origin", evilOrigin), []route{read}, 200},
		// Headers: a foreign page cannot set them.
		{"header key from a foreign origin", false, "", []string{auth.APIKeyHeader, originAdminKey, "Origin", evilOrigin}, writes, 200},
		{"bearer header from a foreign origin", false, "", []string{"Authorization", "Bearer " + adminToken, "Origin", evilOrigin}, writes, 200},
		{"header key over a cookie, foreign origin", false, "", with(adminCookie, auth.APIKeyHeader, originAdminKey, "Origin", evilOrigin), writes, 200},
		// The query: a foreign form's action can carry it.
		{"query key from a foreign origin", false, "?api-key=" + originAdminKey, []string{"Origin", evilOrigin}, writes, 403},
		{"query key from an allowed origin", false, "?api-key=" + originAdminKey, []string{"Origin", uiOrigin}, writes, 200},
		{"query key without Origin", false, "?api-key=" + originAdminKey, nil, writes, 200},
		// --auth none: reaching loopback is the credential, which every local page has.
		{"auth none from a foreign origin", true, "", []string{"Origin", evilOrigin}, writes, 403},
		{"auth none from the node's own origin", true, "", []string{"Origin", own}, writes, 200},
		{"auth none without Origin (curl)", true, "", nil, writes, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := model.NewMemory()
			seed, err := model.ParseFile([]byte(fuzzModel))
			if err != nil {
				t.Fatal(err)
			}
			seed.Zones = append(seed.Zones, &model.Zone{ID: "z-keep", Name: "Keep"})
			if err := store.Apply(context.Background(), seed); err != nil {
				t.Fatal(err)
			}
			hs := newHarness(t, func(c *Config) {
				c.Auth, c.Models, c.AllowedOrigins = authn, fuzzModels{store}, mustOrigins(t, uiOrigin)
				if tt.noAuth {
					c.Auth = disabled
				}
			})
			for _, rt := range tt.routes {
				code, body, _ := hs.do(t, rt.method, rt.path+tt.query, rt.body, tt.hdr...)
				want := tt.status
				if want == 200 && rt.ok != 0 {
					want = rt.ok
				}
				if code != want {
					t.Errorf("%s: %d %s, want %d", rt.name, code, body, want)
					continue
				}
				if code == 403 && !strings.Contains(body, `"error":"access_denied"`) {
					t.Errorf("%s: refusal %s", rt.name, body)
				}
			}
			if tt.status != 403 {
				return
			}
			// Nothing a refused request asked for happened.
			m, _ := store.Model()
			if hs.eng.callCount() != 0 || len(hs.eng.stopped)+len(hs.eng.started) != 0 || m.Zones["z-origin"] != nil || m.Zones["z-keep"] == nil || m.Systems["sys-1"].Name != "Room" {
				t.Fatalf("a refused request acted: %d calls, started %v, stopped %v, zones %v", hs.eng.callCount(), hs.eng.started, hs.eng.stopped, m.Zones)
			}
		})
	}
}

// TestBrowserSafetyWebSocket: the upgrade follows the credential that authenticated, not whatever
// else the URL carries: a cookie with a bearer_token query parameter beside it (garbage, or another
// user's) is still a cookie, refused from a foreign origin.
func TestBrowserSafetyWebSocket(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, func(c *Config) { c.Auth, c.AllowedOrigins = originAuth(t), mustOrigins(t, uiOrigin) })
	ts := httptest.NewServer(hs.h)
	t.Cleanup(ts.Close)
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + ClientBase + "/systems/control"
	own := ts.URL
	userToken := token(t, jwt.MapClaims{"sub": "tok-user", "exp": time.Now().Add(time.Hour).Unix()}, testSecret)
	keyCookie := (&http.Cookie{Name: auth.APIKeyParam, Value: originUserKey}).String()
	tokenCookie := (&http.Cookie{Name: auth.BearerParam, Value: userToken}).String()

	tests := []struct {
		name   string
		query  url.Values
		hdr    []string
		status int // 101 upgrades
	}{
		{"cookie and a garbage query token, foreign origin", url.Values{auth.BearerParam: {"garbage"}}, []string{"Cookie", keyCookie, "Origin", evilOrigin}, 403},
		{"cookie and a valid query token, foreign origin", url.Values{auth.BearerParam: {userToken}}, []string{"Cookie", keyCookie, "Origin", evilOrigin}, 403},
		{"bearer cookie, foreign origin", nil, []string{"Cookie", tokenCookie, "Origin", evilOrigin}, 403},
		{"cookie, opaque origin", nil, []string{"Cookie", keyCookie, "Origin", "null"}, 403},
		{"cookie, own origin", nil, []string{"Cookie", keyCookie, "Origin", own}, 101},
		{"cookie, allowed origin", nil, []string{"Cookie", keyCookie, "Origin", uiOrigin}, 101},
		{"cookie, no origin (not a browser)", nil, []string{"Cookie", keyCookie}, 101},
		{"query token, foreign origin (a PlaceOS front-end elsewhere)", url.Values{auth.BearerParam: {userToken}}, []string{"Origin", evilOrigin}, 101},
		{"query key, foreign origin", url.Values{auth.APIKeyParam: {originUserKey}}, []string{"Origin", evilOrigin}, 101},
		{"header key, foreign origin", nil, []string{auth.APIKeyHeader, originUserKey, "Origin", evilOrigin}, 101},
		{"query key over a cookie, foreign origin", url.Values{auth.APIKeyParam: {originUserKey}}, []string{"Cookie", keyCookie, "Origin", evilOrigin}, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := wsURL
			if tt.query != nil {
				u += "?" + tt.query.Encode()
			}
			h := http.Header{}
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				h.Set(tt.hdr[i], tt.hdr[i+1])
			}
			conn, resp, err := websocket.DefaultDialer.Dial(u, h)
			if tt.status == http.StatusSwitchingProtocols {
				if err != nil {
					t.Fatalf("refused: %v %v", resp, err)
				}
				_ = conn.Close()
				return
			}
			if err == nil {
				_ = conn.Close()
				t.Fatal("upgraded")
			}
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			var e struct{ Error, Message string }
			if resp.StatusCode != tt.status || json.Unmarshal(body, &e) != nil || e.Error != "access_denied" ||
				!strings.Contains(e.Message, "cross-site request refused") {
				t.Fatalf("HTTP %d %s, want %d access_denied", resp.StatusCode, body, tt.status)
			}
		})
	}
}
