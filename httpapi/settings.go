package httpapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
)

// settingsObject is one level of one entity's settings in the shape of PlaceOS's Settings model,
// which front-ends show and edit (docs/protocol.md §9.4). The engine keeps settings inside their
// entity, so id is made from the owner and level, there is no history (settings_id is null) and
// no timestamps.
type settingsObject struct {
	ID              string   `json:"id"`
	ParentID        string   `json:"parent_id"`
	ParentType      string   `json:"parent_type"`
	EncryptionLevel int      `json:"encryption_level"`
	SettingsString  string   `json:"settings_string"`
	Keys            []string `json:"keys"`
	SettingsID      *string  `json:"settings_id"`
}

// encryptionLevels are PlaceOS's numbers for the levels (None 0, Support 1, Admin 2,
// NeverDisplay 3).
var encryptionLevels = map[model.Level]int{model.LevelNone: 0, model.LevelSupport: 1, model.LevelAdmin: 2, model.LevelNeverDisplayed: 3}

// parentTypes are PlaceOS's class names of settings owners.
var parentTypes = map[model.Kind]string{model.KindDriver: "Driver", model.KindModule: "Module", model.KindSystem: "ControlSystem", model.KindZone: "Zone"}

// settingsOf appends an owner's levels that hold settings, highest level first (the order in
// which they win, docs/protocol.md §2.5). The owner comes from the model as the caller reads it,
// so a value above the caller's clearance is already "[redacted]" (its key still listed).
func settingsOf(out []settingsObject, kind model.Kind, id string, plain model.Settings, ps []model.Protected) []settingsObject {
	byLevel := map[model.Level]model.Settings{model.LevelNone: plain}
	for _, p := range ps {
		byLevel[p.Level] = p.Settings
	}
	for _, level := range []model.Level{model.LevelNeverDisplayed, model.LevelAdmin, model.LevelSupport, model.LevelNone} {
		s := byLevel[level]
		if len(s) == 0 {
			continue
		}
		text, _ := json.Marshal(s)
		out = append(out, settingsObject{
			ID:              "sets-" + id + "-" + string(level),
			ParentID:        id,
			ParentType:      parentTypes[kind],
			EncryptionLevel: encryptionLevels[level],
			SettingsString:  string(text),
			Keys:            slices.Sorted(maps.Keys(s)),
		})
	}
	return out
}

// systemSettings are a system's settings then its zones', in precedence order (the last zone in
// the system's list wins over the others).
func systemSettings(out []settingsObject, m *model.Model, sys *model.System) []settingsObject {
	out = settingsOf(out, model.KindSystem, sys.ID, sys.Settings, sys.ProtectedSettings)
	for _, zid := range slices.Backward(sys.Zones) {
		if z := m.Zones[zid]; z != nil {
			out = settingsOf(out, model.KindZone, z.ID, z.Settings, z.ProtectedSettings)
		}
	}
	return out
}

// GET /systems/{sys}/settings: the system's and its zones' settings objects.
func (s *Server) handleSystemSettings(w http.ResponseWriter, r *http.Request) {
	m, sys, ok := s.readSystem(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, systemSettings([]settingsObject{}, m, sys))
}

// GET /modules/{id}/settings: every level a module's settings are merged from (docs/protocol.md
// §2.5), highest precedence first: the module, for a logic module its system and zones, then
// its driver.
func (s *Server) handleModuleSettings(w http.ResponseWriter, r *http.Request) {
	t := moduleTarget(r)
	m, ok := s.modelForRead(w, r, t)
	if !ok {
		return
	}
	mod := m.Modules[t.ModuleID]
	if mod == nil {
		s.writeError(w, r, errkind.Wrap(errModuleNotFound, nil, "could not find module %s", t.ModuleID), t)
		return
	}
	out := settingsOf([]settingsObject{}, model.KindModule, mod.ID, mod.Settings, mod.ProtectedSettings)
	d := m.Drivers[mod.DriverID]
	if d != nil && d.Role == model.RoleLogic {
		if sys := m.Systems[mod.ControlSystemID]; sys != nil {
			out = systemSettings(out, m, sys)
		}
	}
	if d != nil {
		out = settingsOf(out, model.KindDriver, d.ID, d.Settings, d.ProtectedSettings)
	}
	writeJSON(w, http.StatusOK, out)
}
