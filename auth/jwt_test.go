package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/errkind"
)

// hsSecret is a valid HS256 secret (32 bytes).
const hsSecret = "0123456789abcdef0123456789abcdef"

// testKeys are generated once for the whole package: RSA key generation is slow under -race.
type testKeys struct {
	rsa, rsaOther      *rsa.PrivateKey
	ec, ecOther, ec384 *ecdsa.PrivateKey
}

var keys = sync.OnceValues(func() (*testKeys, error) {
	var k testKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if k.ecOther, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return nil, err
	}
	return &k, nil
})

func mustKeys(t *testing.T) *testKeys {
	t.Helper()
	k, err := keys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publicPEM encodes a public key as a PKIX "PUBLIC KEY" PEM block.
func publicPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims is a valid claim set for user "tok-user" with extra merged in (a nil value deletes).
func claims(extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "tok-user", "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func newVerifier(t *testing.T, cfg auth.JWTConfig) *auth.JWTVerifier {
	t.Helper()
	v, err := auth.NewJWTVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantUnauthenticated checks that err is a 401 mentioning msg.
func wantUnauthenticated(t *testing.T, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	if !errors.Is(err, auth.ErrUnauthenticated) || !errors.Is(err, errkind.Unauthorized) {
		t.Fatalf("%v is not ErrUnauthenticated", err)
	}
	if p := errkind.Classify(err); p.Status != http.StatusUnauthorized || p.Internal {
		t.Fatalf("classified as %+v, want a 401", p)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q does not mention %q", err, msg)
	}
}

func TestJWTAlgorithms(t *testing.T) {
	t.Parallel()
	k := mustKeys(t)
	hs := newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret)})
	rs := newVerifier(t, auth.JWTConfig{PublicKeyPEM: publicPEM(t, &k.rsa.PublicKey)})
	es := newVerifier(t, auth.JWTConfig{PublicKeyPEM: publicPEM(t, &k.ec.PublicKey)})
	rsPKCS1 := newVerifier(t, auth.JWTConfig{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{
		Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})})

	rsaPEM := publicPEM(t, &k.rsa.PublicKey)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(jwt.MapClaims{"role": "admin"})).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		v     *auth.JWTVerifier
		token string
		err   string // "" accepts
	}{
		{"HS256", hs, sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims(nil)), ""},
		{"RS256", rs, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), ""},
		{"RS256, PKCS#1 public key", rsPKCS1, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), ""},
		{"ES256", es, sign(t, jwt.SigningMethodES256, k.ec, claims(nil)), ""},

		{"alg none against HS256", hs, none, `algorithm "none" is not accepted: this node's key takes HS256 only`},
		{"alg none against RS256", rs, none, `algorithm "none" is not accepted: this node's key takes RS256 only`},
		{"alg none against ES256", es, none, `algorithm "none" is not accepted: this node's key takes ES256 only`},
		// Key confusion: an HS256 token whose HMAC key is the verifier's public key.
		{"HS256 with the RSA public key against RS256", rs, sign(t, jwt.SigningMethodHS256, rsaPEM, claims(nil)), `algorithm "HS256" is not accepted: this node's key takes RS256 only`},
		{"HS512 against HS256", hs, sign(t, jwt.SigningMethodHS512, []byte(hsSecret), claims(nil)), `algorithm "HS512" is not accepted: this node's key takes HS256 only`},
		{"RS512 against RS256", rs, sign(t, jwt.SigningMethodRS512, k.rsa, claims(nil)), `algorithm "RS512" is not accepted: this node's key takes RS256 only`},
		{"PS256 against RS256", rs, sign(t, jwt.SigningMethodPS256, k.rsa, claims(nil)), `algorithm "PS256" is not accepted: this node's key takes RS256 only`},
		{"ES256 against RS256", rs, sign(t, jwt.SigningMethodES256, k.ec, claims(nil)), `algorithm "ES256" is not accepted: this node's key takes RS256 only`},
		{"RS256 against ES256", es, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), `algorithm "RS256" is not accepted: this node's key takes ES256 only`},
		{"RS256 against HS256", hs, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), `algorithm "RS256" is not accepted: this node's key takes HS256 only`},

		{"HS256 wrong secret", hs, sign(t, jwt.SigningMethodHS256, []byte(hsSecret+"x"), claims(nil)), "bearer token is invalid: signature does not verify"},
		{"RS256 wrong key", rs, sign(t, jwt.SigningMethodRS256, k.rsaOther, claims(nil)), "bearer token is invalid: signature does not verify"},
		{"ES256 wrong key", es, sign(t, jwt.SigningMethodES256, k.ecOther, claims(nil)), "bearer token is invalid: signature does not verify"},

		{"garbage", hs, "not.a.token", "bearer token is invalid: malformed"},
		{"empty", hs, "", "bearer token is invalid: malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tt.v.Verify(tt.token)
			if tt.err != "" {
				wantUnauthenticated(t, err, tt.err)
				// The message is sent to the caller and logged: never the credential itself.
				if tt.token != "" && strings.Contains(err.Error(), tt.token) {
					t.Fatalf("the error %q quotes the token", err)
				}
				if c != (auth.Caller{}) {
					t.Fatalf("a refused token yielded %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := (auth.Caller{UserID: "tok-user", Clearance: auth.ClearanceUser, Expires: c.Expires}); c != want || c.Expires.IsZero() {
				t.Fatalf("got %+v, want %+v with an expiry", c, want)
			}
		})
	}
}

// TestJWTCrit: a token that names critical header extensions is refused (the verifier implements
// none of them), even when its signature is good.
func TestJWTCrit(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret)})
	for _, crit := range []any{[]string{"b64"}, []string{"exp"}, []string{}} {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(jwt.MapClaims{"role": "admin"}))
		tok.Header["crit"] = crit
		tok.Header["b64"] = false
		s, err := tok.SignedString([]byte(hsSecret))
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(s)
		wantUnauthenticated(t, err, `bearer token is invalid: the token names critical header extensions ("crit")`)
	}
}

func TestJWTClaims(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret)})
	now := time.Now()
	up := func(p int) map[string]any { return map[string]any{"p": p} }
	tests := []struct {
		name  string
		extra jwt.MapClaims
		want  auth.Clearance
		err   string // "" accepts
	}{
		{"plain user", nil, auth.ClearanceUser, ""},
		{"role user", jwt.MapClaims{"role": "user"}, auth.ClearanceUser, ""},
		{"role support", jwt.MapClaims{"role": "support"}, auth.ClearanceSupport, ""},
		{"role admin", jwt.MapClaims{"role": "admin"}, auth.ClearanceAdmin, ""},
		{"role administrator", jwt.MapClaims{"role": "administrator"}, auth.ClearanceAdmin, ""},
		// A token's role is read as issued; ParseClearance's folding is for the keys file only.
		{"role Admin", jwt.MapClaims{"role": "Admin"}, 0, `bearer token: unknown role "Admin" (want exactly user, support, admin or administrator, in lower case)`},
		{"role ADMIN", jwt.MapClaims{"role": "ADMIN"}, 0, `unknown role "ADMIN"`},
		{"role with spaces", jwt.MapClaims{"role": " admin "}, 0, `unknown role " admin "`},
		{"role support with a newline", jwt.MapClaims{"role": "support\n"}, 0, `unknown role "support\n"`},
		{"unknown role", jwt.MapClaims{"role": "root"}, 0, `bearer token: unknown role "root"`},
		{"role internal", jwt.MapClaims{"role": "internal"}, 0, `unknown role "internal"`},
		{"u.p 0", jwt.MapClaims{"u": up(0)}, auth.ClearanceUser, ""},
		{"u.p 1 support", jwt.MapClaims{"u": up(1)}, auth.ClearanceSupport, ""},
		{"u.p 2 admin", jwt.MapClaims{"u": up(2)}, auth.ClearanceAdmin, ""},
		{"u.p 3 admin", jwt.MapClaims{"u": up(3)}, auth.ClearanceAdmin, ""},
		{"u.p 4 user", jwt.MapClaims{"u": up(4)}, auth.ClearanceUser, ""},
		{"u without p", jwt.MapClaims{"u": map[string]any{"n": "Bob"}}, auth.ClearanceUser, ""},
		{"role wins over u.p", jwt.MapClaims{"role": "user", "u": up(2)}, auth.ClearanceUser, ""},
		{"u.p negative", jwt.MapClaims{"u": up(-1)}, 0, "bearer token: u.p must not be negative"},

		{"expired", jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}, 0, "bearer token has expired"},
		{"expired within the leeway", jwt.MapClaims{"exp": now.Add(-5 * time.Second).Unix()}, auth.ClearanceUser, ""},
		{"not yet valid", jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}, 0, "bearer token is not valid yet"},
		{"nbf within the leeway", jwt.MapClaims{"nbf": now.Add(5 * time.Second).Unix()}, auth.ClearanceUser, ""},
		{"issued in the future", jwt.MapClaims{"iat": now.Add(time.Hour).Unix()}, 0, "bearer token is not valid yet"},
		{"no exp", jwt.MapClaims{"exp": nil}, 0, `bearer token is invalid: claim "exp" is required`},
		{"exp null", jwt.MapClaims{"exp": json.RawMessage("null")}, 0, `bearer token is invalid: claim "exp" is required`},
		{"sub a number", jwt.MapClaims{"sub": 42}, 0, `bearer token is invalid: claim "sub" must be a JSON string, not a JSON number`},
		{"role a number", jwt.MapClaims{"role": 2}, 0, `bearer token is invalid: claim "role" must be a JSON string, not a JSON number`},
		{"u.p a string", jwt.MapClaims{"u": map[string]any{"p": "2"}}, 0, `bearer token is invalid: claim "u.p" must be a JSON integer, not a JSON string`},
		{"u a string", jwt.MapClaims{"u": "admin"}, 0, `bearer token is invalid: claim "u" must be a JSON object, not a JSON string`},
		// RFC 7519 §2: a NumericDate is a JSON number. A string holding one is not, though the
		// library alone would read it.
		{"exp not a number", jwt.MapClaims{"exp": "tomorrow"}, 0, `bearer token: claim "exp" must be a JSON number (RFC 7519 NumericDate), not a string`},
		{"exp as a numeric string", jwt.MapClaims{"exp": "9999999999"}, 0, `claim "exp" must be a JSON number (RFC 7519 NumericDate), not a string`},
		{"exp as a boolean", jwt.MapClaims{"exp": true}, 0, `claim "exp" must be a JSON number (RFC 7519 NumericDate), not a boolean`},
		{"exp as an object", jwt.MapClaims{"exp": map[string]any{"n": 1}}, 0, `claim "exp" must be a JSON number (RFC 7519 NumericDate), not an object`},
		{"exp as an array", jwt.MapClaims{"exp": []any{9999999999}}, 0, `claim "exp" must be a JSON number (RFC 7519 NumericDate), not an array`},
		{"nbf as a numeric string", jwt.MapClaims{"nbf": "1"}, 0, `claim "nbf" must be a JSON number (RFC 7519 NumericDate), not a string`},
		{"iat as a numeric string", jwt.MapClaims{"iat": "1"}, 0, `claim "iat" must be a JSON number (RFC 7519 NumericDate), not a string`},
		{"nbf as a boolean", jwt.MapClaims{"nbf": false}, 0, `claim "nbf" must be a JSON number (RFC 7519 NumericDate), not a boolean`},
		{"exp as a fraction", jwt.MapClaims{"exp": float64(now.Add(time.Hour).Unix()) + 0.5}, auth.ClearanceUser, ""},
		{"nbf null is absent", jwt.MapClaims{"nbf": json.RawMessage("null")}, auth.ClearanceUser, ""},
		{"no sub", jwt.MapClaims{"sub": nil}, 0, "bearer token has no subject"},
		{"empty sub", jwt.MapClaims{"sub": ""}, 0, "bearer token has no subject"},
		// Without a configured issuer or audience, whatever the token says is accepted.
		{"any issuer", jwt.MapClaims{"iss": "someone"}, auth.ClearanceUser, ""},
		{"any audience", jwt.MapClaims{"aud": "elsewhere"}, auth.ClearanceUser, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims(tt.extra)))
			if tt.err != "" {
				wantUnauthenticated(t, err, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.UserID != "tok-user" || c.Clearance != tt.want || c.Node || c.From != "" {
				t.Fatalf("got %+v, want user tok-user with clearance %s", c, tt.want)
			}
			// The caller expires when the verifier starts refusing the token: exp plus the
			// default leeway of 30 s.
			exp, _ := claims(tt.extra)["exp"].(int64)
			if exp == 0 {
				exp = now.Add(time.Hour).Unix()
			}
			if want := time.Unix(exp, 0).Add(30 * time.Second); c.Expires.Sub(want).Abs() > time.Second {
				t.Fatalf("expires %s, want %s", c.Expires, want)
			}
		})
	}
}

func TestJWTLeeway(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret), Leeway: time.Hour})
	tok := sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims(jwt.MapClaims{"exp": time.Now().Add(-30 * time.Minute).Unix()}))
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("an hour of leeway refused a token expired 30 minutes ago: %v", err)
	}
	// The caller lasts as long as the verifier accepts the token: the leeway past exp.
	if left := time.Until(c.Expires); left < 29*time.Minute || left > 30*time.Minute+time.Second {
		t.Fatalf("the caller expires in %s, want about 30 minutes (exp 30 minutes ago + an hour of leeway)", left)
	}
}

func TestJWTIssuerAudience(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret), Issuer: "POS", Audience: "example.com"})
	tests := []struct {
		name  string
		extra jwt.MapClaims
		err   string // "" accepts
	}{
		{"both right", jwt.MapClaims{"iss": "POS", "aud": "example.com"}, ""},
		{"audience in a list", jwt.MapClaims{"iss": "POS", "aud": []string{"other.com", "example.com"}}, ""},
		{"wrong issuer", jwt.MapClaims{"iss": "EVIL", "aud": "example.com"}, `bearer token is invalid: claim "iss" is not the issuer this node accepts`},
		{"no issuer", jwt.MapClaims{"aud": "example.com"}, `bearer token is invalid: claim "iss" is required`},
		{"wrong audience", jwt.MapClaims{"iss": "POS", "aud": "evil.com"}, `bearer token is invalid: claim "aud" does not name the audience this node accepts`},
		{"no audience", jwt.MapClaims{"iss": "POS"}, `bearer token is invalid: claim "aud" is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims(tt.extra)))
			if tt.err != "" {
				wantUnauthenticated(t, err, tt.err)
				return
			}
			if err != nil || c.UserID != "tok-user" {
				t.Fatalf("got %+v, %v", c, err)
			}
		})
	}
}

func TestNewJWTVerifierRefusals(t *testing.T) {
	t.Parallel()
	k := mustKeys(t)
	tests := []struct {
		name string
		cfg  auth.JWTConfig
		want string
	}{
		{"neither", auth.JWTConfig{}, "set exactly one"},
		{"both", auth.JWTConfig{Secret: []byte(hsSecret), PublicKeyPEM: publicPEM(t, &k.rsa.PublicKey)}, "set exactly one"},
		{"secret of 31 bytes", auth.JWTConfig{Secret: []byte(hsSecret[:31])}, "at least 32 bytes"},
		{"ES key on P-384", auth.JWTConfig{PublicKeyPEM: publicPEM(t, &k.ec384.PublicKey)}, "ES256 needs a P-256 key"},
		{"not PEM", auth.JWTConfig{PublicKeyPEM: []byte("not a key")}, "neither an RSA nor an ECDSA PEM key"},
		{"a private key", auth.JWTConfig{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{
			Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)})}, "neither an RSA nor an ECDSA PEM key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := auth.NewJWTVerifier(tt.cfg)
			if err == nil {
				t.Fatalf("accepted: %+v", v)
			}
			if !errors.Is(err, auth.ErrBadConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrBadConfig mentioning %q", err, tt.want)
			}
		})
	}
	// 32 bytes is enough.
	newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret)})
}

func TestLoadJWTVerifier(t *testing.T) {
	t.Parallel()
	k := mustKeys(t)
	v, err := auth.LoadJWTVerifier(auth.JWTConfig{}, "")
	if v != nil || err != nil {
		t.Fatalf("neither flag: got %v, %v; want nil, nil", v, err)
	}

	v, err = auth.LoadJWTVerifier(auth.JWTConfig{Secret: []byte(hsSecret)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims(nil))); err != nil || c.UserID != "tok-user" {
		t.Fatalf("secret verifier: %+v, %v", c, err)
	}

	if _, err := auth.LoadJWTVerifier(auth.JWTConfig{Secret: []byte("short")}, ""); !errors.Is(err, auth.ErrBadConfig) {
		t.Fatalf("short secret: %v", err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "jwt.pem")
	if err := os.WriteFile(path, publicPEM(t, &k.ec.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err = auth.LoadJWTVerifier(auth.JWTConfig{}, path)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(sign(t, jwt.SigningMethodES256, k.ec, claims(nil))); err != nil || c.UserID != "tok-user" {
		t.Fatalf("public key verifier: %+v, %v", c, err)
	}

	// The issuer and audience of the flags reach the verifier, whichever key it has.
	v, err = auth.LoadJWTVerifier(auth.JWTConfig{Issuer: "POS", Audience: "engine.example.com"}, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodES256, k.ec, claims(jwt.MapClaims{"iss": "POS"}))); err == nil {
		t.Fatal("a token without the audience passed a verifier loaded with --jwt-audience")
	}
	if c, err := v.Verify(sign(t, jwt.SigningMethodES256, k.ec, claims(jwt.MapClaims{"iss": "POS", "aud": "engine.example.com"}))); err != nil || c.UserID != "tok-user" {
		t.Fatalf("issuer and audience right: %+v, %v", c, err)
	}

	if _, err := auth.LoadJWTVerifier(auth.JWTConfig{Secret: []byte(hsSecret)}, path); !errors.Is(err, auth.ErrBadConfig) {
		t.Fatalf("both flags: %v, want ErrBadConfig", err)
	}
	if _, err := auth.LoadJWTVerifier(auth.JWTConfig{}, filepath.Join(dir, "missing.pem")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing key file: %v", err)
	}
}

// BenchmarkJWTVerify is the cost of authenticating a request by an HS256 bearer token.
func BenchmarkJWTVerify(b *testing.B) {
	v, err := auth.NewJWTVerifier(auth.JWTConfig{Secret: []byte(hsSecret)})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(jwt.MapClaims{"u": map[string]any{"p": 1}})).SignedString([]byte(hsSecret))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
