package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
)

// signRaw signs payload, the claims as JSON text exactly as given (a map cannot hold a name
// twice), with HS256.
func signRaw(payload string) string {
	enc := base64.RawURLEncoding
	s := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(hsSecret))
	mac.Write([]byte(s))
	return s + "." + enc.EncodeToString(mac.Sum(nil))
}

// A claim's name is read exactly and once: a token whose claims could read one way here and
// another way to a gateway in front of the engine (one reading the first or the exact-case name)
// is refused, however well signed.
func TestJWTClaimNamesAreExact(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.JWTConfig{Secret: []byte(hsSecret)})
	exp := time.Now().Add(time.Hour).Unix()
	base := fmt.Sprintf(`"sub":"alice","exp":%d`, exp)
	tests := []struct {
		name, claims, err string // err "": accepted
	}{
		{"plain", base + `,"role":"user"`, ""},
		{"a name of another issuer's, in any case", base + `,"Email":"a@b","EMAIL":"c@d"`, ""},
		{"ROLE beside role", base + `,"role":"user","ROLE":"admin"`, `claim "ROLE" is not "role": claim names are read in their exact case`},
		{"Role alone", base + `,"Role":"admin"`, `claim "Role" is not "role"`},
		{"role twice", base + `,"role":"user","role":"admin"`, `claim "role" appears twice`},
		{"sub twice", base + `,"sub":"root"`, `claim "sub" appears twice`},
		{"U beside u", base + `,"u":{"p":0},"U":{"p":2}`, `claim "U" is not "u"`},
		{"u.P", base + `,"u":{"P":2}`, `claim "u.P" is not "u.p"`},
		{"u.p twice", base + `,"u":{"p":0,"p":2}`, `claim "u.p" appears twice`},
		{"EXP", fmt.Sprintf(`"sub":"alice","EXP":%d`, exp), `claim "EXP" is not "exp"`},
		// encoding/json folds Unicode too: U+017F (long s) matches an s, U+212A (Kelvin) a k.
		{"ſub", base + `,"ſub":"root"`, `claim "ſub" is not "sub"`},
		{"escaped name", base + `,"r\u006fle":"admin","role":"user"`, `claim "role" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := v.Verify(signRaw("{" + tt.claims + "}"))
			if tt.err != "" {
				wantUnauthenticated(t, err, "bearer token is invalid: "+tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.UserID != "alice" || c.Clearance != auth.ClearanceUser {
				t.Fatalf("got %+v, want alice as a user", c)
			}
		})
	}
}
