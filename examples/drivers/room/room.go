package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/placeos-go/engine/sdk"
)

// Room is a logic driver for a meeting room: it drives Display_1 through the host and mirrors
// Display_1's power into its own status display_power.
type Room struct {
	sdk.Base
}

// New makes the driver value of one module.
func New() *Room { return &Room{} }

var options = []sdk.Option{sdk.Version("1.0.0"), sdk.Requires("Display", "Powerable", "InputSelectable")}

var display = sdk.In("Display", 1)

// OnLoad follows Display_1's power for as long as the module runs.
func (r *Room) OnLoad(ctx context.Context) error {
	r.Subscribe(ctx, display, "power", func(v json.RawMessage) {
		r.Set("display_power", v)
	})
	return nil
}

// Power turns the room's display on or off and returns its new state.
func (r *Room) Power(ctx context.Context, a sdk.PowerArgs) (bool, error) {
	raw, err := r.Exec(ctx, display, "power", a.State)
	if err != nil {
		return false, fmt.Errorf("room power: %w", err)
	}
	var on bool
	if err := json.Unmarshal(raw, &on); err != nil {
		return false, fmt.Errorf("room power: Display_1 answered %s: %w", raw, err)
	}
	return on, nil
}

// SwitchTo selects the display's input.
func (r *Room) SwitchTo(ctx context.Context, a sdk.SwitchToArgs) (string, error) {
	raw, err := r.Exec(ctx, display, "switch_to", sdk.Named{"input": a.Input})
	if err != nil {
		return "", fmt.Errorf("room switch_to: %w", err)
	}
	var in string
	_ = json.Unmarshal(raw, &in)
	return in, nil
}

// Shutdown turns everything in the room off.
func (r *Room) Shutdown(ctx context.Context) error {
	_, err := r.Power(ctx, sdk.PowerArgs{State: false})
	return err
}

// AllOff turns off every module of the room whose driver is Powerable (displays, projectors,
// lights…) at once and reports which answered; it fails if any did not.
func (r *Room) AllOff(ctx context.Context) (map[string]bool, error) {
	outcomes := r.System().Implementing("Powerable").Exec(ctx, "power", false)
	done := make(map[string]bool, len(outcomes))
	for _, o := range outcomes {
		done[o.Target.String()] = o.Err == nil
	}
	return done, sdk.Err(outcomes)
}
