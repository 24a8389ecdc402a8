package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/exampletest"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// Boardroom is a logic driver (role logic): it has no device, only its system's other modules,
// which it reaches through the system proxy.
type Boardroom struct {
	sdk.Base
}

// NewBoardroom makes the driver value of one module.
func NewBoardroom() *Boardroom { return &Boardroom{} }

// Shutdown is shutdown(): every Powerable module of the room off, all at once. It answers which
// modules went off and fails if any did not, with the first failure's code and class and every
// failure named.
func (r *Boardroom) Shutdown(ctx context.Context) ([]string, error) {
	outcomes := r.System().Implementing("Powerable").Exec(ctx, "power", false)
	off := []string{}
	for _, o := range outcomes {
		if o.Err == nil {
			off = append(off, o.Target.String())
		}
	}
	return off, sdk.Err(outcomes)
}

// Present is present(input): Display_1 to an input, by name.
func (r *Boardroom) Present(ctx context.Context, a sdk.SwitchToArgs) (string, error) {
	var input string
	err := r.System().Get("Display_1").Call(ctx, &input, "switch_to", sdk.Named{"input": a.Input})
	return input, err
}

// A logic module using the system proxy, tested against mock modules: the engine tells the
// module which modules its system has and what they implement (module_info), and the harness
// does the same for its mocks.
func ExampleSystemProxy_Implementing() {
	t := exampletest.New() // in a test: func TestShutdown(t *testing.T)
	defer t.Done()

	h := sdktest.New(t, NewBoardroom)
	off := func(context.Context, json.RawMessage) (any, error) { return false, nil }
	h.Mock("Display").Implements("Powerable").On("power", off).
		On("switch_to", func(_ context.Context, args json.RawMessage) (any, error) {
			var a struct{ Input string }
			err := json.Unmarshal(args, &a)
			return a.Input, err
		})
	h.Mock("Lighting").Implements("Powerable").On("power", off)
	camera := h.Mock("Camera") // not Powerable: shutdown leaves it alone
	h.Start(sdktest.Module{Name: "Boardroom", Logic: true})

	fmt.Println(h.Exec("present", "hdmi2"))
	fmt.Println(h.Exec("shutdown"))

	h.Mock("Display").Implements("Powerable").On("power", func(context.Context, json.RawMessage) (any, error) {
		return nil, &sdk.Error{Status: 502, Kind: "DeviceError", Err: errors.New("lamp cooling")}
	})
	h.Start(sdktest.Module{Name: "Boardroom", Logic: true}) // the system changed: an update
	r := h.Exec("shutdown")
	var e *sdk.Error
	if errors.As(r.Err, &e) {
		fmt.Println(e.Status, e.Kind, e.Error())
	}
	fmt.Println("camera calls:", len(camera.Calls()))
	// Output:
	// 200 "hdmi2"
	// 200 ["Display_1","Lighting_1"]
	// 502 DeviceError 1 of 3 calls failed: Display_2: lamp cooling (DeviceError)
	// camera calls: 0
}
