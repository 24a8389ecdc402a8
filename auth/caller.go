package auth

import (
	"context"
	"fmt"
	"strings"

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

// Caller is the identity behind a request or a call.
type Caller struct {
	UserID    string
	Clearance Clearance
	// Node marks a request from another node of the cluster (on the cluster port); UserID and
	// Clearance are then those of the caller it acts for.
	Node bool
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries. A context without one yields a user-level caller
// with no id, so a forgotten authentication step fails closed.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
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
// triggers) need support clearance to bind.
func ProtectedModule(name string) bool { return strings.HasPrefix(name, "_") }
