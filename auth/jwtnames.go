package auth

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/placeos-go/engine/jsonscan"
)

// Claim names are read exactly. encoding/json matches an object's names to a struct's fields
// ignoring case and lets a repeated name's last value win, so {"role":"user","ROLE":"admin"}
// would read as admin here while a gateway in front of the engine, reading the first or the
// exact-case claim, sees a user: a token means one thing to every reader or is refused. Hence a
// claims object (and PlaceOS's "u") with a name twice, or with a name that is one of ours in
// another case, is refused before the decoder sees it.

// claimNames are the names tokenClaims reads; flagNames those of its "u" object.
var (
	claimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "role", "u"}
	flagNames  = []string{"p"}
)

// claimNameError refuses a claims object whose names do not read one way only.
type claimNameError struct{ msg string }

func (e *claimNameError) Error() string { return e.msg }

// checkNames refuses a JSON object (b, valid JSON: the decoder passes one whole value) holding a
// name twice or a name of ours in another case; in says where ("" for the claims themselves). A
// value that is not an object is left to the decoder.
func checkNames(b []byte, in string, ours []string) error {
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var stack [12]jsonscan.Member
	members := jsonscan.Members(b, stack[:0])
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		name := m.Name()
		if seen[name] {
			return &claimNameError{fmt.Sprintf("claim %q appears twice", in+name)}
		}
		seen[name] = true
		for _, o := range ours {
			if name != o && strings.EqualFold(name, o) {
				return &claimNameError{fmt.Sprintf("claim %q is not %q: claim names are read in their exact case", in+name, in+o)}
			}
		}
	}
	return nil
}

func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	if err := checkNames(b, "", claimNames); err != nil {
		return err
	}
	type plain tokenClaims // without this method
	return json.Unmarshal(b, (*plain)(c))
}

// tokenFlags is PlaceOS's "u" claim: its "p" holds the clearance flags.
type tokenFlags struct {
	P int `json:"p"`
}

func (f *tokenFlags) UnmarshalJSON(b []byte) error {
	if err := checkNames(b, "u.", flagNames); err != nil {
		return err
	}
	type plain tokenFlags
	return json.Unmarshal(b, (*plain)(f))
}
