package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/placeos-go/engine/placement"
)

// Placement returns the constraint that places a module (nil: any node): its own, else its
// systems', else its driver's. The systems are those listing the module and its
// control_system_id; Validate refuses a model where two of them carry different constraints and
// the module has none of its own, so whichever carries one speaks for all.
func (m *Model) Placement(mod *Module) placement.Labels {
	return m.placementOf(mod, m.systemsOf())
}

// Placements returns the constraint of every module that has one, by module id.
func (m *Model) Placements() map[string]placement.Labels {
	out := map[string]placement.Labels{}
	if !m.hasPlacement() {
		return out // the common case, read on every reconcile pass: no index to build
	}
	systems := m.systemsOf()
	for id, mod := range m.Modules {
		if c := m.placementOf(mod, systems); len(c) > 0 {
			out[id] = c
		}
	}
	return out
}

// hasPlacement reports whether any driver, system or module carries a constraint.
func (m *Model) hasPlacement() bool {
	for _, d := range m.Drivers {
		if len(d.Placement) > 0 {
			return true
		}
	}
	for _, s := range m.Systems {
		if len(s.Placement) > 0 {
			return true
		}
	}
	for _, mod := range m.Modules {
		if len(mod.Placement) > 0 {
			return true
		}
	}
	return false
}

// systemsOf maps a module id to the ids of the systems that list it or that it names as its
// control system, sorted.
func (m *Model) systemsOf() map[string][]string {
	out := map[string][]string{}
	add := func(mod, sys string) {
		if !slices.Contains(out[mod], sys) {
			out[mod] = append(out[mod], sys)
		}
	}
	for _, sys := range m.Systems {
		for _, id := range sys.Modules {
			add(id, sys.ID)
		}
	}
	for _, mod := range m.Modules {
		if mod.ControlSystemID != "" {
			add(mod.ID, mod.ControlSystemID)
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

func (m *Model) placementOf(mod *Module, systems map[string][]string) placement.Labels {
	if len(mod.Placement) > 0 {
		return mod.Placement
	}
	for _, id := range systems[mod.ID] {
		if sys := m.Systems[id]; sys != nil && len(sys.Placement) > 0 {
			return sys.Placement
		}
	}
	if d := m.Drivers[mod.DriverID]; d != nil {
		return d.Placement
	}
	return nil
}

// checkPlacements reports constraints with bad labels, and modules without a constraint of their
// own in systems whose constraints differ.
func (m *Model) checkPlacements(add func(error)) {
	check := func(kind, id string, c placement.Labels) {
		if err := c.Check(); err != nil {
			add(invalid(kind, id, "placement", "%v", err))
		}
	}
	for _, d := range m.Drivers {
		check("driver", d.ID, d.Placement)
	}
	placedSystems := false
	for _, s := range m.Systems {
		check("system", s.ID, s.Placement)
		placedSystems = placedSystems || len(s.Placement) > 0
	}
	for _, mod := range m.Modules {
		check("module", mod.ID, mod.Placement)
	}
	if !placedSystems {
		return // no systems to disagree: no index to build on every write
	}
	systems := m.systemsOf()
	for _, mod := range m.Modules {
		if len(mod.Placement) > 0 {
			continue
		}
		seen := map[string][]string{} // constraint -> systems carrying it
		for _, id := range systems[mod.ID] {
			if sys := m.Systems[id]; sys != nil && len(sys.Placement) > 0 {
				seen[sys.Placement.String()] = append(seen[sys.Placement.String()], id)
			}
		}
		if len(seen) > 1 {
			var parts []string
			for _, c := range slices.Sorted(maps.Keys(seen)) {
				parts = append(parts, fmt.Sprintf("%s (%s)", c, strings.Join(seen[c], ", ")))
			}
			add(invalid("module", mod.ID, "placement", "its systems place it differently: %s; give the module a placement of its own", strings.Join(parts, " vs ")))
		}
	}
}
