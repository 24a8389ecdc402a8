package model

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Kind names an entity type; it is the path segment of the management API.
type Kind string

const (
	KindRepository Kind = "repositories"
	KindDriver     Kind = "drivers"
	KindModule     Kind = "modules"
	KindSystem     Kind = "systems"
	KindZone       Kind = "zones"
)

// Kinds lists every kind, in dependency order (a later kind may refer to an earlier one).
var Kinds = []Kind{KindRepository, KindDriver, KindZone, KindSystem, KindModule}

// ErrReferenced is wrapped when deleting an entity that others still refer to.
var ErrReferenced = fmt.Errorf("%w: still referenced", ErrInvalid)

// Without returns a copy of m without the entity, refusing (and naming the references) when
// something still refers to it.
func (m *Model) Without(kind Kind, id string) (*Model, error) {
	if !m.Has(kind, id) {
		return nil, fmt.Errorf("%s %q: %w", strings.TrimSuffix(string(kind), "s"), id, ErrNotFound)
	}
	if refs := m.References(kind, id); len(refs) > 0 {
		return nil, fmt.Errorf("%w: %s %q is used by %s", ErrReferenced, strings.TrimSuffix(string(kind), "s"), id, strings.Join(refs, ", "))
	}
	next := m.Clone()
	switch kind {
	case KindRepository:
		delete(next.Repositories, id)
	case KindDriver:
		delete(next.Drivers, id)
	case KindModule:
		delete(next.Modules, id)
	case KindSystem:
		delete(next.Systems, id)
	case KindZone:
		delete(next.Zones, id)
	}
	return next, nil
}

// Has reports whether the entity exists.
func (m *Model) Has(kind Kind, id string) bool {
	_, ok := m.Get(kind, id)
	return ok
}

// Get returns the entity of kind with id (a *Repository, *Driver, ...).
func (m *Model) Get(kind Kind, id string) (any, bool) {
	switch kind {
	case KindRepository:
		return lookup(m.Repositories, id)
	case KindDriver:
		return lookup(m.Drivers, id)
	case KindModule:
		return lookup(m.Modules, id)
	case KindSystem:
		return lookup(m.Systems, id)
	case KindZone:
		return lookup(m.Zones, id)
	}
	return nil, false
}

func lookup[T any](entities map[string]*T, id string) (any, bool) {
	e, ok := entities[id]
	return e, ok
}

// List returns every entity of kind, sorted by id.
func (m *Model) List(kind Kind) []any {
	f := m.File()
	switch kind {
	case KindRepository:
		return anys(f.Repositories)
	case KindDriver:
		return anys(f.Drivers)
	case KindModule:
		return anys(f.Modules)
	case KindSystem:
		return anys(f.Systems)
	case KindZone:
		return anys(f.Zones)
	}
	return []any{}
}

func anys[T any](list []*T) []any {
	out := make([]any, len(list))
	for i, e := range list {
		out[i] = e
	}
	return out
}

// References lists, sorted, the entities that refer to the given one ("module \"m1\"").
func (m *Model) References(kind Kind, id string) []string {
	var refs []string
	add := func(k, rid string) { refs = append(refs, fmt.Sprintf("%s %q", k, rid)) }
	switch kind {
	case KindRepository:
		for _, d := range m.Drivers {
			if d.RepositoryID == id {
				add("driver", d.ID)
			}
		}
	case KindDriver:
		for _, mod := range m.Modules {
			if mod.DriverID == id {
				add("module", mod.ID)
			}
		}
	case KindModule:
		for _, s := range m.Systems {
			if slices.Contains(s.Modules, id) {
				add("system", s.ID)
			}
		}
	case KindSystem:
		for _, mod := range m.Modules {
			if mod.ControlSystemID == id {
				add("module", mod.ID)
			}
		}
	case KindZone:
		for _, s := range m.Systems {
			if slices.Contains(s.Zones, id) {
				add("system", s.ID)
			}
		}
	}
	slices.Sort(refs)
	return refs
}

// WithRunning returns a copy of m in which the module's desired state is running.
func (m *Model) WithRunning(moduleID string, running bool) (*Model, error) {
	mod := m.Modules[moduleID]
	if mod == nil {
		return nil, fmt.Errorf("module %q: %w", moduleID, ErrNotFound)
	}
	next := m.Clone()
	cp := *mod
	cp.Running = running
	next.Modules[moduleID] = &cp
	return next, nil
}

// WithSetting returns a copy of m in which the module's own plain setting name is value. Every
// node applies it for a save_setting command, old log entries included, so it writes the plain
// settings whatever protects the key; a save of a protected key is proposed as ProtectedSave's
// write instead, by the node that accepts it.
func (m *Model) WithSetting(moduleID, name string, value json.RawMessage) (*Model, error) {
	mod := m.Modules[moduleID]
	if mod == nil {
		return nil, fmt.Errorf("module %q: %w", moduleID, ErrNotFound)
	}
	if !json.Valid(value) {
		return nil, fmt.Errorf("%w: setting %q of module %q is not valid JSON", ErrInvalid, name, moduleID)
	}
	next := m.Clone()
	cp := *mod
	cp.Settings = maps.Clone(mod.Settings)
	if cp.Settings == nil {
		cp.Settings = Settings{}
	}
	cp.Settings[name] = value
	next.Modules[moduleID] = &cp
	return next, nil
}
