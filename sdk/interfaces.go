package sdk

import (
	"context"
	"reflect"
)

// Security markers: embed one in a function's argument struct to restrict who may call it
// (docs/protocol.md §8). A function with no marker is open to every authenticated caller.
type (
	// Support restricts a function to support and admin callers.
	Support struct{}
	// Administrator restricts a function to admin callers.
	Administrator struct{}
)

// Standard interfaces. A driver whose pointer type satisfies one is reported under
// "implements", so logic drivers and front-ends can rely on the function's name, arguments and
// result without reading the driver. Use the Args types below as the argument struct so the
// signature matches exactly.
type (
	// Powerable devices turn on and off; Power returns the new state.
	Powerable interface {
		Power(ctx context.Context, a PowerArgs) (bool, error)
	}
	// InputSelectable devices switch between named inputs; SwitchTo returns the selected input.
	InputSelectable interface {
		SwitchTo(ctx context.Context, a SwitchToArgs) (string, error)
	}
	// VolumeControl devices set an output level from 0 to 100; Volume returns the new level.
	VolumeControl interface {
		Volume(ctx context.Context, a VolumeArgs) (int, error)
	}
	// Muteable devices mute and unmute audio (and video, where the device can); Mute returns
	// the new state.
	Muteable interface {
		Mute(ctx context.Context, a MuteArgs) (bool, error)
	}
	// CameraMoveable cameras pan and tilt; Move returns nothing.
	CameraMoveable interface {
		Move(ctx context.Context, a MoveArgs) error
	}
	// CameraZoomable cameras zoom to a position from 0 (wide) to 100 (tele).
	CameraZoomable interface {
		Zoom(ctx context.Context, a ZoomArgs) (int, error)
	}
	// Dimmable lights set a level from 0 to 100; Level returns the new level.
	Dimmable interface {
		Level(ctx context.Context, a LevelArgs) (int, error)
	}
)

// MuteArgs are the parameters of Muteable.Mute.
type MuteArgs struct {
	State bool `json:"state" default:"true" description:"true to mute"`
}

// MoveArgs are the parameters of CameraMoveable.Move.
type MoveArgs struct {
	Direction string `json:"direction" enum:"up,down,left,right,stop" description:"stop ends a move"`
}

// ZoomArgs are the parameters of CameraZoomable.Zoom.
type ZoomArgs struct {
	Position int `json:"position" minimum:"0" maximum:"100"`
}

// LevelArgs are the parameters of Dimmable.Level.
type LevelArgs struct {
	Level int `json:"level" minimum:"0" maximum:"100"`
}

// PowerArgs are the parameters of Powerable.Power.
type PowerArgs struct {
	State bool `json:"state" description:"true to turn on"`
}

// SwitchToArgs are the parameters of InputSelectable.SwitchTo.
type SwitchToArgs struct {
	Input string `json:"input" description:"input name, e.g. hdmi1"`
}

// VolumeArgs are the parameters of VolumeControl.Volume.
type VolumeArgs struct {
	Level int `json:"level" default:"50" minimum:"0" maximum:"100"`
}

type namedInterface struct {
	name string
	typ  reflect.Type
}

// standardInterfaces are checked in this order; the order is the order of "implements".
var standardInterfaces = []namedInterface{
	{"Powerable", reflect.TypeFor[Powerable]()},
	{"InputSelectable", reflect.TypeFor[InputSelectable]()},
	{"VolumeControl", reflect.TypeFor[VolumeControl]()},
	{"Muteable", reflect.TypeFor[Muteable]()},
	{"CameraMoveable", reflect.TypeFor[CameraMoveable]()},
	{"CameraZoomable", reflect.TypeFor[CameraZoomable]()},
	{"Dimmable", reflect.TypeFor[Dimmable]()},
}
