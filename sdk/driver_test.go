package sdk_test

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/placeos-go/engine/sdk"
)

// tester is a driver exercising every signature shape the SDK accepts.
type tester struct {
	sdk.Base
	loads, updates, unloads *atomic.Int32
}

type testSettings struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func newTester() *tester {
	return &tester{loads: &atomic.Int32{}, updates: &atomic.Int32{}, unloads: &atomic.Int32{}}
}

func (t *tester) OnLoad(context.Context) error {
	t.loads.Add(1)
	t.Set("loaded", true)
	return nil
}

func (t *tester) OnUpdate(context.Context) error {
	t.updates.Add(1)
	return nil
}

func (t *tester) OnUnload(context.Context) { t.unloads.Add(1) }

func (t *tester) Add(_ context.Context, a struct {
	A int `json:"a"`
	B int `json:"b" default:"2"`
}) (int, error) {
	return a.A + a.B, nil
}

func (t *tester) Echo(a struct{ Text string }) string { return a.Text }

func (t *tester) Nothing() {}

func (t *tester) Boom(context.Context) error { panic("kaboom") }

func (t *tester) Fail(context.Context) error { return sdk.Errorf(409, "busy warming up") }

func (t *tester) FailPlain() error { return errors.New("plain failure") }

func (t *tester) Limits(a struct {
	Level int    `json:"level" minimum:"0" maximum:"10"`
	Mode  string `json:"mode" enum:"fast,slow" default:"slow"`
}) string {
	return a.Mode
}

func (t *tester) Maybe(a struct {
	N *int `json:"n"`
}) *int {
	return a.N
}

func (t *tester) SetValue(a struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}) {
	t.Set(a.Name, a.Value)
}

func (t *tester) Whoami(ctx context.Context) []string {
	return []string{sdk.UserID(ctx), sdk.RequestID(ctx)}
}

func (t *tester) Conf(context.Context) (testSettings, error) {
	var s testSettings
	err := t.Settings(&s)
	return s, err
}

func (t *tester) Chatty(ctx context.Context) {
	t.Logger().Debug("debug line", "n", 1)
	t.Logger().Info("info line")
}

func (t *tester) Reset(_ context.Context, _ struct{ sdk.Administrator }) {}

// Helper has a signature the SDK cannot expose (unnamed parameters).
func (t *tester) Helper(int) {}
