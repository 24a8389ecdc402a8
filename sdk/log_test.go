package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/driverrt"
)

// logDriver logs through sdk.Log in its hook and its functions.
type logDriver struct{ sdk.Base }

func (d *logDriver) OnLoad(ctx context.Context) error {
	sdk.Log(ctx).Info("loaded")
	return nil
}

func (d *logDriver) Greet(ctx context.Context) string {
	sdk.Log(ctx).Info("greeting")
	return "hi"
}

func (d *logDriver) Fail(ctx context.Context) error { return errors.New("no") }

// lines is the driver's JSON log, written by the runtime's goroutines while the test reads it.
type lines struct{ testutil.LockedBuffer }

// find returns the JSON log entries with message msg.
func (l *lines) find(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if e["@message"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// Lines logged during an exec, by the function or by the SDK, carry the request's id and user;
// lines of the module's own work carry its module id and no request.
func TestLogCarriesRequestID(t *testing.T) {
	t.Parallel()
	out := &lines{}
	rt, err := driverrt.New(func() *logDriver { return &logDriver{} }, out, sdk.LogLevel(hclog.Debug))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if _, err := rt.Start(ctx, &proto.StartRequest{Module: &proto.Module{Id: "m1"}}); err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"greet", "fail"} {
		if _, err := rt.Exec(ctx, &proto.ExecRequest{ModuleId: "m1", Function: fn, RequestId: "rid-" + fn, UserId: "user-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rt.Exec(ctx, &proto.ExecRequest{ModuleId: "m1", Function: "greet", RequestId: "rid-internal"}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		msg, rid, user string
	}{
		{"greeting", "rid-greet", "user-1"},
		{"function failed", "rid-fail", "user-1"},
		{"greeting", "rid-internal", ""},
		{"loaded", "", ""},
	} {
		var found bool
		for _, e := range out.find(t, tc.msg) {
			rid, _ := e["request_id"].(string)
			user, _ := e["user"].(string)
			if rid == tc.rid && user == tc.user && e["module"] == "m1" {
				found = true
			}
		}
		if !found {
			t.Errorf("no %q line with request_id %q, user %q and module m1: %v", tc.msg, tc.rid, tc.user, out.find(t, tc.msg))
		}
	}
	sdk.Log(context.Background()).Info("outside any module goes nowhere")
	if got := sdk.RequestID(sdk.WithUser(context.Background(), "u", "r")); got != "r" {
		t.Errorf("RequestID after WithUser = %q", got)
	}
}
