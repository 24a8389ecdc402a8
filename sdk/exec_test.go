package sdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

func TestExecBinding(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, newTester)
	h.Start(sdktest.Module{})
	tests := []struct {
		name, fn, args string
		wantCode       int
		wantValue      string
		wantClass      string
		wantMsg        string
	}{
		{"positional", "add", `[1, 5]`, 200, `6`, "", ""},
		{"positional default", "add", `[1]`, 200, `3`, "", ""},
		{"named", "add", `{"b": 10, "a": 1}`, 200, `11`, "", ""},
		{"named default", "add", `{"a": 4}`, 200, `6`, "", ""},
		{"missing", "add", `[]`, 400, "", "BadRequest", "missing argument 'a' for 'add'"},
		{"too many", "add", `[1,2,3]`, 400, "", "BadRequest", "wrong number of arguments for 'add' (given 3, expected 2)"},
		{"wrong type", "add", `["x"]`, 400, "", "BadRequest", "argument 'a' of 'add': cannot use \"x\" as int"},
		{"float for int", "add", `[1.5]`, 400, "", "BadRequest", "argument 'a' of 'add'"},
		{"null for int", "add", `[null]`, 400, "", "BadRequest", "argument 'a' of 'add' must not be null"},
		{"unknown named", "add", `{"a":1,"c":2}`, 400, "", "BadRequest", "unknown argument 'c' for 'add'"},
		{"not json", "add", `[1,`, 400, "", "BadRequest", "arguments for 'add': unexpected end of JSON input at offset 3"},
		{"cut-off literal", "add", `[tru`, 400, "", "BadRequest", "arguments for 'add': unexpected end of JSON input at offset 4"},
		{"scalar", "add", `5`, 400, "", "BadRequest", "must be a JSON array or object"},
		{"unknown function", "nope", `[]`, 400, "", "BadRequest", "unknown function: 'nope'"},
		{"unknown function hint", "Add", `[1]`, 400, "", "BadRequest", "unknown function: 'Add' on tester (did you mean add? function names are snake_case; the module has 13 functions)"},
		{"snake field name", "echo", `{"text": "hi"}`, 200, `"hi"`, "", ""},
		{"no result", "nothing", ``, 200, `null`, "", ""},
		{"empty object", "nothing", `{}`, 200, `null`, "", ""},
		{"args to no-arg function", "nothing", `[1]`, 400, "", "BadRequest", "given 1, expected 0"},
		{"panic", "boom", `[]`, 500, "", "Panic", "kaboom"},
		{"coded error", "fail", `[]`, 409, "", "Error", "busy warming up"},
		{"plain error", "fail_plain", `[]`, 500, "", "Error", "plain failure"},
		{"below minimum", "limits", `[-1]`, 400, "", "BadRequest", "-1 is below the minimum 0"},
		{"above maximum", "limits", `[11]`, 400, "", "BadRequest", "11 is above the maximum 10"},
		{"enum default", "limits", `[3]`, 200, `"slow"`, "", ""},
		{"enum ok", "limits", `[3, "fast"]`, 200, `"fast"`, "", ""},
		{"enum bad", "limits", `[3, "medium"]`, 400, "", "BadRequest", "medium is not one of"},
		{"nullable", "maybe", `[null]`, 200, `null`, "", ""},
		{"nullable set", "maybe", `[7]`, 200, `7`, "", ""},
		{"context values", "whoami", `[]`, 200, `["user-test","req-test"]`, "", ""},
		{"hook not exposed", "on_load", `[]`, 400, "", "BadRequest", "unknown function"},
		{"base not exposed", "set", `[]`, 400, "", "BadRequest", "unknown function"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.ExecRaw(tc.fn, tc.args)
			if r.Code != tc.wantCode {
				t.Fatalf("code: got %s, want %d", r, tc.wantCode)
			}
			if tc.wantClass == "" {
				if r.Err != nil || string(r.Value) != tc.wantValue {
					t.Fatalf("got %s, want value %s", r, tc.wantValue)
				}
				return
			}
			if r.Err == nil || r.Class() != tc.wantClass || !strings.Contains(r.Message(), tc.wantMsg) {
				t.Fatalf("got %s, want %s containing %q", r, tc.wantClass, tc.wantMsg)
			}
		})
	}
}

func TestPanicKeepsServingWithBacktrace(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, newTester)
	h.Start(sdktest.Module{})
	r := h.Exec("boom")
	if r.Err == nil || r.Class() != "Panic" {
		t.Fatalf("got %s", r)
	}
	if !strings.Contains(strings.Join(r.Backtrace(), "\n"), "Boom") {
		t.Errorf("backtrace does not name the panicking method: %v", r.Backtrace())
	}
	if r := h.Exec("add", 2, 2); string(r.Value) != "4" {
		t.Fatalf("after panic: %s", r)
	}
}

func TestUnknownModule(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, newTester)
	r := h.Exec("add", 1) // nothing started
	if r.Code != 404 || r.Class() != "ModuleNotFound" {
		t.Fatalf("got %s", r)
	}
}

func TestStatusChangeDetection(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, newTester)
	h.Start(sdktest.Module{})
	for _, v := range []any{1, 1, 2, 2, 2, map[string]int{"a": 1}, map[string]int{"a": 1}} {
		if r := h.ExecNamed("set_value", map[string]any{"name": "x", "value": v}); r.Err != nil {
			t.Fatal(r)
		}
	}
	h.ExecNamed("set_value", map[string]any{"name": "x", "value": nil}) // delete
	h.ExecNamed("set_value", map[string]any{"name": "x", "value": nil}) // already gone: nothing
	var got []string
	for _, c := range h.Host.History() {
		if c.Name == "x" {
			got = append(got, string(c.Value))
		}
	}
	want := []string{"1", "2", `{"a":1}`, "null"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("status changes sent: %v, want %v", got, want)
	}
	if _, ok := h.Status("x"); ok {
		t.Fatal("deleted status still present")
	}
}

func TestSettingsAndUpdate(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, newTester)
	h.Start(sdktest.Module{Settings: map[string]any{"name": "a", "count": 1}})
	var s testSettings
	if err := h.Exec("conf").Decode(&s); err != nil || s != (testSettings{"a", 1}) {
		t.Fatalf("settings %+v, %v", s, err)
	}
	h.Update(sdktest.Module{Settings: map[string]any{"name": "b", "count": "many"}})
	r := h.Exec("conf")
	if r.Err == nil || !strings.Contains(r.Message(), `setting "count"`) {
		t.Fatalf("bad settings: got %s, want an error naming count", r)
	}
}

func TestDebugForwarding(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, newTester)
	h.Start(sdktest.Module{})
	h.Exec("chatty")
	h.Debug()
	h.Exec("chatty")
	ctx, cancel := contextWithTimeout()
	defer cancel()
	for {
		logs := h.Host.Logs()
		if len(logs) >= 2 {
			if logs[0].Level != "debug" || logs[0].Message != "debug line n=1" || logs[1].Message != "info line" {
				t.Fatalf("logs: %+v", logs)
			}
			if len(logs) != 2 {
				t.Fatalf("lines before debug was enabled were forwarded: %+v", logs)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("debug lines not forwarded: %+v", logs)
		case <-tick():
		}
	}
}

// waiter is a driver whose function waits for its caller or its module to end, and says so in a
// status on the way out, as drivers that keep a "busy" status do.
type waiter struct {
	sdk.Base
	started chan struct{}
}

func (d *waiter) Wait(ctx context.Context) error {
	defer d.Set("waiting", false)
	d.Set("waiting", true)
	close(d.started)
	<-ctx.Done()
	return ctx.Err()
}

// TestExecEndedByStopFlushesQuietly: a call ended because its module stopped returns while the
// status it set on the way out is still queued. The module's unload delivers it, so the exec has
// nothing to warn about (it used to log "statuses not flushed before exec returned": its flush
// waited on the call's context, which the stop had ended).
func TestExecEndedByStopFlushesQuietly(t *testing.T) {
	t.Parallel()
	for range 20 {
		started := make(chan struct{})
		h := sdktest.New(t, func() *waiter { return &waiter{started: started} })
		h.Start(sdktest.Module{})
		call := h.ExecAsync("wait")
		<-started
		h.Stop()
		if r := call.Result(); r.Class() != "Abort" {
			t.Fatalf("wait: %s", r)
		}
		h.WaitStatus("waiting", false)
		for _, e := range h.Logs() {
			if e.Level == "warn" || e.Level == "error" {
				t.Fatalf("logged %s", e)
			}
		}
	}
}

// busyDrv's device is warming up for a known while.
type busyDrv struct{ sdk.Base }

func (d *busyDrv) Power(context.Context) error {
	return &sdk.Error{Status: 503, Kind: "ERR3", Err: errors.New("warming up"), RetryAfter: 30 * time.Second}
}

// TestRetryAfterTravels: an error's retry hint reaches the caller with the code and class.
func TestRetryAfterTravels(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, func() *busyDrv { return &busyDrv{} })
	h.Start(sdktest.Module{Name: "B"})
	r := h.Exec("power")
	var e *sdk.Error
	if !errors.As(r.Err, &e) || e.Code() != 503 || e.Class() != "ERR3" || e.RetryAfter != 30*time.Second {
		t.Fatalf("power: %s, retry after %v", r, e)
	}
}
