package sdk_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/driverrt"
	"github.com/placeos-go/engine/sdk/sdktest"
)

type common struct {
	Password string `json:"password,omitempty" secret:"true" description:"a protected setting"`
}

// projectorSettings has a tag of every kind, one on a field of an embedded struct.
type projectorSettings struct {
	common
	ID     int            `json:"id" minimum:"0" maximum:"253"`
	Mode   string         `json:"mode" enum:"standby,panel" default:"standby"`
	Poll   int            `json:"poll" minimum:"1" default:"30"`
	Inputs map[string]int `json:"inputs" default:"{\"hdmi\": 1}"`
	Ratio  *float64       `json:"ratio" minimum:"0.5"`
}

// projector answers read() with its settings as it reads them.
type projector struct{ sdk.Base }

func (p *projector) Read(context.Context) (projectorSettings, error) {
	var s projectorSettings
	err := p.Settings(&s)
	return s, err
}

func TestSettingsTags(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, func() *projector { return &projector{} }, sdk.SettingsType[projectorSettings]())
	schema, _ := json.Marshal(h.Metadata().JSONSchema)
	for _, frag := range []string{
		`"password":{"type":"string","title":"string","description":"a protected setting","writeOnly":true}`,
		`"id":{"type":"integer","title":"int","minimum":0,"maximum":253}`,
		`"mode":{"type":"string","title":"string","enum":["standby","panel"],"default":"standby"}`,
		`"poll":{"type":"integer","title":"int","minimum":1,"default":30}`,
		`"inputs":{"type":"object","title":"map[string]int","default":{"hdmi":1}`,
	} {
		if !strings.Contains(string(schema), frag) {
			t.Errorf("settings schema lacks %s:\n%s", frag, schema)
		}
	}

	h.Start(sdktest.Module{Name: "P", Settings: map[string]any{"id": 7, "mode": nil, "inputs": map[string]int{"dvi": 2}}})
	var got projectorSettings
	if r := h.Exec("read"); r.Err != nil || r.Decode(&got) != nil {
		t.Fatalf("settings: %s", r)
	}
	if got.ID != 7 || got.Mode != "standby" || got.Poll != 30 || len(got.Inputs) != 1 || got.Inputs["dvi"] != 2 {
		t.Fatalf("settings read as %+v: want id 7, the defaults for mode (null) and poll (absent), and inputs as given", got)
	}

	for _, tc := range []struct {
		settings map[string]any
		want     string
	}{
		{map[string]any{"id": 254}, `setting "id": 254 is above the maximum 253`},
		{map[string]any{"mode": "sleep"}, `setting "mode": sleep is not one of [standby panel]`},
		{map[string]any{"poll": 0}, `setting "poll": 0 is below the minimum 1`},
		{map[string]any{"ratio": 0.25}, `setting "ratio": 0.25 is below the minimum 0.5`},
		{map[string]any{"id": "one"}, `setting "id": cannot use JSON string as int`},
	} {
		// Refused as an update (the module runs on as it was), as OnLoad's Settings would refuse
		// them at a start.
		err := h.TrySettings(tc.settings)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad settings: ") {
			t.Errorf("settings %v: %v, want a refusal with %q", tc.settings, err, tc.want)
		}
	}
}

type badSetting struct{ sdk.Base }

func TestBadSettingsTagsFail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opt  sdk.Option
		want string
	}{
		{sdk.SettingsType[struct {
			Level int `json:"level" default:"high"`
		}](), `setting "level": default high does not decode`},
		{sdk.SettingsType[struct {
			Key string `json:"key" secret:"yes"`
		}](), `setting "key": secret "yes" is not true or false`},
		{sdk.SettingsType[struct {
			Mode string `json:"mode" enum:"a,b" default:"c"`
		}](), `setting "mode": default: c is not one of [a b]`},
	} {
		_, err := driverrt.New(func() *badSetting { return &badSetting{} }, io.Discard, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error with %q", err, tc.want)
		}
	}
}

// pollDriver declares its settings and remembers the poll interval it last read.
type pollDriver struct {
	sdk.Base
	poll atomic.Int64
}

type pollSettings struct {
	Poll int `json:"poll" minimum:"1" default:"30"`
}

func (d *pollDriver) OnLoad(context.Context) error   { return d.read() }
func (d *pollDriver) OnUpdate(context.Context) error { return d.read() }
func (d *pollDriver) read() error {
	var s pollSettings
	if err := d.Settings(&s); err != nil {
		return err
	}
	d.poll.Store(int64(s.Poll))
	return nil
}

// A settings update outside the declared type's range is refused before the driver takes it:
// the engine's update fails with why, and the module runs on with the settings it had; a good
// update afterwards is taken as usual.
func TestSettingsUpdateChecked(t *testing.T) {
	t.Parallel()
	d := &pollDriver{}
	h := sdktest.New(t, func() *pollDriver { return d }, sdk.SettingsType[pollSettings]())
	h.Start(sdktest.Module{Name: "P", Settings: map[string]any{"poll": 5}})
	if got := d.poll.Load(); got != 5 {
		t.Fatalf("poll %d after start, want 5", got)
	}
	err := h.TrySettings(map[string]any{"poll": 0})
	if err == nil || !strings.Contains(err.Error(), "settings update refused") || !strings.Contains(err.Error(), `setting "poll"`) {
		t.Fatalf("an update with poll 0: %v; want the refusal naming the setting", err)
	}
	var s pollSettings
	if err := d.Settings(&s); err != nil || s.Poll != 5 || d.poll.Load() != 5 {
		t.Fatalf("after the refusal the module reads %+v (%v), its hook saw %d; want 5 as before", s, err, d.poll.Load())
	}
	h.Settings(map[string]any{"poll": 7})
	if got := d.poll.Load(); got != 7 {
		t.Fatalf("poll %d after a good update, want 7", got)
	}
}
