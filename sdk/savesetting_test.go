package sdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// saver saves what it is told and returns the SDK's error as it is, as a driver passing on a
// refusal does; Refused says whether that error was an *sdk.Error.
type saver struct{ sdk.Base }

type saveArgs struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

func (d *saver) Save(ctx context.Context, a saveArgs) error {
	return d.SaveSetting(ctx, a.Name, strings.Repeat("x", a.Size))
}

func (d *saver) Refused(ctx context.Context, a saveArgs) (string, error) {
	err := d.SaveSetting(ctx, a.Name, strings.Repeat("x", a.Size))
	var e *sdk.Error
	if !errors.As(err, &e) {
		return "", err
	}
	return e.Class(), nil
}

// TestSaveSettingRefusedIsAnSDKError: the host refusing a save (gRPC InvalidArgument, a value over
// the engine's 64 KiB) reaches the driver as an *sdk.Error of class BadRequest, and a driver that
// returns it gives its caller a 400 naming the bound, not a 500.
func TestSaveSettingRefusedIsAnSDKError(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, func() *saver { return &saver{} })
	h.Start(sdktest.Module{Name: "S"})

	if r := h.ExecNamed("save", map[string]any{"name": "small", "size": 10}); r.Err != nil {
		t.Fatalf("a small save: %v", r.Err)
	}
	r := h.ExecNamed("save", map[string]any{"name": "big", "size": 100_000})
	if r.Code != 400 || r.Class() != "BadRequest" || !strings.Contains(r.Message(), "65536") ||
		!strings.HasPrefix(r.Message(), `save setting "big": `) || strings.Contains(r.Message(), "rpc error") {
		t.Fatalf("a 100 kB save returned: %d %s %q, want 400 BadRequest naming the 65536-byte bound", r.Code, r.Class(), r.Message())
	}
	var class string
	if r := h.ExecNamed("refused", map[string]any{"name": "big", "size": 100_000}); r.Err != nil || r.Decode(&class) != nil || class != "BadRequest" {
		t.Fatalf("errors.As(*sdk.Error) in the driver: %q, %v; want class BadRequest", class, r.Err)
	}
	for _, s := range h.Host.Saved() {
		if s.Name == "big" {
			t.Fatalf("the refused save was kept: %d bytes", len(s.Value))
		}
	}
}
