package model

import (
	"errors"
	"fmt"
	"regexp"
)

// idPattern keeps ids safe to use in Redis keys, URLs and file names.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

var roles = map[string]bool{RoleSSH: true, RoleDevice: true, RoleService: true, RoleWebsocket: true, RoleLogic: true}

func invalid(kind, id, field, format string, args ...any) error {
	return fmt.Errorf("%w: %s %q: %s: %s", ErrInvalid, kind, id, field, fmt.Sprintf(format, args...))
}

// Validate checks every entity and every reference between them. It returns all problems found,
// joined, so that a model file can be fixed in one go.
func (m *Model) Validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	checkID := func(kind, key, id string) {
		switch {
		case !idPattern.MatchString(id):
			add(invalid(kind, id, "id", "must match %s", idPattern))
		case key != id:
			add(invalid(kind, id, "id", "stored under %q", key))
		}
	}
	for k, r := range m.Repositories {
		checkID("repository", k, r.ID)
		if r.URI == "" {
			add(invalid("repository", r.ID, "uri", "is required"))
		}
	}
	for k, d := range m.Drivers {
		checkID("driver", k, d.ID)
		if d.ModuleName == "" {
			add(invalid("driver", d.ID, "module_name", "is required"))
		}
		if !roles[d.Role] {
			add(invalid("driver", d.ID, "role", "%q is not one of ssh, device, service, websocket, logic", d.Role))
		}
		switch {
		case d.Binary == "" && d.RepositoryID == "":
			add(invalid("driver", d.ID, "binary", "a driver needs either binary or repository_id + path"))
		case d.Binary != "" && d.RepositoryID != "":
			add(invalid("driver", d.ID, "binary", "give either binary or repository_id, not both"))
		case d.RepositoryID != "" && m.Repositories[d.RepositoryID] == nil:
			add(invalid("driver", d.ID, "repository_id", "no repository %q", d.RepositoryID))
		case d.RepositoryID != "" && d.Path == "":
			add(invalid("driver", d.ID, "path", "is required with repository_id"))
		}
	}
	for k, mod := range m.Modules {
		checkID("module", k, mod.ID)
		d := m.Drivers[mod.DriverID]
		if d == nil {
			add(invalid("module", mod.ID, "driver_id", "no driver %q", mod.DriverID))
		}
		if mod.Port < 0 || mod.Port > 65535 {
			add(invalid("module", mod.ID, "port", "%d is out of range", mod.Port))
		}
		if mod.ControlSystemID != "" && m.Systems[mod.ControlSystemID] == nil {
			add(invalid("module", mod.ID, "control_system_id", "no system %q", mod.ControlSystemID))
		}
		if d != nil && d.Role == RoleLogic && mod.ControlSystemID == "" {
			add(invalid("module", mod.ID, "control_system_id", "is required for a logic module"))
		}
	}
	for k, s := range m.Systems {
		checkID("system", k, s.ID)
		for i, id := range s.Modules {
			if m.Modules[id] == nil {
				add(invalid("system", s.ID, fmt.Sprintf("modules[%d]", i), "no module %q", id))
			}
		}
		for i, id := range s.Zones {
			if m.Zones[id] == nil {
				add(invalid("system", s.ID, fmt.Sprintf("zones[%d]", i), "no zone %q", id))
			}
		}
	}
	for k, z := range m.Zones {
		checkID("zone", k, z.ID)
	}
	return errors.Join(errs...)
}
