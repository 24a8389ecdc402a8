package auth

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Where credentials travel, as PlaceOS clients send them (docs/protocol.md §7).
const (
	APIKeyHeader = "X-API-Key"
	APIKeyParam  = "api-key"      // query parameter and cookie
	BearerParam  = "bearer_token" // query parameter and cookie
)

// Node-to-node headers: the caller a node acts for. They are read only on the cluster port, where
// the connection proved already that a node opened it; the client API ignores them.
const (
	UserIDHeader    = "X-User-ID"
	ClearanceHeader = "X-Engine-Clearance"
)

// Header names as net/http keys its maps: Header.Get would canonicalize X-API-Key and X-User-ID,
// allocating, on every request.
var (
	apiKeyKey = http.CanonicalHeaderKey(APIKeyHeader)
	userIDKey = http.CanonicalHeaderKey(UserIDHeader)
)

// header is h's first value of the canonical key k.
func header(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// ErrNoCredentialSource: --auth keys without any way to authenticate a user.
var ErrNoCredentialSource = errors.New("--auth keys needs --api-keys, --jwt-secret or --jwt-public-key (or --auth none, loopback only, for development)")

// Config configures an Authenticator.
type Config struct {
	// Disabled is --auth none: every caller is an admin, node routes included. For development
	// on loopback only; the HTTP server refuses any other address.
	Disabled bool
	// APIKeys are the keys accepted at first; SetAPIKeys replaces them.
	APIKeys *APIKeys
	JWT     *JWTVerifier
}

// Authenticator identifies the caller of a request.
type Authenticator struct {
	cfg Config
	// keys are the API keys in force. Every request reads them, so a reload swaps the pointer
	// rather than taking a lock on the request path.
	keys atomic.Pointer[APIKeys]

	mu       sync.Mutex // serialises swaps, so hooks see them in order
	onChange []func()
}

// New builds an Authenticator. Unless it is disabled it needs API keys or a JWT verifier.
func New(cfg Config) (*Authenticator, error) {
	if !cfg.Disabled && cfg.APIKeys.empty() && cfg.JWT == nil {
		// An empty keys file would turn every request away: say so at start-up instead.
		return nil, ErrNoCredentialSource
	}
	a := &Authenticator{cfg: cfg}
	a.keys.Store(cfg.APIKeys)
	return a, nil
}

// Disabled reports --auth none.
func (a *Authenticator) Disabled() bool { return a.cfg.Disabled }

// Authenticate identifies the caller of a client request: an API key or else a bearer token, from
// a header, else the query parameter, else the cookie. It also says where the credential that
// authenticated travelled (Caller.From): only the one credential judged counts, whatever else the
// request carries. (Other nodes call on the cluster port, never here.)
func (a *Authenticator) Authenticate(r *http.Request) (Caller, error) {
	if a.cfg.Disabled {
		return Caller{Clearance: ClearanceAdmin, From: FromNowhere}, nil
	}
	if key, from := credential(r, apiKeyKey, APIKeyParam); key != "" {
		c, ok := a.keys.Load().Lookup(key)
		if !ok {
			return Caller{}, unauthenticated(nil, "unknown API key")
		}
		c.From = from
		return c, nil
	}
	token, from := "", FromHeader
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "Token") {
			return Caller{}, unauthenticated(nil, "unsupported Authorization scheme "+quote(scheme)+" (want Bearer)")
		}
		token = strings.TrimSpace(rest)
	} else {
		token, from = credential(r, "", BearerParam)
	}
	if token == "" {
		return Caller{}, unauthenticated(nil, "credentials required: an API key ("+APIKeyHeader+") or a bearer token")
	}
	if a.cfg.JWT == nil {
		return Caller{}, unauthenticated(nil, "bearer tokens are not accepted by this engine")
	}
	c, err := a.cfg.JWT.Verify(token)
	if err != nil {
		return Caller{}, err
	}
	c.From = from
	return c, nil
}

func quote(s string) string { return `"` + s + `"` }

// credential reads a credential from a header (its canonical name), else the query parameter,
// else the cookie, and says which it was.
func credential(r *http.Request, key, param string) (string, Source) {
	if key != "" {
		if v := header(r.Header, key); v != "" {
			return v, FromHeader
		}
	}
	if r.URL.RawQuery != "" { // URL.Query allocates a map, even for no query at all
		if v := r.URL.Query().Get(param); v != "" {
			return v, FromQuery
		}
	}
	if ck, err := r.Cookie(param); err == nil && ck.Value != "" {
		return ck.Value, FromCookie
	}
	return "", ""
}

// NodeCaller is the caller a request from another node acts for, read from its headers. Without
// a clearance header it is the node itself, trusted as an admin (a membership change, a forwarded
// model write). Call it only for a request that proved it comes from a node.
func NodeCaller(h http.Header) Caller {
	return NodeCallerOf(header(h, userIDKey), h.Get(ClearanceHeader))
}

// NodeCallerOf is NodeCaller from the two values as they travelled: the user id, and the
// clearance's name ("" for the node itself).
func NodeCallerOf(userID, clearance string) Caller {
	c := Caller{Node: true, UserID: userID, Clearance: ClearanceAdmin}
	if v := clearance; v != "" {
		if v == ClearanceInternal.String() {
			c.Clearance = ClearanceInternal // a driver's own call, forwarded to its target's node
		} else if cl, err := ParseClearance(v); err == nil {
			c.Clearance = cl
		} else {
			c.Clearance = ClearanceUser // fail closed on a garbled header
		}
	}
	return c
}

// SetNodeCredentials names, on a node-to-node request, the caller it is made for, whose
// clearance the receiving node applies.
func SetNodeCredentials(h http.Header, c Caller) {
	if c.UserID != "" {
		h[userIDKey] = []string{c.UserID}
	}
	h[ClearanceHeader] = clearanceValue(c.Clearance) // the name is canonical already
}

// clearanceValues are the clearance header's values, shared (net/http only reads them).
var clearanceValues = func() map[Clearance][]string {
	m := map[Clearance][]string{}
	for _, c := range []Clearance{ClearanceUser, ClearanceSupport, ClearanceAdmin, ClearanceInternal} {
		m[c] = []string{c.String()}
	}
	return m
}()

func clearanceValue(c Clearance) []string {
	if v, ok := clearanceValues[c]; ok {
		return v
	}
	return []string{c.String()}
}
