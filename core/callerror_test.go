package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin/proto"
)

const guessedPIN = "482913"

// TestCallErrorsShownOnlyToReaders: an execute's error of a module with protected values shows
// its driver's words only to a caller who may read every one of them; any other caller gets the
// same answer for a right guess and a wrong one, however the driver words or transforms the input
// it refuses (echoed, upper-cased, read as a number: "+482913" printed 482913, the red team's way
// past the last rule), with the error's class, code and kind kept. A module without protected
// values keeps its words for every caller.
func TestCallErrorsShownOnlyToReaders(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	tc := sealedCore(t, k, `
drivers: [{id: drv-d, module_name: Gate, role: device, binary: /bin/d}]
modules:
  - {id: m-admin, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {pin: "`+guessedPIN+`"}}]}
  - {id: m-support, driver_id: drv-d, running: true, protected_settings: [{level: support, settings: {pin: "`+guessedPIN+`"}}]}
  - {id: m-never, driver_id: drv-d, running: true, protected_settings: [{level: never_displayed, settings: {pin: "`+guessedPIN+`"}}]}
  - {id: m-plain, driver_id: drv-d, running: true, settings: {pin: "`+guessedPIN+`"}}
`, func(sup *fakeSup) {
		sup.meta = `{"functions": {"echo": {"input": []}, "shout": {"input": []}, "number": {"input": []}, "unlock": {"door": []}}}`
		sup.exec = guessedDriver
	})
	ctx := t.Context()
	answer := func(mod string, c auth.Clearance, fn, args string) string {
		t.Helper()
		_, err := tc.Execute(ctx, call.Request{Target: call.Target{ModuleID: mod}, Function: fn, Args: json.RawMessage(args),
			Caller: auth.Caller{UserID: "u", Clearance: c}})
		var de *errkind.DriverError
		if !errors.As(err, &de) || de.Class != "ArgumentError" || de.Code != 400 {
			t.Fatalf("%s %s%s: %v (%#v), want the driver's ArgumentError 400", mod, fn, args, err, de)
		}
		return de.Message + " | " + strings.Join(de.Backtrace, " | ")
	}
	hidden := hiddenMessage + " | "
	for _, g := range []struct{ fn, right, wrong string }{
		{"echo", `["482913"]`, `["111111"]`},
		{"shout", `["482913x"]`, `["111111x"]`},
		{"number", `["+482913"]`, `["+111111"]`},
		{"number", `["1111114829131111111"]`, `["1111111111111111111"]`},
		{"unlock", `["` + strings.Repeat("0123456789", 1000) + `"]`, `["9"]`},
	} {
		for _, c := range []struct {
			mod   string
			clear auth.Clearance
		}{{"m-admin", auth.ClearanceUser}, {"m-admin", auth.ClearanceSupport}, {"m-support", auth.ClearanceUser}, {"m-never", auth.ClearanceSupport}} {
			right, wrong := answer(c.mod, c.clear, g.fn, g.right), answer(c.mod, c.clear, g.fn, g.wrong)
			if right != hidden || wrong != hidden {
				t.Errorf("%s as %s, %s: right guess %.120q, wrong %.120q; want both %q", c.mod, c.clear, g.fn, right, wrong, hidden)
			}
		}
	}
	// Callers who may read every protected value (never_displayed counting as admin's) get the
	// driver's words, the values hidden as everywhere.
	for _, c := range []struct {
		mod   string
		clear auth.Clearance
	}{{"m-admin", auth.ClearanceAdmin}, {"m-admin", auth.ClearanceInternal}, {"m-support", auth.ClearanceSupport}, {"m-never", auth.ClearanceAdmin}, {"m-plain", auth.ClearanceUser}} {
		if got, want := answer(c.mod, c.clear, "echo", `["111111"]`), "input 111111 is not one of [hdmi1 hdmi2] | at echo"; got != want {
			t.Errorf("%s as %s: %q, want the driver's words %q", c.mod, c.clear, got, want)
		}
		if c.mod != "m-plain" {
			if got, want := answer(c.mod, c.clear, "unlock", `["9"]`), `controller answered E13 to "W[redacted]*9LOCK" | at unlock`; got != want {
				t.Errorf("%s as %s: %q, want the driver's words with the value hidden %q", c.mod, c.clear, got, want)
			}
		}
	}

	// A failure of the call outside the driver's answer: its words hidden alike, its kind kept.
	tc.sup.mu.Lock()
	tc.sup.exec = func(_ context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
		return nil, errkind.Wrap(errkind.Unavailable, nil, "driver stopped on %s", r.ArgsJson)
	}
	tc.sup.mu.Unlock()
	_, err := tc.Execute(ctx, call.Request{Target: call.Target{ModuleID: "m-admin"}, Function: "echo", Args: json.RawMessage(`["1234"]`),
		Caller: auth.Caller{UserID: "u", Clearance: auth.ClearanceUser}})
	if err == nil || err.Error() != hiddenMessage || !errors.Is(err, errkind.Unavailable) {
		t.Errorf("a supervisor failure quoting the arguments, to a user: %v", err)
	}
}

// guessedDriver refuses every call as careless drivers word it: echo quotes its input, shout
// upper-cases it, number reads it as a number first (extron's strconv.Atoi), unlock quotes the
// device command holding the PIN.
func guessedDriver(_ context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
	var args []string
	_ = json.Unmarshal(r.ArgsJson, &args)
	in := args[0]
	var msg string
	switch r.Function {
	case "echo":
		msg = fmt.Sprintf("input %s is not one of [hdmi1 hdmi2]", in)
	case "shout":
		msg = strings.ToUpper("unknown command " + in)
	case "number":
		n, _ := strconv.Atoi(in)
		msg = fmt.Sprintf("output 0 of input %d is not an output number", n)
	default:
		msg = fmt.Sprintf("controller answered E13 to %q", "W"+guessedPIN+"*9LOCK")
	}
	return &proto.ExecResponse{Code: 400, Error: &proto.ExecError{Class: "ArgumentError", Message: msg, Backtrace: []string{"at " + r.Function}}}, nil
}
