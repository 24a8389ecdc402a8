package model

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// SaveLevel is the level a driver's save of its module's setting name is kept at: the highest
// level at which the module, or an entity whose settings it merges (its driver; for a logic
// module its system and zones), protects a key of that name; LevelNone when none does. Kept
// lower, the value would reach readers the admin kept that key from, and a plain one would not
// even reach the driver while a protected one of the module wins the merge.
func (m *Model) SaveLevel(mod *Module, name string) Level {
	highest := LevelNone
	_ = m.settingOwners(mod, func(_ Kind, _ string, _ Settings, ps []Protected) error {
		for _, p := range ps {
			if _, ok := p.Settings[name]; ok && slices.Index(protectedLevels, p.Level) > slices.Index(protectedLevels, highest) {
				highest = p.Level
			}
		}
		return nil
	})
	return highest
}

// ProtectedSave is the write that keeps value as module moduleID's own setting name at level (a
// protected one, SaveLevel): a file of that module alone, to be sealed and applied as a
// management write of it is (File.Seal, by the store's Apply), so that the value enters the
// Raft log sealed, with the commands every engine version applies alike. Its other protected
// values are RedactedValue, which Seal keeps as stored. A plain setting of the same name is
// dropped: the protected one hides it from the driver, and it would go on showing every reader
// a value the driver replaced.
func (m *Model) ProtectedSave(moduleID, name string, level Level, value json.RawMessage) (*File, error) {
	mod := m.Modules[moduleID]
	if mod == nil {
		return nil, fmt.Errorf("module %q: %w", moduleID, ErrNotFound)
	}
	if !slices.Contains(protectedLevels, level) {
		return nil, fmt.Errorf("%w: setting %q of module %q: %q is not a protected level", ErrInvalid, name, moduleID, level)
	}
	if !json.Valid(value) {
		return nil, fmt.Errorf("%w: setting %q of module %q is not valid JSON", ErrInvalid, name, moduleID)
	}
	if isRedacted(value) {
		// Seal would read it as "keep the stored value": the save would silently do nothing.
		return nil, fmt.Errorf("%w: setting %q of module %q is protected; %q cannot be saved into it", ErrInvalid, name, moduleID, RedactedValue)
	}
	cp := *mod
	if _, ok := mod.Settings[name]; ok {
		cp.Settings = maps.Clone(mod.Settings)
		delete(cp.Settings, name)
	}
	cp.ProtectedSettings = make([]Protected, 0, len(mod.ProtectedSettings)+1)
	placed := false
	for _, p := range mod.ProtectedSettings {
		s := make(Settings, len(p.Settings)+1)
		for key := range p.Settings {
			s[key] = redactedJSON
		}
		if p.Level == level { // a level is given once (Validate)
			s[name], placed = value, true
		}
		cp.ProtectedSettings = append(cp.ProtectedSettings, Protected{Level: p.Level, Settings: s})
	}
	if !placed {
		cp.ProtectedSettings = append(cp.ProtectedSettings, Protected{Level: level, Settings: Settings{name: value}})
	}
	return &File{Modules: []*Module{&cp}}, nil
}

// ProtectedAt is the module's own protected settings of level, as stored (sealed); nil when it
// gives none.
func (mod *Module) ProtectedAt(level Level) Settings {
	for _, p := range mod.ProtectedSettings {
		if p.Level == level {
			return p.Settings
		}
	}
	return nil
}
