package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/go-hclog"
	"sigs.k8s.io/yaml"
)

// Where credentials travel (PROTOCOL §7, as PlaceOS clients send them).
const (
	APIKeyHeader = "X-API-Key"
	APIKeyParam  = "api-key"      // query parameter and cookie
	BearerParam  = "bearer_token" // query parameter and cookie
	// ForwardedClearanceHeader carries the originating caller's clearance on a node-to-node
	// request (next to UserIDHeader); it is believed only with a valid cluster secret.
	ForwardedClearanceHeader = "X-Engine-Clearance"
)

// ParseClearance reads a role name: user, support, admin (or administrator).
func ParseClearance(s string) (Clearance, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "user", "":
		return ClearanceUser, nil
	case "support":
		return ClearanceSupport, nil
	case "admin", "administrator":
		return ClearanceAdmin, nil
	}
	return ClearanceUser, fmt.Errorf("unknown role %q (want user, support or admin)", s)
}

// APIKey is one entry of the --api-keys file.
type APIKey struct {
	Key    string `json:"key"`
	UserID string `json:"user_id"`
	Role   string `json:"role"`
}

// APIKeys is the set of accepted API keys. Keys are held by their SHA-256 so a lookup is a map
// probe on a fixed-size digest rather than a string comparison whose timing depends on the key.
type APIKeys struct {
	byDigest map[[32]byte]Caller
}

// LoadAPIKeys reads the --api-keys YAML (or JSON) file: a list of {key, user_id, role}.
func LoadAPIKeys(path string) (*APIKeys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	k, err := ParseAPIKeys(data)
	if err != nil {
		return nil, fmt.Errorf("api keys %s: %w", path, err)
	}
	return k, nil
}

// minAPIKeyLen refuses keys short enough to guess.
const minAPIKeyLen = 16

// ParseAPIKeys parses the API keys file content.
func ParseAPIKeys(data []byte) (*APIKeys, error) {
	var list []APIKey
	if err := yaml.UnmarshalStrict(data, &list); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadAuthConfig, err)
	}
	k := &APIKeys{byDigest: make(map[[32]byte]Caller, len(list))}
	for i, e := range list {
		if len(e.Key) < minAPIKeyLen {
			return nil, fmt.Errorf("%w: entry %d: key must be at least %d characters", ErrBadAuthConfig, i+1, minAPIKeyLen)
		}
		if e.UserID == "" {
			return nil, fmt.Errorf("%w: entry %d: user_id is required", ErrBadAuthConfig, i+1)
		}
		c, err := ParseClearance(e.Role)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBadAuthConfig, i+1, err)
		}
		d := sha256.Sum256([]byte(e.Key))
		if _, dup := k.byDigest[d]; dup {
			return nil, fmt.Errorf("%w: entry %d: duplicate key", ErrBadAuthConfig, i+1)
		}
		k.byDigest[d] = Caller{UserID: e.UserID, Clearance: c}
	}
	return k, nil
}

// Lookup finds the caller an API key belongs to.
func (k *APIKeys) Lookup(key string) (Caller, bool) {
	if k == nil {
		return Caller{}, false
	}
	c, ok := k.byDigest[sha256.Sum256([]byte(key))]
	return c, ok
}

// Len is the number of keys.
func (k *APIKeys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.byDigest)
}

// JWTConfig configures bearer token verification. Exactly one of Secret and PublicKeyPEM is set.
type JWTConfig struct {
	Secret       []byte // HS256
	PublicKeyPEM []byte // RS256 (RSA key) or ES256 (ECDSA P-256 key), PEM
	// Issuer and Audience are checked when set (PlaceOS issues "POS" tokens for its domain).
	Issuer   string
	Audience string
	// Leeway tolerates clock skew on exp/nbf/iat (default 30s).
	Leeway time.Duration
}

// JWTVerifier checks bearer tokens.
type JWTVerifier struct {
	cfg    JWTConfig
	key    any
	parser *jwt.Parser
}

// NewJWTVerifier builds a verifier. Only the algorithm that fits the key is accepted, so a token
// cannot pick a weaker one (the "alg": "none" and HS256-with-a-public-key attacks).
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if (len(cfg.Secret) == 0) == (len(cfg.PublicKeyPEM) == 0) {
		return nil, fmt.Errorf("%w: set exactly one of the JWT secret and the JWT public key", ErrBadAuthConfig)
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	v := &JWTVerifier{cfg: cfg}
	var method string
	switch {
	case len(cfg.Secret) > 0:
		if len(cfg.Secret) < 32 {
			return nil, fmt.Errorf("%w: the HS256 secret must be at least 32 bytes", ErrBadAuthConfig)
		}
		v.key, method = cfg.Secret, jwt.SigningMethodHS256.Alg()
	default:
		if k, err := jwt.ParseRSAPublicKeyFromPEM(cfg.PublicKeyPEM); err == nil {
			v.key, method = k, jwt.SigningMethodRS256.Alg()
		} else if k, err := jwt.ParseECPublicKeyFromPEM(cfg.PublicKeyPEM); err == nil {
			if k.Curve.Params().BitSize != 256 {
				return nil, fmt.Errorf("%w: ES256 needs a P-256 key", ErrBadAuthConfig)
			}
			v.key, method = k, jwt.SigningMethodES256.Alg()
		} else {
			return nil, fmt.Errorf("%w: the JWT public key is neither an RSA nor an ECDSA PEM key", ErrBadAuthConfig)
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{method}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// LoadJWTVerifier is NewJWTVerifier from the command-line flags: --jwt-secret (the secret itself)
// or --jwt-public-key (a PEM file). Both empty returns nil: bearer tokens are not accepted.
func LoadJWTVerifier(secret, publicKeyPath string) (*JWTVerifier, error) {
	cfg := JWTConfig{Secret: []byte(secret)}
	if publicKeyPath != "" {
		pem, err := os.ReadFile(publicKeyPath)
		if err != nil {
			return nil, fmt.Errorf("jwt public key: %w", err)
		}
		cfg.PublicKeyPEM = pem
	}
	if len(cfg.Secret) == 0 && len(cfg.PublicKeyPEM) == 0 {
		return nil, nil
	}
	return NewJWTVerifier(cfg)
}

// tokenClaims are the claims a PlaceOS token carries, plus a plain "role".
type tokenClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role,omitempty"`
	U    *struct {
		P int `json:"p"`
	} `json:"u,omitempty"`
}

// Verify checks a token's signature, expiry and not-before, and reads the caller from it: the
// user id from "sub", the clearance from "role" or else PlaceOS's u.p flags (1 support, 2 admin).
func (v *JWTVerifier) Verify(token string) (Caller, error) {
	var cl tokenClaims
	_, err := v.parser.ParseWithClaims(token, &cl, func(*jwt.Token) (any, error) { return v.key, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Caller{}, fail(ErrUnauthenticated, err, "bearer token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return Caller{}, fail(ErrUnauthenticated, err, "bearer token is not valid yet")
	case err != nil:
		return Caller{}, fail(ErrUnauthenticated, err, "bearer token is invalid")
	}
	if cl.Subject == "" {
		return Caller{}, fail(ErrUnauthenticated, nil, "bearer token has no subject")
	}
	c := Caller{UserID: cl.Subject}
	switch {
	case cl.Role != "":
		if c.Clearance, err = ParseClearance(cl.Role); err != nil {
			return Caller{}, fail(ErrUnauthenticated, err, "bearer token: %v", err)
		}
	case cl.U != nil && cl.U.P&2 != 0:
		c.Clearance = ClearanceAdmin
	case cl.U != nil && cl.U.P&1 != 0:
		c.Clearance = ClearanceSupport
	}
	return c, nil
}

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	APIKeys *APIKeys
	JWT     *JWTVerifier
	Logger  hclog.Logger
}

// Authenticator identifies callers of REST and WebSocket requests (--auth keys).
type Authenticator struct {
	cfg AuthConfig
	log hclog.Logger

	// users remembers the clearance of recently seen users, for driver-to-driver calls, which
	// carry only the originating user's id.
	mu    sync.Mutex
	users map[string]userEntry
}

type userEntry struct {
	clearance Clearance
	seen      time.Time
}

// Bounds of the remembered users: a user not seen for userTTL calls with user clearance.
const (
	userTTL      = time.Hour
	maxUsersSeen = 100_000
)

// NewAuthenticator builds an Authenticator. With neither API keys nor a JWT verifier every
// request is refused (401), which is what an operator who forgot --api-keys should see.
func NewAuthenticator(cfg AuthConfig) *Authenticator {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	a := &Authenticator{cfg: cfg, log: cfg.Logger.Named("auth"), users: map[string]userEntry{}}
	for _, c := range cfg.APIKeys.all() {
		a.users[c.UserID] = userEntry{clearance: c.Clearance} // zero time: API key users never expire
	}
	return a
}

func (k *APIKeys) all() map[[32]byte]Caller {
	if k == nil {
		return nil
	}
	return k.byDigest
}

// Authenticate is the Config.Authenticate of --auth keys: API key, else bearer token; a header
// wins over a query parameter, which wins over a cookie. (Node-to-node calls are recognised by
// their cluster secret before this runs.)
func (a *Authenticator) Authenticate(r *http.Request) (Caller, error) {
	if key := credential(r, APIKeyHeader, APIKeyParam); key != "" {
		c, ok := a.cfg.APIKeys.Lookup(key)
		if !ok {
			return Caller{}, fail(ErrUnauthenticated, nil, "unknown API key")
		}
		return c, nil
	}
	token := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "Token") {
			return Caller{}, fail(ErrUnauthenticated, nil, "unsupported Authorization scheme %q (want Bearer)", scheme)
		}
		token = strings.TrimSpace(rest)
	} else {
		token = credential(r, "", BearerParam)
	}
	if token == "" {
		return Caller{}, fail(ErrUnauthenticated, nil, "credentials required: an API key (%s) or a bearer token", APIKeyHeader)
	}
	if a.cfg.JWT == nil {
		return Caller{}, fail(ErrUnauthenticated, nil, "bearer tokens are not accepted by this engine")
	}
	c, err := a.cfg.JWT.Verify(token)
	if err != nil {
		return Caller{}, err
	}
	a.remember(c)
	return c, nil
}

// credential reads a credential from a header, else the query parameter, else the cookie.
func credential(r *http.Request, header, param string) string {
	if header != "" {
		if v := r.Header.Get(header); v != "" {
			return v
		}
	}
	if v := r.URL.Query().Get(param); v != "" {
		return v
	}
	if ck, err := r.Cookie(param); err == nil {
		return ck.Value
	}
	return ""
}

// forwardedCaller is the caller a node-to-node request acts for. Without a clearance header it is
// the node itself, trusted as an admin (the calling node checked its own caller already).
func forwardedCaller(r *http.Request) Caller {
	c := Caller{Node: true, UserID: r.Header.Get(UserIDHeader), Clearance: ClearanceAdmin}
	if h := r.Header.Get(ForwardedClearanceHeader); h != "" {
		if cl, err := ParseClearance(h); err == nil {
			c.Clearance = cl
		} else {
			c.Clearance = ClearanceUser // fail closed on a garbled header
		}
	}
	return c
}

// ValidClusterSecret compares in constant time; an unset secret matches nothing.
func ValidClusterSecret(want, got string) bool {
	if want == "" {
		return false
	}
	w, g := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(w[:], g[:]) == 1
}

// SetClusterAuth prepares a node-to-node request: the cluster secret, and the caller on whose
// behalf it is made (so the receiving node applies that caller's clearance).
func SetClusterAuth(req *http.Request, secret string, c Caller) {
	req.Header.Set(ClusterSecretHeader, secret)
	if c.UserID != "" {
		req.Header.Set(UserIDHeader, c.UserID)
	}
	req.Header.Set(ForwardedClearanceHeader, c.Clearance.String())
}

func (a *Authenticator) remember(c Caller) {
	if c.UserID == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.users[c.UserID]; ok && e.seen.IsZero() {
		return // API key users keep the key's role
	}
	if len(a.users) >= maxUsersSeen {
		now := time.Now()
		for id, e := range a.users {
			if !e.seen.IsZero() && now.Sub(e.seen) > userTTL {
				delete(a.users, id)
			}
		}
		if len(a.users) >= maxUsersSeen {
			return // still full: the user calls drivers with user clearance
		}
	}
	a.users[c.UserID] = userEntry{clearance: c.Clearance, seen: time.Now()}
}

// ClearanceOf is the clearance of a user seen recently (API key users always), or user
// clearance: driver-to-driver calls carry only the originating user's id, so an unknown id gets
// the lowest clearance.
func (a *Authenticator) ClearanceOf(userID string) Clearance {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.users[userID]
	if !ok || (!e.seen.IsZero() && time.Since(e.seen) > userTTL) {
		return ClearanceUser
	}
	return e.clearance
}
