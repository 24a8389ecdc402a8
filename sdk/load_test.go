package sdk_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

type loadSettings struct {
	Zone int `json:"zone" minimum:"1" maximum:"8" default:"1"`
}

// zoned opens its connection, then reads its settings, as drivers do in OnLoad.
type zoned struct {
	sdk.Base
	unloads *atomic.Int32
}

func (d *zoned) OnLoad(context.Context) error {
	sdk.NewTCP(&d.Base, sdk.TCPOptions{})
	var s loadSettings
	if err := d.Settings(&s); err != nil {
		return err
	}
	d.Set("zone", s.Zone)
	return nil
}

func (d *zoned) OnUnload(context.Context) { d.unloads.Add(1) }

func (d *zoned) Zone(context.Context) int {
	var z int
	d.Status("zone", &z)
	return z
}

// TestOnLoadErrorFailsTheStart: the module is not left half-loaded behind a failed OnLoad: Start
// answers the error (the engine shows the module failed with it), what OnLoad opened is closed,
// a call answers 503 with the error, and an update with good settings loads the module. The
// failure is Start's answer, which the engine logs (once, at ERROR): the driver logs it at DEBUG.
func TestOnLoadErrorFailsTheStart(t *testing.T) {
	t.Parallel()
	unloads := &atomic.Int32{}
	h := sdktest.New(t, func() *zoned { return &zoned{unloads: unloads} }, sdk.SettingsType[loadSettings]())
	dev := h.TCPDevice()
	const want = `module mod-test did not load: bad settings: setting "zone": 9 is above the maximum 8`
	for range 2 { // the engine starts a failed module again
		if err := h.TryStart(sdktest.Module{Name: "Z", Settings: loadSettings{Zone: 9}}); err == nil || err.Error() != want {
			t.Fatalf("start: %v, want %q", err, want)
		}
	}
	if n := unloads.Load(); n != 2 {
		t.Fatalf("OnUnload ran %d times for 2 failed loads", n)
	}
	var levels []string
	for _, e := range h.Logs() {
		if strings.HasPrefix(e.Message, "hook failed") {
			levels = append(levels, e.Level+" "+e.Message)
		}
	}
	if want := []string{"debug hook failed", "debug hook failed again"}; !slices.Equal(levels, want) {
		t.Fatalf("the two failed loads logged %q, want %q", levels, want)
	}
	h.Wait("the connection OnLoad opened to be closed", func() bool { return !dev.Connected() })
	if r := h.Exec("zone"); r.Code != 503 || r.Class() != "LoadError" || r.Message() != want {
		t.Fatalf("zone on a module that did not load: %s", r)
	}
	h.Settings(loadSettings{Zone: 3})
	if r := h.Exec("zone"); string(r.Value) != "3" {
		t.Fatalf("zone after a good update: %s", r)
	}
	h.Stop()
	if r := h.Exec("zone"); r.Code != 404 || !strings.Contains(r.Message(), "not running") {
		t.Fatalf("zone after stop: %s", r)
	}
}
