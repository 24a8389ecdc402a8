package main

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

func TestRoomDrivesDisplay(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, New, options...)
	display := h.Mock("Display")
	display.Set("power", false)
	display.On("power", func(_ context.Context, args json.RawMessage) (any, error) {
		var a []bool
		if err := json.Unmarshal(args, &a); err != nil || len(a) != 1 {
			return nil, &sdk.Error{Status: 400, Kind: "BadRequest", Err: errors.New("want [bool]")}
		}
		display.Set("power", a[0])
		return a[0], nil
	})
	display.On("switch_to", func(_ context.Context, args json.RawMessage) (any, error) {
		var a struct{ Input string }
		_ = json.Unmarshal(args, &a)
		return a.Input, nil
	})
	h.Start(sdktest.Module{Name: "Room", Logic: true})
	h.WaitStatus("display_power", false) // the subscription delivers the current value first

	if r := h.Exec("power", true); r.Err != nil || string(r.Value) != "true" {
		t.Fatalf("power: %s", r)
	}
	h.WaitStatus("display_power", true)

	display.Set("power", false) // changed behind the room's back
	h.WaitStatus("display_power", false)

	if r := h.Exec("switch_to", "hdmi2"); string(r.Value) != `"hdmi2"` {
		t.Fatalf("switch_to: %s", r)
	}
	calls := display.Calls()
	if len(calls) != 2 || calls[0].UserID != "user-test" || calls[0].From != h.ModuleID() ||
		string(calls[1].Args) != `{"input":"hdmi2"}` {
		t.Fatalf("calls: %+v", calls)
	}
}

func TestRoomReportsDisplayErrors(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, New, options...)
	h.Mock("Display").On("power", func(context.Context, json.RawMessage) (any, error) {
		return nil, &sdk.Error{Status: 502, Kind: "DeviceError", Err: errors.New("display refused")}
	})
	h.Start(sdktest.Module{Name: "Room", Logic: true})
	r := h.Exec("shutdown")
	if r.Code != 502 || r.Class() != "DeviceError" {
		t.Fatalf("shutdown: %s", r)
	}
}

func TestRoomWithoutDisplay(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, New, options...)
	h.Start(sdktest.Module{Name: "Room", Logic: true})
	if r := h.Exec("power", true); r.Code != 404 {
		t.Fatalf("power with no display: %s", r)
	}
}

func TestRoomMetadata(t *testing.T) {
	t.Parallel()
	m := sdktest.New(t, New, options...).Metadata()
	if got := m.Functions.Keys(); !reflect.DeepEqual(got, []string{"power", "switch_to", "shutdown", "all_off"}) {
		t.Fatalf("functions %v", got)
	}
	req, _ := m.Requirements.Get("Display")
	if !reflect.DeepEqual(req, []string{"Powerable", "InputSelectable"}) || !reflect.DeepEqual(m.Implements, []string{"Powerable", "InputSelectable"}) {
		t.Fatalf("requirements %v implements %v", req, m.Implements)
	}
}

func TestRoomAllOffCallsEveryPowerable(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, New, options...)
	off := func(context.Context, json.RawMessage) (any, error) { return false, nil }
	h.Mock("Display").Implements("Powerable", "InputSelectable").On("power", off)
	h.Mock("Display").Implements("Powerable").On("power", func(context.Context, json.RawMessage) (any, error) {
		return nil, &sdk.Error{Status: 502, Kind: "DeviceError", Err: errors.New("lamp cooling")}
	})
	h.Mock("Projector").Implements("Powerable").On("power", off)
	switcher := h.Mock("Switcher") // not Powerable: never called
	h.Start(sdktest.Module{Name: "Room", Logic: true})
	h.User = "user-ops"

	r := h.Exec("all_off")
	if r.Code != 502 || !strings.Contains(r.Message(), "1 of 3 calls failed") || !strings.Contains(r.Message(), "Display_2") {
		t.Fatalf("all_off: %s", r)
	}
	if len(switcher.Calls()) != 0 {
		t.Fatal("the switcher is not Powerable but was called")
	}
}
