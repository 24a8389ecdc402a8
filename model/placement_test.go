package model

import (
	"strings"
	"testing"
)

const placed = `
drivers:
  - {id: drv-plain, module_name: Plain, role: device, binary: /bin/plain}
  - {id: drv-b, module_name: B, role: device, binary: /bin/b, placement: {site: b}}
systems:
  - {id: sys-hq, name: HQ, modules: [m-sys, m-own, m-drv-sys, m-two], placement: {site: hq, floor: 3}}
  - {id: sys-free, name: Free, modules: [m-two, m-drv]}
modules:
  - {id: m-none, driver_id: drv-plain}
  - {id: m-own, driver_id: drv-b, placement: {site: c}}
  - {id: m-sys, driver_id: drv-plain}
  - {id: m-drv, driver_id: drv-b}
  - {id: m-drv-sys, driver_id: drv-b}
  - {id: m-two, driver_id: drv-plain}
`

// TestPlacementPrecedence: a module's own constraint wins over its system's, which wins over its
// driver's; a system without one does not clear another system's.
func TestPlacementPrecedence(t *testing.T) {
	t.Parallel()
	f, err := ParseFile([]byte(placed))
	if err != nil {
		t.Fatal(err)
	}
	m := New().Upsert(f)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"m-none":    "",
		"m-own":     "site=c",
		"m-sys":     "floor=3,site=hq",
		"m-drv":     "site=b",
		"m-drv-sys": "floor=3,site=hq",
		"m-two":     "floor=3,site=hq",
	}
	all := m.Placements()
	for id, w := range want {
		if got := m.Placement(m.Modules[id]).String(); got != w {
			t.Errorf("%s: placement %q, want %q", id, got, w)
		}
		if got := all[id].String(); got != w {
			t.Errorf("%s: Placements %q, want %q", id, got, w)
		}
	}
	if _, listed := all["m-none"]; listed {
		t.Error("Placements lists an unconstrained module")
	}
	// The number YAML made of floor: 3 is kept as its text, and a round trip keeps the field.
	if got := m.Systems["sys-hq"].Placement["floor"]; got != "3" {
		t.Errorf("floor: %q", got)
	}
}

// TestPlacementRefusals: systems that disagree are settled by the module's own placement, and a
// placement that is no object of scalars is refused as the file is read (the bad labels are in
// TestValidateNamesTheField).
func TestPlacementRefusals(t *testing.T) {
	t.Parallel()
	f, err := ParseFile([]byte("drivers: [{id: d1, module_name: X, role: device, binary: /x}]\n" +
		"systems: [{id: s1, name: S, modules: [m1], placement: {site: a}}, {id: s2, name: T, modules: [m1], placement: {site: b}}]\n" +
		"modules: [{id: m1, driver_id: d1, placement: {site: a}}]"))
	if err != nil {
		t.Fatal(err)
	}
	if err := New().Upsert(f).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`drivers: [{id: d1, placement: [site]}]`, `drivers: [{id: d1, placement: {site: {a: 1}}}]`} {
		if _, err := ParseFile([]byte(bad)); err == nil || !strings.Contains(err.Error(), "placement") {
			t.Errorf("%s: error %v, want one about placement", bad, err)
		}
	}
}
