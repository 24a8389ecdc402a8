package sdk_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// sysdrv is a logic driver that calls collections of its system's modules.
type sysdrv struct{ sdk.Base }

type collArgs struct {
	Of string `json:"of"` // a module name for all, an interface for implementing
	Fn string `json:"fn"`
}

// outcome is one answer of a collection call as the test sees it.
type outcome struct {
	Target string `json:"target"`
	Value  string `json:"value,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (d *sysdrv) All(ctx context.Context, a collArgs) []outcome {
	return report(d.System().All(a.Of).Exec(ctx, a.Fn))
}

func (d *sysdrv) Implementing(ctx context.Context, a collArgs) []outcome {
	return report(d.System().Implementing(a.Of).Exec(ctx, a.Fn, false))
}

func report(os []sdk.Outcome) []outcome {
	out := []outcome{}
	for _, o := range os {
		r := outcome{Target: o.Target.String(), Value: string(o.Value)}
		if o.Err != nil {
			r.Value, r.Error = "", o.Err.Error()
		}
		out = append(out, r)
	}
	return out
}

// TestSystemProxyCollections runs the same collection calls with the host's module list and
// without it (the fallback that probes every module): the same modules answer either way, only
// the names differ (Name_N when the host said, module ids when the proxy had to probe).
func TestSystemProxyCollections(t *testing.T) {
	t.Parallel()
	off := func(context.Context, json.RawMessage) (any, error) { return false, nil }
	refuse := func(context.Context, json.RawMessage) (any, error) {
		return nil, &errkind.DriverError{Class: "DeviceError", Message: "lamp cooling", Code: 502}
	}
	badArgs := func(context.Context, json.RawMessage) (any, error) {
		return nil, &errkind.DriverError{Class: "BadRequest", Message: "wrong number of arguments", Code: 400}
	}
	tests := []struct {
		name         string
		noModuleInfo bool
		powerable    []outcome
		displays     []outcome
	}{
		{
			name: "module info from the host",
			powerable: []outcome{
				{Target: "Display_1", Value: "false"},
				{Target: "Display_2", Error: "lamp cooling (DeviceError)"},
				{Target: "Lighting_1", Value: "false"},
			},
			displays: []outcome{{Target: "Display_1", Value: `"d1"`}, {Target: "Display_2", Value: `"d2"`}},
		},
		{
			// The switcher has no power function and is left out; the camera's power exists
			// but refuses the arguments, which is a real failure and stays in.
			name:         "no module info: probing",
			noModuleInfo: true,
			powerable: []outcome{
				{Target: "mod-display-1", Value: "false"},
				{Target: "mod-display-2", Error: "lamp cooling (DeviceError)"},
				{Target: "mod-lighting-1", Value: "false"},
				{Target: "mod-camera-1", Error: "wrong number of arguments (BadRequest)"},
			},
			displays: []outcome{{Target: "Display_1", Value: `"d1"`}, {Target: "Display_2", Value: `"d2"`}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := sdktest.New(t, func() *sysdrv { return &sysdrv{} })
			name := func(n string) sdktest.Func {
				return func(context.Context, json.RawMessage) (any, error) { return n, nil }
			}
			h.Mock("Display").Implements("Powerable").On("power", off).On("name", name("d1"))
			h.Mock("Display").Implements("Powerable").On("power", refuse).On("name", name("d2"))
			switcher := h.Mock("Switcher")
			h.Mock("Lighting").Implements("Powerable", "Dimmable").On("power", off)
			// With module info the camera is not Powerable and is never asked.
			camera := h.Mock("Camera").On("power", badArgs)
			h.Start(sdktest.Module{Name: "Room", Logic: true, NoModuleInfo: tc.noModuleInfo})

			var got []outcome
			if err := h.ExecNamed("implementing", map[string]any{"of": "Powerable", "fn": "power"}).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.powerable) {
				t.Errorf("implementing Powerable:\n got %+v\nwant %+v", got, tc.powerable)
			}
			got = nil
			if err := h.ExecNamed("all", map[string]any{"of": "Display", "fn": "name"}).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.displays) {
				t.Errorf("all Display:\n got %+v\nwant %+v", got, tc.displays)
			}
			// The switcher was probed for power only without module info, and never answered.
			if n := len(switcher.Calls()); (n == 1) != tc.noModuleInfo {
				t.Errorf("switcher got %d calls", n)
			}
			if n := len(camera.Calls()); (n == 1) != tc.noModuleInfo {
				t.Errorf("camera got %d calls", n)
			}
		})
	}
}
