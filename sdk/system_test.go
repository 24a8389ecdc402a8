package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

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

func (d *sysdrv) AllOff(ctx context.Context) error {
	return sdk.Err(d.System().Implementing("Powerable").Exec(ctx, "power", false))
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

// TestSystemProxyCollections: the collections are resolved from the module_info the host sends
// with the system: by name, and by interface or function name (the camera is not Powerable and
// has no power function the host knows of: it is never asked; the room itself is left out).
func TestSystemProxyCollections(t *testing.T) {
	t.Parallel()
	off := func(context.Context, json.RawMessage) (any, error) { return false, nil }
	refuse := func(context.Context, json.RawMessage) (any, error) {
		return nil, &sdk.Error{Status: 502, Kind: "DeviceError", Err: errors.New("lamp cooling")}
	}
	name := func(n string) sdktest.Func {
		return func(context.Context, json.RawMessage) (any, error) { return n, nil }
	}
	h := sdktest.New(t, func() *sysdrv { return &sysdrv{} })
	h.Mock("Display").Implements("Powerable").On("power", off).On("name", name("d1"))
	h.Mock("Display").Implements("Powerable").On("power", refuse).On("name", name("d2"))
	switcher := h.Mock("Switcher").On("switch_to", name("in"))
	h.Mock("Lighting").Implements("Powerable", "Dimmable").On("power", off)
	camera := h.Mock("Camera").On("zoom", name("z"))
	blind := h.Mock("Blind").On("power", off) // implements nothing, but has the function
	h.Start(sdktest.Module{Name: "Room", Logic: true})

	collect := func(fn string, of string) []outcome {
		t.Helper()
		var got []outcome
		if err := h.ExecNamed(fn, map[string]any{"of": of, "fn": map[string]string{"implementing": "power", "all": "name"}[fn]}).Decode(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []outcome{
		{Target: "Display_1", Value: "false"},
		{Target: "Display_2", Error: "lamp cooling"},
		{Target: "Lighting_1", Value: "false"},
	}
	if got := collect("implementing", "Powerable"); !reflect.DeepEqual(got, want) {
		t.Errorf("implementing Powerable:\n got %+v\nwant %+v", got, want)
	}
	want = append(want, outcome{Target: "Blind_1", Value: "false"})
	if got := collect("implementing", "power"); !reflect.DeepEqual(got, want) {
		t.Errorf("implementing power (a function name):\n got %+v\nwant %+v", got, want)
	}
	want = []outcome{{Target: "Display_1", Value: `"d1"`}, {Target: "Display_2", Value: `"d2"`}}
	if got := collect("all", "Display"); !reflect.DeepEqual(got, want) {
		t.Errorf("all Display:\n got %+v\nwant %+v", got, want)
	}
	if n := len(switcher.Calls()) + len(camera.Calls()) + len(blind.Calls()); n != 1 {
		t.Errorf("modules outside the collections got %d calls, want only the blind's power", n)
	}

	// A module added to the system reaches the room with the next update, as the engine sends
	// one when the system changes.
	h.Mock("Display").Implements("Powerable").On("name", name("d3"))
	h.Start(sdktest.Module{Name: "Room", Logic: true})
	want = append(want, outcome{Target: "Display_3", Value: `"d3"`})
	if got := collect("all", "Display"); !reflect.DeepEqual(got, want) {
		t.Errorf("all Display after the system changed:\n got %+v\nwant %+v", got, want)
	}
}

// TestCollectionErrorNamesEveryFailure: a collection call that fails names each module that
// failed with its class, and answers with the first failure's code and class.
func TestCollectionErrorNamesEveryFailure(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, func() *sysdrv { return &sysdrv{} })
	h.Mock("Display").Implements("Powerable").On("power", func(context.Context, json.RawMessage) (any, error) {
		return nil, &sdk.Error{Status: 502, Kind: "DeviceError", Err: errors.New("lamp cooling")}
	})
	h.Mock("Display").Implements("Powerable").On("power", func(context.Context, json.RawMessage) (any, error) {
		return nil, sdk.Errorf(409, "warming up")
	})
	h.Start(sdktest.Module{Name: "Room", Logic: true})
	r := h.ExecNamed("all_off", nil)
	var e *sdk.Error
	if !errors.As(r.Err, &e) || e.Status != 502 || e.Kind != "DeviceError" ||
		e.Error() != "2 of 2 calls failed: Display_1: lamp cooling (DeviceError); Display_2: warming up" {
		t.Fatalf("all_off: %s", r)
	}
}
