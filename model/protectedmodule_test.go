package model

import (
	"context"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
)

// TestRedactedProtectedModuleSettings: below support, a protected module's own plain settings
// read as RedactedValue under their keys; support and above, and every other module, read them as
// stored; a custom name decides both ways; reading never changes the stored model.
func TestRedactedProtectedModuleSettings(t *testing.T) {
	t.Parallel()
	f, err := ParseFile([]byte(`
drivers:
  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}
  - {id: drv-t, module_name: _Trigger, role: device, binary: /bin/trigger, settings: {drv_key: 1}}
modules:
  - {id: mod-a, driver_id: drv-d, custom_name: _Audit, settings: {room: "boardroom"}}
  - {id: mod-t, driver_id: drv-t, settings: {at: 30}}
  - {id: mod-u, driver_id: drv-t, custom_name: Trigger, settings: {at: 40}}
  - {id: mod-d, driver_id: drv-d, settings: {input: "hdmi"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	store := NewMemory()
	if err := store.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{"mod-a/room": `"boardroom"`, "mod-t/at": `30`, "mod-u/at": `40`, "mod-d/input": `"hdmi"`}
	protected := map[string]bool{"mod-a/room": true, "mod-t/at": true}
	for _, c := range []auth.Clearance{auth.ClearanceUser, auth.ClearanceSupport, auth.ClearanceAdmin, auth.ClearanceInternal} {
		m, err := store.ModelFor(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, mk := range [][2]string{{"mod-a", "room"}, {"mod-t", "at"}, {"mod-u", "at"}, {"mod-d", "input"}} {
			want := stored[mk[0]+"/"+mk[1]]
			if protected[mk[0]+"/"+mk[1]] && c < auth.ClearanceSupport {
				want = `"` + RedactedValue + `"`
			}
			if got := string(m.Modules[mk[0]].Settings[mk[1]]); got != want {
				t.Errorf("%s reads %s's %s as %s; want %s", c, mk[0], mk[1], got, want)
			}
		}
		if got := string(m.Drivers["drv-t"].Settings["drv_key"]); got != "1" {
			t.Errorf("%s reads the protected driver's own setting as %s", c, got)
		}
	}
	m, _ := store.Model()
	for mk, want := range stored {
		id, key, _ := strings.Cut(mk, "/")
		if got := string(m.Modules[id].Settings[key]); got != want {
			t.Fatalf("reading changed the stored %s: %s", mk, got)
		}
	}
}
