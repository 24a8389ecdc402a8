package auth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
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
	sec := auth.ClusterSecretHeader

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
			if c != tt.want {
				t.Fatalf("got %+v, want %+v", c, tt.want)
			}
		})
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
		auth.SetNodeCredentials(r.Header, clusterSecret, c)
		want := c
		want.Node = true
		if got := auth.NodeCaller(r.Header); got != want {
			t.Errorf("sent %+v, received %+v", c, got)
		}
		if r.Header.Get(auth.ClusterSecretHeader) != clusterSecret {
			t.Errorf("secret header %q", r.Header.Get(auth.ClusterSecretHeader))
		}
		if c.UserID == "" && r.Header.Get(auth.UserIDHeader) != "" {
			t.Errorf("an empty user id was sent as %q", r.Header.Get(auth.UserIDHeader))
		}
	}
	r := request("", nil, nil)
	auth.SetNodeCredentials(r.Header, "", auth.Caller{UserID: "a1", Clearance: auth.ClearanceAdmin})
	if v := r.Header.Get(auth.ClusterSecretHeader); v != "" {
		t.Fatalf("secret header %q without a secret", v)
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

func TestValidSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		want, got string
		ok        bool
	}{
		{"", "", false},
		{"", "anything", false},
		{clusterSecret, clusterSecret, true},
		{clusterSecret, clusterSecret + "x", false},
		{clusterSecret, clusterSecret[:len(clusterSecret)-1], false},
		{clusterSecret, "", false},
		{"a", "A", false},
	}
	for _, tt := range tests {
		if got := auth.ValidSecret(tt.want, tt.got); got != tt.ok {
			t.Errorf("ValidSecret(%q, %q) = %v, want %v", tt.want, tt.got, got, tt.ok)
		}
	}
}
