package model

import (
	"maps"

	"github.com/placeos-go/engine/auth"
)

// redactProtectedModules hides, from a reader below support, the plain settings of every module
// whose resolved name makes it protected (auth.ModuleAllowed: PlaceOS's "_"-prefixed internal
// logic and triggers). Such a reader may not read the module's statuses, call it or list its
// functions (docs/protocol.md §8.3); its settings say as much about what it does (the rooms it
// watches, the thresholds it acts on) as its statuses. Each value becomes RedactedValue and its key
// stays, as for a protected value above the reader's clearance, so the reader learns that the
// module exists and which keys it has, as PlaceOS lists it, and nothing of their values. Its
// protected levels need support anyway, and its driver's settings are the driver's, whichever
// module uses them. m is a copy Redacted owns; modules are replaced, never changed in place.
func (m *Model) redactProtectedModules(c auth.Clearance) {
	cloned := false
	for id, mod := range m.Modules {
		if len(mod.Settings) == 0 || auth.ModuleAllowed(m.ResolvedName(mod), c) {
			continue
		}
		if !cloned {
			m.Modules, cloned = maps.Clone(m.Modules), true
		}
		cp := *mod
		cp.Settings = make(Settings, len(mod.Settings))
		for key := range mod.Settings {
			cp.Settings[key] = redactedJSON
		}
		m.Modules[id] = &cp
	}
}
