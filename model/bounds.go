package model

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/placeos-go/engine/call"
)

// checkBounds refuses a write (f, about to be applied to cur) whose ids, references or names
// break call.CheckIdentifier: longer than call.MaxIdentifierBytes, or not UTF-8. Each becomes a
// Raft log entry, a Redis key or a slug a client puts in a URL, a log field; unbounded, one write
// holds a megabyte of each (the body limit). The message names the field and its length, never
// the value.
//
// It runs where a write is accepted, before it is proposed (Seal), never in a store's
// deterministic apply or a snapshot's restore: a model an older engine wrote, with a longer name,
// replays and loads as it was. A name over the bound that cur already holds for the same entity
// is kept (a --model file applied before the upgrade applies again; a PATCH of another field goes
// through); only a new or changed one is refused. Ids never needed that: they have always been
// at most 128 bytes (idPattern).
func (f *File) checkBounds(cur *Model) error {
	var errs []error
	// entity reports whether an entity's id is within the bound, so that its fields can be
	// checked under its name.
	entity := func(kind, id string) bool {
		if err := call.CheckIdentifier("id", id); err != nil {
			errs = append(errs, fmt.Errorf("%w: a %s: %w", ErrInvalid, kind, err))
			return false
		}
		return true
	}
	// check checks one field; kept: cur holds this very value for the entity.
	check := func(kind, id, field, value string, kept bool) {
		if err := call.CheckIdentifier(field, value); err != nil && !kept {
			errs = append(errs, fmt.Errorf("%w: %s %q: %w", ErrInvalid, kind, id, err))
		}
	}
	for _, r := range f.Repositories {
		if r != nil && entity("repository", r.ID) {
			was := cur.Repositories[r.ID]
			check("repository", r.ID, "name", r.Name, was != nil && was.Name == r.Name)
		}
	}
	for _, d := range f.Drivers {
		if d != nil && entity("driver", d.ID) {
			was := cur.Drivers[d.ID]
			check("driver", d.ID, "name", d.Name, was != nil && was.Name == d.Name)
			check("driver", d.ID, "module_name", d.ModuleName, was != nil && was.ModuleName == d.ModuleName)
			check("driver", d.ID, "repository_id", d.RepositoryID, false)
		}
	}
	for _, z := range f.Zones {
		if z != nil && entity("zone", z.ID) {
			was := cur.Zones[z.ID]
			check("zone", z.ID, "name", z.Name, was != nil && was.Name == z.Name)
		}
	}
	for _, s := range f.Systems {
		if s != nil && entity("system", s.ID) {
			was := cur.Systems[s.ID]
			check("system", s.ID, "name", s.Name, was != nil && was.Name == s.Name)
			for i, id := range s.Modules {
				check("system", s.ID, "modules["+strconv.Itoa(i)+"]", id, false)
			}
			for i, id := range s.Zones {
				check("system", s.ID, "zones["+strconv.Itoa(i)+"]", id, false)
			}
		}
	}
	for _, m := range f.Modules {
		if m != nil && entity("module", m.ID) {
			was := cur.Modules[m.ID]
			check("module", m.ID, "custom_name", m.CustomName, was != nil && was.CustomName == m.CustomName)
			check("module", m.ID, "driver_id", m.DriverID, false)
			check("module", m.ID, "control_system_id", m.ControlSystemID, false)
		}
	}
	return errors.Join(errs...)
}
