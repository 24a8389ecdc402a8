package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin/proto"
)

const (
	oraclePIN      = "482913"
	oraclePassword = "Proj3ctor!"
)

// TestScrubIsNoOracle: a user's call of a module with protected values gets, for a right guess
// of a protected value and for a wrong one, the same answer — whether the driver echoes the
// input it refuses (as sent, with a suffix, as a number Go prints, as a key, upper-cased) or
// quotes the secret by itself next to text the caller can predict; however many candidates one
// call carries, no answer holds a protected value; a line that quotes neither is kept; and a
// module without protected values keeps its driver's words as they are.
func TestScrubIsNoOracle(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	tc := sealedCore(t, k, `
drivers: [{id: drv-d, module_name: Gate, role: device, binary: /bin/d}]
modules:
  - {id: m1, driver_id: drv-d, running: true, protected_settings: [{level: admin, settings: {pin: "`+oraclePIN+`", password: "`+oraclePassword+`"}}]}
  - {id: plain, driver_id: drv-d, running: true, settings: {pin: "`+oraclePIN+`"}}
`, func(sup *fakeSup) {
		sup.meta = `{"functions": {"switch_to": {"input": [], "note": ["any", null]}, "shout": {"input": []}, "unlock": {"door": [], "note": ["string", ""]}, "login": {"note": ["string", ""]}}}`
		sup.exec = oracleDriver
	})
	ctx := t.Context()
	user := auth.Caller{UserID: "u", Clearance: auth.ClearanceUser}
	answer := func(mod, fn, args string) string {
		t.Helper()
		_, err := tc.Execute(ctx, call.Request{Target: call.Target{ModuleID: mod}, Function: fn, Args: json.RawMessage(args), Caller: user})
		var de *errkind.DriverError
		if !errors.As(err, &de) {
			t.Fatalf("%s%.200s: %v, want the driver's error", fn, args, err)
		}
		return de.Message + " | " + strings.Join(de.Backtrace, " | ")
	}
	every := testutil.DeBruijnDigits(6) // every 6-digit PIN in 1,000,005 characters
	var escaped []string                // longer than "retry in 5 s", shorter than the line of the input
	for i := range maxEscapedArgs + 1 {
		escaped = append(escaped, fmt.Sprintf("x&%018d", i))
	}
	manyJSON, _ := json.Marshal(escaped)
	many := string(manyJSON)
	for _, c := range []struct {
		name, fn, right, wrong string
		want                   string // the answer to both
	}{
		{"echo", "switch_to", `["482913"]`, `["111111"]`, "[redacted]\nretry in 5 s | "},
		{"echo, JSON-escaped", "switch_to", `["\u0034\u0038\u0032913"]`, `["\u0031\u0031\u0031111"]`, "[redacted]\nretry in 5 s | "},
		{"echo with a suffix", "switch_to", `["482913x"]`, `["111111x"]`, "[redacted]\nretry in 5 s | "},
		{"echo in a list", "switch_to", `["111111 482913 222222"]`, `["111111 333333 222222"]`, "[redacted]\nretry in 5 s | "},
		{"a number Go prints", "switch_to", `[4.82913e5]`, `[1.11111e5]`, "[redacted]\nretry in 5 s | "},
		{"a key", "switch_to", `[{"482913": 1}]`, `[{"111111": 1}]`, "[redacted]\nretry in 5 s | "},
		{"upper-cased echo", "shout", `["proj3ctor!"]`, `["proj3ctor?"]`, "[redacted] | "},
		{"every PIN, a driver quoting the PIN", "unlock", `{"door": "` + every + `", "door": "9"}`, `{"door": "9"}`, "[redacted] | "},
		{"every PIN in a note", "unlock", `["9", "` + every + `"]`, `["9"]`, "[redacted] | "},
		{"a guess with the driver's text after it", "unlock", `["9", "13*9lock"]`, `["9", "46*9lock"]`, "[redacted] | "},
		{"a guess with the driver's text around it", "unlock", `["9", "w482913*9lock"]`, `["9", "w111111*9lock"]`, "[redacted] | "},
		{"a guess with the driver's text before it", "login", `["for proj3ctor!"]`, `["for proj3ctor?"]`, "[redacted]\nretry in 5 s | [redacted] | main"},
		{"a line that quotes nothing", "switch_to", `["hdm"]`, `["hdm"]`, "input hdm is not one of [hdmi1 hdmi2]\nretry in 5 s | "},
		// More candidates with other forms than are sought: every line hidden, also the one
		// that quotes neither, however many lines quote a secret.
		{"many escaped candidates", "switch_to", `["482913", ` + many + `]`, `["111111", ` + many + `]`, "[redacted]\n[redacted] | "},
	} {
		right, wrong := answer("m1", c.fn, c.right), answer("m1", c.fn, c.wrong)
		if right != wrong || right != c.want {
			t.Errorf("%s: a right guess is answered %.200q, a wrong one %.200q; want both %q", c.name, right, wrong, c.want)
		}
		if strings.Contains(strings.ToLower(right), "482913") || strings.Contains(strings.ToLower(right), "proj3ctor") {
			t.Errorf("%s: the answer shows a protected value: %.200q", c.name, right)
		}
	}
	if got := answer("plain", "switch_to", `["482913"]`); got != "input 482913 is not one of [hdmi1 hdmi2]\nretry in 5 s | " {
		t.Errorf("a module without protected values: %q, want its driver's words", got)
	}

	// A failure of the call outside the driver's answer: the same lines hidden, its kind kept.
	tc.sup.mu.Lock()
	tc.sup.exec = func(_ context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
		return nil, errkind.Wrap(errkind.Unavailable, nil, "driver stopped on %s\nwhile unlocking", r.ArgsJson)
	}
	tc.sup.mu.Unlock()
	_, err := tc.Execute(ctx, call.Request{Target: call.Target{ModuleID: "m1"}, Function: "unlock", Args: json.RawMessage(`["1234"]`), Caller: user})
	if err == nil || err.Error() != "[redacted]\nwhile unlocking" || !errors.Is(err, errkind.Unavailable) {
		t.Errorf("a supervisor failure quoting the arguments: %v", err)
	}
}

// oracleDriver answers every call with an error, as careless drivers word them: switch_to
// quotes the input it refuses, shout upper-cases it, unlock quotes the device command holding
// the PIN (extron-style), login quotes the password.
func oracleDriver(_ context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
	var named map[string]any
	var positional []any
	if json.Unmarshal(r.ArgsJson, &positional) != nil {
		_ = json.Unmarshal(r.ArgsJson, &named) // a key given twice: the last value, as drivers bind
		positional = []any{named["door"]}
	}
	first := positional[0]
	refuse := func(msg string, backtrace ...string) (*proto.ExecResponse, error) {
		return &proto.ExecResponse{Code: 400, Error: &proto.ExecError{Class: "ArgumentError", Message: msg, Backtrace: backtrace}}, nil
	}
	switch r.Function {
	case "switch_to":
		return refuse(fmt.Sprintf("input %v is not one of [hdmi1 hdmi2]\nretry in 5 s", first))
	case "shout":
		return refuse(strings.ToUpper(fmt.Sprintf("unknown command %v", first)))
	case "unlock":
		return refuse(fmt.Sprintf("controller answered E13 to %q", fmt.Sprintf("W%s*%vLOCK", oraclePIN, first)))
	default:
		return refuse("login refused for "+oraclePassword+"\nretry in 5 s", "login("+oraclePassword+")", "main")
	}
}
