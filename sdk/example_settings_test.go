package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/exampletest"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// SwitcherSettings are what a module of the Switcher driver is configured with: the engine merges
// the driver's, the zones', the system's and the module's own settings into one object.
// Tags give the schema's constraints and defaults, which Settings applies and checks.
type SwitcherSettings struct {
	Inputs []string `json:"inputs" description:"the inputs users may select"`
	Mode   string   `json:"mode,omitempty" enum:"strict,open" default:"strict" description:"open: any input"`
}

// Switcher selects inputs, refusing the ones its settings do not list.
type Switcher struct {
	sdk.Base
}

// NewSwitcher makes the driver value of one module. Serve it with the settings type declared:
// sdk.Serve(NewSwitcher, sdk.SettingsType[SwitcherSettings]()).
func NewSwitcher() *Switcher { return &Switcher{} }

// SwitchTo is switch_to(input). Settings reads the module's current settings: an update (the
// engine sends one when any of them changes) is seen by the next call. OnUpdate runs too, for
// drivers that keep something derived from them.
func (s *Switcher) SwitchTo(_ context.Context, a sdk.SwitchToArgs) (string, error) {
	var set SwitcherSettings
	if err := s.Settings(&set); err != nil {
		return "", err
	}
	if set.Mode == "strict" && !slices.Contains(set.Inputs, a.Input) {
		return "", sdk.Errorf(400, "input %q is not one of %v", a.Input, set.Inputs)
	}
	return a.Input, nil
}

// OnLoad refuses settings that make no sense: the module does not start, and the engine shows
// why (the error names the setting).
func (s *Switcher) OnLoad(context.Context) error {
	var set SwitcherSettings
	return s.Settings(&set)
}

// A settings struct: declared with SettingsType, its JSON Schema goes into the driver's metadata
// (what a back office shows), and the module reads its values with Base.Settings.
func ExampleSettingsType() {
	t := exampletest.New() // in a test: func TestInputs(t *testing.T)
	defer t.Done()

	h := sdktest.New(t, NewSwitcher, sdk.SettingsType[SwitcherSettings]())
	schema, _ := json.Marshal(h.Metadata().JSONSchema)
	fmt.Println(string(schema))

	h.Start(sdktest.Module{Name: "Switcher", Settings: SwitcherSettings{Inputs: []string{"hdmi1", "hdmi2"}}})
	fmt.Println(h.Exec("switch_to", "dvi"))
	h.Settings(SwitcherSettings{Inputs: []string{"hdmi1", "dvi"}}) // an update, as the engine sends
	fmt.Println(h.Exec("switch_to", "dvi"))
	fmt.Println(h.TryStart(sdktest.Module{ID: "mod-2", Name: "Switcher", Settings: SwitcherSettings{Mode: "loose"}}))
	// Output:
	// {"type":"object","title":"SwitcherSettings","properties":{"inputs":{"type":"array","title":"[]string","description":"the inputs users may select","items":{"type":"string","title":"string"}},"mode":{"type":"string","title":"string","description":"open: any input","enum":["strict","open"],"default":"strict"}}}
	// 400 Error: input "dvi" is not one of [hdmi1 hdmi2]
	// 200 "dvi"
	// module mod-2 did not load: bad settings: setting "mode": loose is not one of [strict open]
}
