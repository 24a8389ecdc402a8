package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/placeos-go/engine/plugin/metadata"
)

// Clearance is what a caller may do with driver functions (docs/protocol.md §8).
type Clearance int

// Clearance levels, lowest first.
const (
	ClearanceUser Clearance = iota
	ClearanceSupport
	ClearanceAdmin
	// ClearanceInternal is a driver acting on its own (a schedule, a reaction to a status), not
	// for any user. Function security does not apply to it. No credential ever carries it.
	ClearanceInternal
)

func (c Clearance) String() string {
	switch c {
	case ClearanceUser:
		return "user"
	case ClearanceSupport:
		return "support"
	case ClearanceAdmin:
		return "admin"
	case ClearanceInternal:
		return "internal"
	}
	return "unknown"
}

// ParseClearance reads a role name as an operator may type it: user, support, admin (or
// administrator), in any case, spaces around it ignored; empty is user.
func ParseClearance(s string) (Clearance, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	if name == "" {
		return ClearanceUser, nil
	}
	if c, ok := clearanceNamed(name); ok {
		return c, nil
	}
	return ClearanceUser, fmt.Errorf("unknown role %q (want user, support, admin or administrator)", s)
}

// clearanceNamed is the clearance a role name stands for, spelt exactly.
func clearanceNamed(name string) (Clearance, bool) {
	switch name {
	case "user":
		return ClearanceUser, true
	case "support":
		return ClearanceSupport, true
	case "admin", "administrator":
		return ClearanceAdmin, true
	}
	return ClearanceUser, false
}

// Source is where the credential that authenticated a request travelled. It matters to browser
// safety (docs/protocol.md §8.5): a browser attaches a cookie to every request to the engine,
// those another site's page makes included; a header only when a script of the page's own origin
// sets it; a query parameter is in the URL, which a foreign page can write (a form's action) but
// only if it knows the credential.
type Source string

// The sources of a credential. The zero value is no credential at all (an anonymous caller on
// an open route, or a call that did not come from a request).
const (
	FromHeader Source = "header" // X-API-Key or Authorization
	FromQuery  Source = "query"  // the api-key or bearer_token query parameter
	FromCookie Source = "cookie" // the api-key or bearer_token cookie
	// FromNowhere is --auth none: no credential is asked for, so whoever reaches the (loopback)
	// listener is an admin — every page a browser on that host loads included.
	FromNowhere Source = "none"
)

// Caller is the identity behind a request or a call.
type Caller struct {
	UserID    string
	Clearance Clearance
	// Node marks a request from another node of the cluster (on the cluster port); UserID and
	// Clearance are then those of the caller it acts for.
	Node bool
	// From is where the request's credential travelled; the HTTP server's origin rule reads it.
	From Source
	// Expires is the moment the credential stops being accepted: a bearer token's exp plus the
	// verifier's leeway, so that a session it opened ends exactly when a fresh request with the
	// same token would be refused. Zero for credentials that do not expire (API keys, --auth
	// none, node callers: a forwarded call is bounded by its deadline instead).
	Expires time.Time
	// apiKey is the digest of the API key that authenticated the caller (nil for any other
	// credential): Authenticator.Revoked looks it up in the keys in force now.
	apiKey *[32]byte
}

// ExpiredAt reports whether the credential has stopped being accepted at now.
func (c Caller) ExpiredAt(now time.Time) bool { return !c.Expires.IsZero() && !now.Before(c.Expires) }

type callerKey struct{}

// CallerKey is the context key CallerFrom reads, for a Context type of its own that carries the
// caller among other values in one allocation (the HTTP server's per request): its Value answers
// CallerKey with a *Caller, which it must not change afterwards.
var CallerKey any = callerKey{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries. A context without one yields a user-level caller
// with no id, so a forgotten authentication step fails closed.
func CallerFrom(ctx context.Context) Caller {
	switch c := ctx.Value(callerKey{}).(type) {
	case Caller:
		return c
	case *Caller:
		if c != nil {
			return *c
		}
	}
	return Caller{}
}

// Allowed applies docs/protocol.md §8 to one function: level is the security level the driver
// lists it under ("" when unlisted). Unlisted functions are open, "support" needs support,
// "administrator" needs admin, and any other level is closed to everyone, admins included (but
// not to a driver's internal calls).
func Allowed(level string, c Clearance) bool {
	if c == ClearanceInternal {
		return true
	}
	switch level {
	case "":
		return true
	case metadata.LevelSupport:
		return c >= ClearanceSupport
	case metadata.LevelAdministrator:
		return c >= ClearanceAdmin
	}
	return false
}

// ProtectedModule is PlaceOS's rule that modules named with a leading "_" (internal logic,
// triggers) are protected: see ModuleAllowed.
func ProtectedModule(name string) bool { return strings.HasPrefix(name, "_") }

// ModuleAllowed is the one rule for reaching a module by its name (docs/protocol.md §8.3): a
// protected module's statuses, functions and executes need support or admin clearance — on
// REST, the WebSocket and driver-to-driver calls alike — and a driver's own calls (internal)
// pass. Any other module is open to every caller. name is the module's resolved name: the name
// its system gives it, or custom_name else the driver's module_name.
func ModuleAllowed(name string, c Clearance) bool {
	if !ProtectedModule(name) {
		return true
	}
	switch c {
	case ClearanceSupport, ClearanceAdmin, ClearanceInternal:
		return true
	}
	return false // user, and any value outside the enum: fail closed
}
