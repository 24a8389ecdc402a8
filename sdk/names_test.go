package sdk

import "testing"

func TestSnakeCase(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Power": "power", "SwitchTo": "switch_to", "HDMIInput": "hdmi_input",
		"Volume2": "volume2", "GetURL": "get_url", "already_snake": "already_snake",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}
