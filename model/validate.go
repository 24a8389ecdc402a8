package model

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
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
	// source reports a field that reaches git, the go tool or the file system and breaks its
	// rule (source.go, the rules the builder applies too).
	source := func(kind, id, field, value, problem string) {
		switch {
		case problem == "":
		case value == "":
			add(invalid(kind, id, field, "%s", problem))
		default:
			add(invalid(kind, id, fmt.Sprintf("%s %q", field, value), "%s", problem))
		}
	}
	for k, r := range m.Repositories {
		checkID("repository", k, r.ID)
		source("repository", r.ID, "uri", RedactURI(r.URI), uriProblem(r.URI))
		if r.Branch != "" {
			source("repository", r.ID, "branch", r.Branch, branchProblem(r.Branch))
		}
		if r.Commit != "" {
			source("repository", r.ID, "commit", r.Commit, commitProblem(r.Commit))
		}
	}
	for k, d := range m.Drivers {
		checkID("driver", k, d.ID)
		checkProtected(add, "driver", d.ID, d.ProtectedSettings)
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
		if d.Path != "" {
			source("driver", d.ID, "path", d.Path, driverPathProblem(d.Path))
		}
		if d.Commit != "" {
			source("driver", d.ID, "commit", d.Commit, commitProblem(d.Commit))
		}
		if _, err := ParseMemoryLimit(d.MemoryLimit); err != nil {
			add(invalid("driver", d.ID, "memory_limit", "%v", err))
		}
	}
	for k, mod := range m.Modules {
		checkID("module", k, mod.ID)
		checkProtected(add, "module", mod.ID, mod.ProtectedSettings)
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
		checkProtected(add, "system", s.ID, s.ProtectedSettings)
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
		checkProtected(add, "zone", z.ID, z.ProtectedSettings)
	}
	m.checkPlacements(add)
	return errors.Join(errs...)
}

// checkProtected checks an entity's protected settings: known levels, each at most once (so a
// key cannot be given twice at one level), and every value sealed — a store never holds a
// protected value in clear (File.Seal runs before a write is proposed).
func checkProtected(add func(error), kind, id string, ps []Protected) {
	seen := map[Level]int{}
	for i, p := range ps {
		field := fmt.Sprintf("protected_settings[%d]", i)
		switch {
		case p.Level == LevelNone:
			add(invalid(kind, id, field+".level", "none is the level of the plain settings field; use settings"))
		case !slices.Contains(protectedLevels, p.Level):
			add(invalid(kind, id, field+".level", "%q is not one of support, admin, never_displayed", p.Level))
		}
		if j, dup := seen[p.Level]; dup {
			add(invalid(kind, id, field+".level", "%s is already given in protected_settings[%d]; put its settings in one entry", p.Level, j))
		} else {
			seen[p.Level] = i
		}
		for _, key := range slices.Sorted(maps.Keys(p.Settings)) {
			if _, err := sealedKeyID(p.Settings[key]); err != nil {
				add(invalid(kind, id, field+".settings."+key, "is not sealed (protected values are stored encrypted by the node that accepts the write)"))
			}
		}
	}
}
