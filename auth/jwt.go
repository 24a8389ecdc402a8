package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

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
	method string // the one algorithm the key takes
	parser *jwt.Parser
}

// NewJWTVerifier builds a verifier. Only the algorithm that fits the key is accepted, so a token
// cannot pick a weaker one (the "alg": "none" and HS256-with-a-public-key attacks).
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if (len(cfg.Secret) == 0) == (len(cfg.PublicKeyPEM) == 0) {
		return nil, fmt.Errorf("%w: set exactly one of the JWT secret and the JWT public key", ErrBadConfig)
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	v := &JWTVerifier{cfg: cfg}
	var method string
	switch {
	case len(cfg.Secret) > 0:
		if len(cfg.Secret) < 32 {
			return nil, fmt.Errorf("%w: the HS256 secret must be at least 32 bytes", ErrBadConfig)
		}
		v.key, method = cfg.Secret, jwt.SigningMethodHS256.Alg()
	default:
		if k, err := jwt.ParseRSAPublicKeyFromPEM(cfg.PublicKeyPEM); err == nil {
			v.key, method = k, jwt.SigningMethodRS256.Alg()
		} else if k, err := jwt.ParseECPublicKeyFromPEM(cfg.PublicKeyPEM); err == nil {
			if k.Curve.Params().BitSize != 256 {
				return nil, fmt.Errorf("%w: ES256 needs a P-256 key", ErrBadConfig)
			}
			v.key, method = k, jwt.SigningMethodES256.Alg()
		} else {
			return nil, fmt.Errorf("%w: the JWT public key is neither an RSA nor an ECDSA PEM key", ErrBadConfig)
		}
	}
	v.method = method
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

// LoadJWTVerifier is NewJWTVerifier from the command-line flags: cfg carries --jwt-secret (the
// secret itself), --jwt-issuer and --jwt-audience; publicKeyPath is --jwt-public-key (a PEM file,
// read into cfg.PublicKeyPEM). Neither a secret nor a key returns nil: bearer tokens are not
// accepted.
func LoadJWTVerifier(cfg JWTConfig, publicKeyPath string) (*JWTVerifier, error) {
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

// tokenClaims are the claims a PlaceOS token carries, plus a plain "role". They are spelled out
// rather than embedding jwt.RegisteredClaims so that the dates are read strictly (numericDate);
// their names are read exactly (jwtnames.go).
type tokenClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *numericDate     `json:"exp"`
	NotBefore *numericDate     `json:"nbf"`
	IssuedAt  *numericDate     `json:"iat"`
	Role      string           `json:"role,omitempty"`
	U         *tokenFlags      `json:"u,omitempty"`
}

// The Get methods make tokenClaims a jwt.Claims, which the parser validates.
func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.date(), nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.date(), nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.date(), nil }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }

// numericDate is a NumericDate as RFC 7519 §2 defines it: a JSON number. The library's own type
// also reads a string that holds a number ("9999999999"), which no issuer writes: a token that
// does is malformed, and accepting it would let the claim mean one thing here and another to a
// stricter verifier.
type numericDate struct{ jwt.NumericDate }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if b[0] != '-' && (b[0] < '0' || b[0] > '9') { // the decoder passes one whole JSON value
		// The decoder names the claim in Field (the path from the claims object: "exp").
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[float64]()}
	}
	return d.NumericDate.UnmarshalJSON(b)
}

func (d *numericDate) date() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

// Verify checks a token's signature, expiry and not-before, and reads the caller from it: the
// user id from "sub", the clearance from "role" or else PlaceOS's u.p flags (1 support, 2 admin),
// and Expires, the moment this verifier starts refusing the token (its exp plus the leeway).
func (v *JWTVerifier) Verify(token string) (Caller, error) {
	var cl tokenClaims
	parsed, err := v.parser.ParseWithClaims(token, &cl, func(t *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: a token naming critical extensions the verifier does not implement
		// (none here, b64:false included) must be refused.
		if _, ok := t.Header["crit"]; ok {
			return nil, errCrit
		}
		return v.key, nil
	})
	if err != nil {
		return Caller{}, unauthenticated(err, v.refusal(parsed, &cl, err))
	}
	if cl.Subject == "" {
		return Caller{}, unauthenticated(nil, "bearer token has no subject")
	}
	c := Caller{UserID: cl.Subject, Expires: cl.ExpiresAt.Time.Add(v.cfg.Leeway)}
	switch {
	case cl.Role != "":
		if c.Clearance, err = tokenRole(cl.Role); err != nil {
			return Caller{}, unauthenticated(err, "bearer token: "+err.Error())
		}
	case cl.U != nil && cl.U.P < 0:
		// Flags are bits: -1 would read as every clearance at once.
		return Caller{}, unauthenticated(nil, "bearer token: u.p must not be negative")
	case cl.U != nil && cl.U.P&2 != 0:
		c.Clearance = ClearanceAdmin
	case cl.U != nil && cl.U.P&1 != 0:
		c.Clearance = ClearanceSupport
	}
	return c, nil
}

// errCrit refuses a token naming critical header extensions.
var errCrit = errors.New(`the token names critical header extensions ("crit"), which this verifier does not implement`)

// refusal says why the parser refused a token, so that whoever issues tokens can fix theirs: each
// cause has its own message. None quotes the token or a claim's value (a token is a credential;
// a claim may be personal).
func (v *JWTVerifier) refusal(parsed *jwt.Token, cl *tokenClaims, err error) string {
	const invalid = "bearer token is invalid: "
	var te *json.UnmarshalTypeError
	var names *claimNameError
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "bearer token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "bearer token is not valid yet"
	case errors.As(err, &te) && te.Type == reflect.TypeFor[float64]():
		return fmt.Sprintf("bearer token: claim %q must be a JSON number (RFC 7519 NumericDate), not %s", te.Field, te.Value)
	case errors.As(err, &te):
		// The decoder's Value is the JSON kind it met ("number", "string", "bool", …).
		return fmt.Sprintf("%sclaim %q must be %s, not a JSON %s", invalid, te.Field, jsonWant(te.Type), te.Value)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && cl.ExpiresAt == nil: // null is absent too
		return invalid + `claim "exp" is required (a JSON number, RFC 7519 NumericDate)`
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && v.cfg.Issuer != "" && cl.Issuer == "":
		return invalid + `claim "iss" is required (this node checks the issuer)`
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && v.cfg.Audience != "" && len(cl.Audience) == 0:
		return invalid + `claim "aud" is required (this node checks the audience)`
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return invalid + `claim "iss" is not the issuer this node accepts`
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalid + `claim "aud" does not name the audience this node accepts`
	case errors.As(err, &names):
		return invalid + names.msg
	case errors.Is(err, errCrit):
		return invalid + errCrit.Error()
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && parsed != nil && parsed.Method != nil && parsed.Method.Alg() != v.method:
		return fmt.Sprintf("%salgorithm %q is not accepted: this node's key takes %s only", invalid, parsed.Method.Alg(), v.method)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid + "signature does not verify"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return invalid + "its algorithm (alg) is unknown"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid + "malformed (a JWT is three base64url parts, header.claims.signature, of JSON objects)"
	}
	return "bearer token is invalid"
}

// jsonWant names the JSON a claim of Go type t is read from.
func jsonWant(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a JSON string"
	case reflect.Int, reflect.Int64:
		return "a JSON integer"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "a JSON object"
	}
	return "a JSON " + t.String()
}

// tokenRole reads a token's role claim exactly as written: no trimming, no case folding, unlike
// ParseClearance for the API-keys file an operator types. PlaceOS itself issues no such claim
// (its clearance is u.p); an issuer that adds one writes it as a program does, so " admin " or
// "ADMIN" is a token made some other way, and it is refused rather than guessed at.
func tokenRole(role string) (Clearance, error) {
	if c, ok := clearanceNamed(role); ok {
		return c, nil
	}
	return ClearanceUser, fmt.Errorf("unknown role %q (want exactly user, support, admin or administrator, in lower case)", role)
}

// jsonKind names the JSON type of a value that is not a number (null never gets here: the claim
// is then absent).
func jsonKind(b []byte) string {
	switch b[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a boolean"
}
