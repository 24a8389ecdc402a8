package metadata

import (
	"fmt"
	"testing"
)

func TestUnknownFunctionHint(t *testing.T) {
	t.Parallel()
	display := []string{"power", "switch_to", "volume", "mute"}
	many := make([]string, listAtMost+1)
	for i := range many {
		many[i] = fmt.Sprintf("preset_%d", i)
	}
	for _, tc := range []struct {
		fn        string
		functions []string
		want      string
	}{
		{"Power", display, " (did you mean power? function names are snake_case; functions: power, switch_to, volume, mute)"},
		{"SwitchTo", display, " (did you mean switch_to? function names are snake_case; functions: power, switch_to, volume, mute)"},
		{"pwer", display, " (did you mean power? functions: power, switch_to, volume, mute)"},
		{"volum", display, " (did you mean volume? functions: power, switch_to, volume, mute)"},
		{"reboot", display, " (functions: power, switch_to, volume, mute)"},
		{"x", display, " (functions: power, switch_to, volume, mute)"},
		{"preset1", many, " (did you mean preset_1? function names are snake_case; the module has 13 functions)"},
		{"preset_", many, " (did you mean preset_0 or preset_1 or preset_2? the module has 13 functions)"},
		{"preset_x", many, " (did you mean preset_0 or preset_1 or preset_2? the module has 13 functions)"},
		{"reboot", many, " (the module has 13 functions)"},
		{"power", nil, " (the module has no functions)"},
	} {
		if got := UnknownFunctionHint(tc.fn, tc.functions); got != tc.want {
			t.Errorf("UnknownFunctionHint(%q, %v)\n got %q\nwant %q", tc.fn, tc.functions, got, tc.want)
		}
	}
}
