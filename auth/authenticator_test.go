package auth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/placeos-go/engine/auth"
)

const clusterSecret = "s3cret-of-the-cluster"

// The keys every authenticator test uses: one per role.
const (
	userKey    = "user-key-0123456789"
	supportKey = "support-key-0123456789"
	adminKey   = "admin-key-0123456789"
)

func testAPIKeys(t *testing.T) *auth.APIKeys {
	t.Helper()
	k, err := auth.ParseAPIKeys([]byte(`
- {key: "` + userKey + `", user_id: u1, role: user}
- {key: "` + supportKey + `", user_id: s1, role: support}
- {key: "` + adminKey + `", user_id: a1, role: admin}
`))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newAuthenticator(t *testing.T, cfg auth.Config) *auth.Authenticator {
	t.Helper()
	a, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// request builds a GET with headers (name, value pairs) and cookies (name, value pairs).
func request(query string, hdr, cookies []string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/x"+query, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	for i := 0; i+1 < len(cookies); i += 2 {
		r.AddCookie(&http.Cookie{Name: cookies[i], Value: cookies[i+1]})
	}
	return r
}

func TestNewNeedsACredentialSource(t *testing.T) {
	t.Parallel()
	keys := testAPIKeys(t)
	v := newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret)})
	none, err := auth.ParseAPIKeys([]byte(""))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  auth.Config
		ok   bool
	}{
		{"nothing", auth.Config{}, false},
		{"an empty keys file", auth.Config{APIKeys: none}, false},
		{"an empty keys file and a token verifier", auth.Config{APIKeys: none, JWT: v}, true},
		{"api keys", auth.Config{APIKeys: keys}, true},
		{"jwt", auth.Config{JWT: v}, true},
		{"disabled", auth.Config{Disabled: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := auth.New(tt.cfg)
			if !tt.ok {
				if !errors.Is(err, auth.ErrNoCredentialSource) || a != nil {
					t.Fatalf("got %v, %v; want ErrNoCredentialSource", a, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Disabled() != tt.cfg.Disabled {
				t.Fatalf("Disabled() = %v", a.Disabled())
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	tok := func(sub string, extra jwt.MapClaims) string {
		c := claims(extra)
		c["sub"] = sub
		return sign(t, jwt.SigningMethodHS256, []byte(hsSecret), c)
	}
	adminTok := tok("t-admin", jwt.MapClaims{"role": "admin"})
	supportTok := tok("t-support", jwt.MapClaims{"role": "support"})
	userTok := tok("t-user", nil)
	expired := tok("t-old", jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})

	user := func(id string, c auth.Clearance) auth.Caller { return auth.Caller{UserID: id, Clearance: c} }
	sec := "X-Cluster-Secret" // node headers of older versions: never a credential on the client API

	keys := testAPIKeys(t)
	v := newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret)})
	both := newAuthenticator(t, auth.Config{APIKeys: keys, JWT: v})
	keysOnly := newAuthenticator(t, auth.Config{APIKeys: keys})
	jwtOnly := newAuthenticator(t, auth.Config{JWT: v})
	disabled := newAuthenticator(t, auth.Config{Disabled: true})
	admin := auth.Caller{Clearance: auth.ClearanceAdmin}

	tests := []struct {
		name    string
		a       *auth.Authenticator
		query   string
		hdr     []string
		cookies []string
		want    auth.Caller
		err     string // "" accepts
	}{
		{"no credentials", both, "", nil, nil, auth.Caller{}, "credentials required"},

		// API keys: header, else query, else cookie.
		{"key in the header", both, "", []string{auth.APIKeyHeader, userKey}, nil, user("u1", auth.ClearanceUser), ""},
		{"key in the query", both, "?api-key=" + supportKey, nil, nil, user("s1", auth.ClearanceSupport), ""},
		{"key in a cookie", both, "", nil, []string{auth.APIKeyParam, adminKey}, user("a1", auth.ClearanceAdmin), ""},
		{"header key over query and cookie", both, "?api-key=" + supportKey, []string{auth.APIKeyHeader, userKey},
			[]string{auth.APIKeyParam, adminKey}, user("u1", auth.ClearanceUser), ""},
		{"query key over cookie", both, "?api-key=" + supportKey, nil, []string{auth.APIKeyParam, adminKey},
			user("s1", auth.ClearanceSupport), ""},
		// The first credential found is the one judged: a bad header key does not fall back.
		{"unknown header key over a good query key", both, "?api-key=" + adminKey, []string{auth.APIKeyHeader, "nope-nope-nope-nope"},
			nil, auth.Caller{}, "unknown API key"},
		{"unknown key", both, "", []string{auth.APIKeyHeader, "nope-nope-nope-nope"}, nil, auth.Caller{}, "unknown API key"},
		{"key without api keys configured", jwtOnly, "", []string{auth.APIKeyHeader, userKey}, nil, auth.Caller{}, "unknown API key"},

		// Bearer tokens: Authorization header, else query, else cookie.
		{"bearer header", both, "", []string{"Authorization", "Bearer " + adminTok}, nil, user("t-admin", auth.ClearanceAdmin), ""},
		{"lower-case scheme", both, "", []string{"Authorization", "bearer " + adminTok}, nil, user("t-admin", auth.ClearanceAdmin), ""},
		{"Token scheme", both, "", []string{"Authorization", "Token " + supportTok}, nil, user("t-support", auth.ClearanceSupport), ""},
		{"bearer in the query", both, "?bearer_token=" + userTok, nil, nil, user("t-user", auth.ClearanceUser), ""},
		{"bearer in a cookie", both, "", nil, []string{auth.BearerParam, supportTok}, user("t-support", auth.ClearanceSupport), ""},
		{"bearer header over query and cookie", both, "?bearer_token=" + supportTok, []string{"Authorization", "Bearer " + adminTok},
			[]string{auth.BearerParam, userTok}, user("t-admin", auth.ClearanceAdmin), ""},
		{"bearer query over cookie", both, "?bearer_token=" + supportTok, nil, []string{auth.BearerParam, userTok},
			user("t-support", auth.ClearanceSupport), ""},
		{"bad header token over a good query token", both, "?bearer_token=" + adminTok, []string{"Authorization", "Bearer " + expired},
			nil, auth.Caller{}, "bearer token has expired"},
		{"Basic scheme", both, "", []string{"Authorization", "Basic dTpw"}, nil, auth.Caller{}, `unsupported Authorization scheme "Basic"`},
		{"Digest scheme", both, "", []string{"Authorization", "Digest x"}, nil, auth.Caller{}, `unsupported Authorization scheme "Digest"`},
		{"scheme only", both, "", []string{"Authorization", "Bearer"}, nil, auth.Caller{}, "credentials required"},
		{"token without a scheme", both, "", []string{"Authorization", adminTok}, nil, auth.Caller{}, "unsupported Authorization scheme"},
		{"bearer without a verifier", keysOnly, "", []string{"Authorization", "Bearer " + adminTok}, nil, auth.Caller{},
			"bearer tokens are not accepted"},
		{"bearer query without a verifier", keysOnly, "?bearer_token=" + adminTok, nil, nil, auth.Caller{}, "bearer tokens are not accepted"},

		// An API key wins over a bearer token, wherever each travels.
		{"key header over bearer header", both, "", []string{auth.APIKeyHeader, userKey, "Authorization", "Bearer " + adminTok},
			nil, user("u1", auth.ClearanceUser), ""},
		{"key cookie over bearer header", both, "", []string{"Authorization", "Bearer " + adminTok},
			[]string{auth.APIKeyParam, userKey}, user("u1", auth.ClearanceUser), ""},
		{"unknown key over a good bearer", both, "", []string{auth.APIKeyHeader, "nope-nope-nope-nope", "Authorization", "Bearer " + adminTok},
			nil, auth.Caller{}, "unknown API key"},

		// Node credentials belong to the cluster port: on the client API they are not looked at.
		{"the cluster secret alone", both, "", []string{sec, clusterSecret, auth.UserIDHeader, "a1", auth.ClearanceHeader, "admin"}, nil,
			auth.Caller{}, "credentials required"},
		{"node headers next to a key", both, "", []string{auth.APIKeyHeader, userKey, sec, clusterSecret, auth.UserIDHeader, "a1",
			auth.ClearanceHeader, "admin"}, nil, user("u1", auth.ClearanceUser), ""},

		// --auth none: everyone is an admin, whatever it presents.
		{"disabled, anonymous", disabled, "", nil, nil, admin, ""},
		{"disabled, node headers", disabled, "", []string{sec, "nope", auth.UserIDHeader, "u9", auth.ClearanceHeader, "user"}, nil, admin, ""},
		{"disabled, a key is not looked at", disabled, "", []string{auth.APIKeyHeader, "nope-nope-nope-nope"}, nil, admin, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tt.a.Authenticate(request(tt.query, tt.hdr, tt.cookies))
			if tt.err != "" {
				wantUnauthenticated(t, err, tt.err)
				if c != (auth.Caller{}) {
					t.Fatalf("a refused request yielded %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Where the credential travelled is TestCredentialSource's.
			if c.From == "" {
				t.Fatalf("an accepted caller has no source: %+v", c)
			}
			c.From = ""
			// A token's caller expires with it (TestJWTClaims has when); an API key's and --auth
			// none's never do.
			if byToken := strings.HasPrefix(c.UserID, "t-"); c.Expires.IsZero() == byToken {
				t.Fatalf("by token: %t, yet expires %s", byToken, c.Expires)
			}
			c.Expires = time.Time{}
			if c = auth.WithoutKey(c); c != tt.want {
				t.Fatalf("got %+v, want %+v", c, tt.want)
			}
		})
	}
}

// TestCredentialSource: the caller says where the one credential that authenticated it
// travelled, whatever else the request carries. The HTTP server's browser rule (docs/protocol.md
// §8.5) reads it, so a cookie that authenticates next to an ignored query parameter is a cookie.
func TestCredentialSource(t *testing.T) {
	t.Parallel()
	tok := func(sub string) string {
		c := claims(nil)
		c["sub"] = sub
		return sign(t, jwt.SigningMethodHS256, []byte(hsSecret), c)
	}
	good := tok("t-user")
	keys := testAPIKeys(t)
	v := newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret)})
	a := newAuthenticator(t, auth.Config{APIKeys: keys, JWT: v})
	disabled := newAuthenticator(t, auth.Config{Disabled: true})
	tests := []struct {
		name    string
		a       *auth.Authenticator
		query   string
		hdr     []string
		cookies []string
		user    string
		want    auth.Source
	}{
		{"key header", a, "", []string{auth.APIKeyHeader, userKey}, nil, "u1", auth.FromHeader},
		{"key query", a, "?api-key=" + userKey, nil, nil, "u1", auth.FromQuery},
		{"key cookie", a, "", nil, []string{auth.APIKeyParam, userKey}, "u1", auth.FromCookie},
		{"bearer header", a, "", []string{"Authorization", "Bearer " + good}, nil, "t-user", auth.FromHeader},
		{"bearer query", a, "?bearer_token=" + good, nil, nil, "t-user", auth.FromQuery},
		{"bearer cookie", a, "", nil, []string{auth.BearerParam, good}, "t-user", auth.FromCookie},
		// The key is judged before any token: a token elsewhere is ignored, and the source is the key's.
		{"key cookie next to a garbage query token", a, "?bearer_token=garbage", nil, []string{auth.APIKeyParam, userKey}, "u1", auth.FromCookie},
		{"key cookie next to a valid query token", a, "?bearer_token=" + good, nil, []string{auth.APIKeyParam, userKey}, "u1", auth.FromCookie},
		{"key cookie next to a bearer header", a, "", []string{"Authorization", "Bearer " + good}, []string{auth.APIKeyParam, userKey}, "u1", auth.FromCookie},
		{"key query over a key cookie", a, "?api-key=" + supportKey, nil, []string{auth.APIKeyParam, userKey}, "s1", auth.FromQuery},
		{"bearer query over a bearer cookie", a, "?bearer_token=" + good, nil, []string{auth.BearerParam, tok("other")}, "t-user", auth.FromQuery},
		{"an empty query parameter is not a credential", a, "?api-key=", nil, []string{auth.APIKeyParam, userKey}, "u1", auth.FromCookie},
		// Node headers are not client credentials: next to a cookie, the cookie is what counts.
		{"node headers next to a key cookie", a, "", []string{auth.UserIDHeader, "u9", auth.ClearanceHeader, "admin"},
			[]string{auth.APIKeyParam, userKey}, "u1", auth.FromCookie},
		{"auth none", disabled, "", nil, []string{auth.APIKeyParam, userKey}, "", auth.FromNowhere},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tt.a.Authenticate(request(tt.query, tt.hdr, tt.cookies))
			if err != nil {
				t.Fatal(err)
			}
			if c.From != tt.want || c.UserID != tt.user {
				t.Fatalf("got %+v, want user %q from %q", c, tt.user, tt.want)
			}
		})
	}
	// A refused credential has no source: nothing authenticated.
	c, err := a.Authenticate(request("?bearer_token=garbage", nil, []string{auth.APIKeyParam, "nope-nope-nope-nope"}))
	if err == nil || c.From != "" {
		t.Fatalf("refused: %+v, %v", c, err)
	}
}

// TestNodeCredentialsRoundTrip: what SetNodeCredentials writes, NodeCaller reads back.
func TestNodeCredentialsRoundTrip(t *testing.T) {
	t.Parallel()
	callers := []auth.Caller{
		{UserID: "u1", Clearance: auth.ClearanceUser},
		{UserID: "s1", Clearance: auth.ClearanceSupport},
		{UserID: "a1", Clearance: auth.ClearanceAdmin},
		{UserID: "u1", Clearance: auth.ClearanceInternal},
		{Clearance: auth.ClearanceInternal},
		{Clearance: auth.ClearanceUser},
		{UserID: "n1", Clearance: auth.ClearanceSupport, Node: true},
	}
	for _, c := range callers {
		r := request("", nil, nil)
		auth.SetNodeCredentials(r.Header, c)
		want := c
		want.Node = true
		if got := auth.NodeCaller(r.Header); got != want {
			t.Errorf("sent %+v, received %+v", c, got)
		}
		if c.UserID == "" && r.Header.Get(auth.UserIDHeader) != "" {
			t.Errorf("an empty user id was sent as %q", r.Header.Get(auth.UserIDHeader))
		}
	}
	for _, tt := range []struct {
		hdr  []string
		want auth.Caller
	}{
		{nil, auth.Caller{Clearance: auth.ClearanceAdmin, Node: true}}, // the node itself
		{[]string{auth.UserIDHeader, "u9"}, auth.Caller{UserID: "u9", Clearance: auth.ClearanceAdmin, Node: true}},
		{[]string{auth.ClearanceHeader, "administrator"}, auth.Caller{Clearance: auth.ClearanceAdmin, Node: true}},
		{[]string{auth.ClearanceHeader, "root"}, auth.Caller{Clearance: auth.ClearanceUser, Node: true}}, // garbled: the lowest
		{[]string{auth.ClearanceHeader, "unknown"}, auth.Caller{Clearance: auth.ClearanceUser, Node: true}},
	} {
		if got := auth.NodeCaller(request("", tt.hdr, nil).Header); got != tt.want {
			t.Errorf("%v: %+v, want %+v", tt.hdr, got, tt.want)
		}
	}
}
