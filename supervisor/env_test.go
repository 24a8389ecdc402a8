package supervisor

import "testing"

// Driver processes are third-party code: they never see the engine's secrets, only what a
// program needs and the variables meant for drivers. (Not parallel: it sets the environment.)
func TestDriverEnvironmentIsScrubbed(t *testing.T) {
	t.Setenv("ENGINE_CLUSTER_SECRET", "do-not-leak")
	t.Setenv("ENGINE_DRIVER_GREETING", "hello")
	f := newFixture(t, Config{})
	f.start(t, testModule("mod-env", `{}`))
	tests := []struct{ name, want string }{
		{"ENGINE_CLUSTER_SECRET", `""`},
		{"ENGINE_DRIVER_GREETING", `"hello"`},
		{"PATH", ""}, // set, whatever it is
	}
	for _, tt := range tests {
		got := f.exec(t, "mod-env", "env", tt.name)
		if tt.want != "" && got != tt.want {
			t.Errorf("%s in the driver = %s, want %s", tt.name, got, tt.want)
		}
		if tt.want == "" && (got == `""` || got == "") {
			t.Errorf("%s is empty in the driver", tt.name)
		}
	}
}
