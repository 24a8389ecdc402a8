package main

import (
	"context"
	"fmt"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Settings of a lighting module.
type Settings struct {
	Zone     string `json:"zone,omitempty" default:"1" description:"gateway zone id"`
	Password string `json:"password,omitempty" secret:"true" description:"gateway basic-auth password"`
	// PollSeconds: the gateway does not report wall-panel changes, so the driver asks.
	PollSeconds int `json:"poll_seconds,omitempty" default:"30" minimum:"1" description:"how often the zone is read back, in seconds"`
}

// Lighting drives one zone of the example HTTP lighting gateway (examples/sims/lighting). It
// keeps the statuses level, power and connected.
type Lighting struct {
	sdk.Base
	api  *sdk.HTTP
	zone string
}

// New makes the driver value of one module.
func New() *Lighting { return &Lighting{} }

var options = []sdk.Option{sdk.Version("1.0.0"), sdk.SettingsType[Settings]()}

type zone struct {
	Level int  `json:"level"`
	On    bool `json:"on"`
}

// OnLoad opens the HTTP client, reads the zone and polls it. A gateway that does not answer
// yet does not keep the module from starting: the poll keeps asking.
func (l *Lighting) OnLoad(context.Context) error {
	var s Settings
	if err := l.Settings(&s); err != nil {
		return err
	}
	l.zone = s.Zone
	var err error
	if l.api, err = sdk.NewHTTP(&l.Base, sdk.HTTPOptions{Username: "engine", Password: s.Password, Timeout: 10 * time.Second}); err != nil {
		return err
	}
	l.Schedule().Every(time.Duration(s.PollSeconds)*time.Second, func(ctx context.Context) { _ = l.Refresh(ctx) })
	l.Go(func(ctx context.Context) {
		if err := l.Refresh(ctx); err != nil {
			l.Logger().Warn("reading the zone failed", "error", err)
		}
	})
	return nil
}

// OnUpdate picks up a new zone, password or poll interval.
func (l *Lighting) OnUpdate(ctx context.Context) error {
	l.Schedule().Clear()
	return l.OnLoad(ctx)
}

// Level sets the zone's level (0 is off) and returns it.
func (l *Lighting) Level(ctx context.Context, a sdk.LevelArgs) (int, error) {
	z, err := l.put(ctx, map[string]any{"level": a.Level})
	return z.Level, err
}

// Power turns the zone on (to its last level, or full) or off.
func (l *Lighting) Power(ctx context.Context, a sdk.PowerArgs) (bool, error) {
	z, err := l.put(ctx, map[string]any{"on": a.State})
	return z.On, err
}

// Refresh reads the zone from the gateway.
func (l *Lighting) Refresh(ctx context.Context) error {
	var z zone
	if err := l.api.GetJSON(ctx, l.path(), &z); err != nil {
		return fmt.Errorf("read zone %s: %w", l.zone, err)
	}
	l.apply(z)
	return nil
}

func (l *Lighting) put(ctx context.Context, body map[string]any) (zone, error) {
	var z zone
	if err := l.api.PutJSON(ctx, l.path(), body, &z); err != nil {
		return z, err
	}
	l.apply(z)
	return z, nil
}

func (l *Lighting) path() string { return "/api/zones/" + l.zone }

func (l *Lighting) apply(z zone) {
	l.Set("level", z.Level)
	l.Set("power", z.On)
}
