package auth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/plugin/metadata"
)

var allClearances = []auth.Clearance{auth.ClearanceUser, auth.ClearanceSupport, auth.ClearanceAdmin, auth.ClearanceInternal}

// TestAllowed is the whole clearance rule (docs/protocol.md §8): every level the driver may list a
// function under, against every clearance.
func TestAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level string
		// allowed for user, support, admin, internal
		want [4]bool
	}{
		{"", [4]bool{true, true, true, true}},
		{metadata.LevelSupport, [4]bool{false, true, true, true}},
		{metadata.LevelAdministrator, [4]bool{false, false, true, true}},
		// Any other level is closed to everyone but a driver's own calls, admins included.
		{"admin", [4]bool{false, false, false, true}},
		{"Support", [4]bool{false, false, false, true}},
		{"Administrator", [4]bool{false, false, false, true}},
		{"user", [4]bool{false, false, false, true}},
		{"internal", [4]bool{false, false, false, true}},
		{"nobody", [4]bool{false, false, false, true}},
		{" support", [4]bool{false, false, false, true}},
	}
	if metadata.LevelSupport != "support" || metadata.LevelAdministrator != "administrator" {
		t.Fatalf("the metadata levels changed: %q, %q", metadata.LevelSupport, metadata.LevelAdministrator)
	}
	for _, tt := range tests {
		for i, c := range allClearances {
			t.Run(fmt.Sprintf("%q/%s", tt.level, c), func(t *testing.T) {
				t.Parallel()
				if got := auth.Allowed(tt.level, c); got != tt.want[i] {
					t.Fatalf("Allowed(%q, %s) = %v, want %v", tt.level, c, got, tt.want[i])
				}
			})
		}
	}
	// A clearance outside the enum (a bug elsewhere) is not a back door to unknown levels.
	for _, c := range []auth.Clearance{-1, 42} {
		if auth.Allowed("nobody", c) {
			t.Errorf("Allowed(nobody, %d) = true", c)
		}
	}
	if auth.Allowed(metadata.LevelSupport, -1) {
		t.Error("a negative clearance reached a support function")
	}
}

func TestParseClearance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want auth.Clearance
		ok   bool
	}{
		{"", auth.ClearanceUser, true},
		{"user", auth.ClearanceUser, true},
		{"USER", auth.ClearanceUser, true},
		{"support", auth.ClearanceSupport, true},
		{" Support\t", auth.ClearanceSupport, true},
		{"admin", auth.ClearanceAdmin, true},
		{"administrator", auth.ClearanceAdmin, true},
		{"Administrator", auth.ClearanceAdmin, true},
		{"internal", auth.ClearanceUser, false},
		{"Internal", auth.ClearanceUser, false},
		{"root", auth.ClearanceUser, false},
		{"superuser", auth.ClearanceUser, false},
		{"unknown", auth.ClearanceUser, false},
		{"2", auth.ClearanceUser, false},
	}
	for _, tt := range tests {
		c, err := auth.ParseClearance(tt.in)
		if (err == nil) != tt.ok || c != tt.want {
			t.Errorf("ParseClearance(%q) = %s, %v; want %s, ok=%v", tt.in, c, err, tt.want, tt.ok)
		}
		// No role name, however spelt, yields the internal clearance.
		if c == auth.ClearanceInternal {
			t.Errorf("ParseClearance(%q) yielded ClearanceInternal", tt.in)
		}
	}
	// Every clearance but internal reads back from its own name.
	for _, c := range allClearances {
		got, err := auth.ParseClearance(c.String())
		if c == auth.ClearanceInternal {
			if err == nil {
				t.Errorf("ParseClearance(%q) = %s, want an error", c, got)
			}
			continue
		}
		if err != nil || got != c {
			t.Errorf("ParseClearance(%q) = %s, %v", c, got, err)
		}
	}
}

func TestClearanceString(t *testing.T) {
	t.Parallel()
	want := map[auth.Clearance]string{
		auth.ClearanceUser: "user", auth.ClearanceSupport: "support", auth.ClearanceAdmin: "admin",
		auth.ClearanceInternal: "internal", -1: "unknown", 4: "unknown",
	}
	for c, s := range want {
		if c.String() != s {
			t.Errorf("Clearance(%d).String() = %q, want %q", int(c), c.String(), s)
		}
	}
	if !(auth.ClearanceUser < auth.ClearanceSupport && auth.ClearanceSupport < auth.ClearanceAdmin && auth.ClearanceAdmin < auth.ClearanceInternal) {
		t.Fatal("clearances are not ordered lowest first")
	}
}

func TestCallerContext(t *testing.T) {
	t.Parallel()
	// A context without a caller fails closed: a user with no id, not a node.
	if c := auth.CallerFrom(context.Background()); c != (auth.Caller{}) || c.Clearance != auth.ClearanceUser || c.Node {
		t.Fatalf("empty context: %+v", c)
	}
	want := auth.Caller{UserID: "a1", Clearance: auth.ClearanceAdmin, Node: true}
	ctx := auth.WithCaller(context.Background(), want)
	if got := auth.CallerFrom(ctx); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	inner := auth.WithCaller(ctx, auth.Caller{UserID: "u1"})
	if got := auth.CallerFrom(inner); got != (auth.Caller{UserID: "u1"}) {
		t.Fatalf("inner caller: %+v", got)
	}
	if got := auth.CallerFrom(ctx); got != want {
		t.Fatalf("the outer context changed: %+v", got)
	}
}

func TestProtectedModule(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"_Logic": true, "_": true, "__Trigger": true,
		"Display": false, "": false, "Logic_": false, " _Logic": false,
	}
	for name, want := range tests {
		if got := auth.ProtectedModule(name); got != want {
			t.Errorf("ProtectedModule(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestModuleAllowed: a protected (_-prefixed) module needs support or admin, or is a driver's own
// call; other modules are open to everyone (docs/protocol.md §8.3).
func TestModuleAllowed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		want [4]bool // user, support, admin, internal
	}{
		{"_Logic", [4]bool{false, true, true, true}},
		{"__Trigger", [4]bool{false, true, true, true}},
		{"_", [4]bool{false, true, true, true}},
		{"Display", [4]bool{true, true, true, true}},
		{"Logic_", [4]bool{true, true, true, true}},
		{"", [4]bool{true, true, true, true}},
	} {
		for i, c := range allClearances {
			if got := auth.ModuleAllowed(tt.name, c); got != tt.want[i] {
				t.Errorf("ModuleAllowed(%q, %s) = %v, want %v", tt.name, c, got, tt.want[i])
			}
		}
	}
	// A clearance outside the enum (a bug elsewhere) does not open a protected module.
	for _, c := range []auth.Clearance{-1, 42} {
		if auth.ModuleAllowed("_Logic", c) {
			t.Errorf("ModuleAllowed(_Logic, %d) = true", c)
		}
	}
}

// TestCallerExpiredAt: a credential stops at Expires, not a moment later; none that never
// expires ever does.
func TestCallerExpiredAt(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := auth.Caller{UserID: "u", Expires: at}
	if c.ExpiredAt(at.Add(-time.Nanosecond)) || !c.ExpiredAt(at) || !c.ExpiredAt(at.Add(time.Hour)) {
		t.Fatal("a caller expiring at a given moment is not expired before it and expired from it on")
	}
	if (auth.Caller{UserID: "key"}).ExpiredAt(time.Now().Add(1000 * time.Hour)) {
		t.Fatal("a caller without an expiry expired")
	}
}
