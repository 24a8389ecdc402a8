package model

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/placeos-go/engine/placement"
)

// Roles of a driver (docs/protocol.md §2).
const (
	RoleSSH       = "ssh"
	RoleDevice    = "device"
	RoleService   = "service"
	RoleWebsocket = "websocket"
	RoleLogic     = "logic"
)

// Settings is a JSON object; values stay raw so that nothing is lost in a round trip.
type Settings map[string]json.RawMessage

// Repository is a git repository holding driver source.
type Repository struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	URI    string `json:"uri"`
	Branch string `json:"branch,omitempty"`
	Commit string `json:"commit,omitempty"`
}

// Driver is a kind of device the engine can talk to.
type Driver struct {
	ID           string   `json:"id"`
	Name         string   `json:"name,omitempty"`
	ModuleName   string   `json:"module_name"`
	Role         string   `json:"role"`
	RepositoryID string   `json:"repository_id,omitempty"`
	Path         string   `json:"path,omitempty"`
	Commit       string   `json:"commit,omitempty"`
	Binary       string   `json:"binary,omitempty"`
	DefaultPort  int      `json:"default_port,omitempty"`
	DefaultURI   string   `json:"default_uri,omitempty"`
	Settings     Settings `json:"settings,omitempty"`
	// ProtectedSettings are settings above level none (docs/protocol.md §2.5), sealed in the store.
	ProtectedSettings []Protected `json:"protected_settings,omitempty"`
	// Placement constrains the nodes that host its modules (placement.go).
	Placement placement.Labels `json:"placement,omitempty"`
	// MemoryLimit overrides the engine's --driver-memory-limit for this driver's processes
	// ("1GiB", "off"); see ParseMemoryLimit.
	MemoryLimit string `json:"memory_limit,omitempty"`
}

// Module is one configured device or service.
type Module struct {
	ID              string   `json:"id"`
	DriverID        string   `json:"driver_id"`
	ControlSystemID string   `json:"control_system_id,omitempty"`
	IP              string   `json:"ip,omitempty"`
	Port            int      `json:"port,omitempty"`
	TLS             bool     `json:"tls,omitempty"`
	UDP             bool     `json:"udp,omitempty"`
	Makebreak       bool     `json:"makebreak,omitempty"`
	URI             string   `json:"uri,omitempty"`
	CustomName      string   `json:"custom_name,omitempty"`
	Running         bool     `json:"running"`
	Notes           string   `json:"notes,omitempty"`
	Settings        Settings `json:"settings,omitempty"`
	// ProtectedSettings are settings above level none (docs/protocol.md §2.5), sealed in the store.
	ProtectedSettings []Protected `json:"protected_settings,omitempty"`
	// Placement constrains the nodes that may host it; it wins over its systems' and driver's.
	Placement placement.Labels `json:"placement,omitempty"`
}

// System is a room: an ordered list of modules.
type System struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Modules     []string `json:"modules"`
	Zones       []string `json:"zones,omitempty"`
	Settings    Settings `json:"settings,omitempty"`
	Email       string   `json:"email,omitempty"`
	Features    []string `json:"features,omitempty"`
	Bookable    bool     `json:"bookable,omitempty"`
	Capacity    int      `json:"capacity,omitempty"`
	Timezone    string   `json:"timezone,omitempty"`
	// ProtectedSettings are settings above level none (docs/protocol.md §2.5), sealed in the store.
	ProtectedSettings []Protected `json:"protected_settings,omitempty"`
	// Placement constrains the nodes that host its modules, unless a module has its own.
	Placement placement.Labels `json:"placement,omitempty"`
}

// Zone groups systems and carries settings.
type Zone struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Settings    Settings `json:"settings,omitempty"`
	// ProtectedSettings are settings above level none (docs/protocol.md §2.5), sealed in the store.
	ProtectedSettings []Protected `json:"protected_settings,omitempty"`
}

// Model is the whole desired state. Treat a published Model as read-only.
type Model struct {
	Repositories map[string]*Repository
	Drivers      map[string]*Driver
	Modules      map[string]*Module
	Systems      map[string]*System
	Zones        map[string]*Zone
}

// New returns an empty model.
func New() *Model {
	return &Model{
		Repositories: map[string]*Repository{},
		Drivers:      map[string]*Driver{},
		Modules:      map[string]*Module{},
		Systems:      map[string]*System{},
		Zones:        map[string]*Zone{},
	}
}

// Clone returns a copy whose maps can be changed; entities are shared, so replace an entity
// rather than editing it in place.
func (m *Model) Clone() *Model {
	return &Model{
		Repositories: maps.Clone(m.Repositories),
		Drivers:      maps.Clone(m.Drivers),
		Modules:      maps.Clone(m.Modules),
		Systems:      maps.Clone(m.Systems),
		Zones:        maps.Clone(m.Zones),
	}
}

// File is the model file and API list format: each key a list of entities.
type File struct {
	Repositories []*Repository `json:"repositories,omitempty"`
	Drivers      []*Driver     `json:"drivers,omitempty"`
	Modules      []*Module     `json:"modules,omitempty"`
	Systems      []*System     `json:"systems,omitempty"`
	Zones        []*Zone       `json:"zones,omitempty"`
}

// File returns the model as lists sorted by id, for stable output.
func (m *Model) File() *File {
	return &File{
		Repositories: sortedValues(m.Repositories, func(r *Repository) string { return r.ID }),
		Drivers:      sortedValues(m.Drivers, func(d *Driver) string { return d.ID }),
		Modules:      sortedValues(m.Modules, func(d *Module) string { return d.ID }),
		Systems:      sortedValues(m.Systems, func(d *System) string { return d.ID }),
		Zones:        sortedValues(m.Zones, func(d *Zone) string { return d.ID }),
	}
}

func sortedValues[T any](m map[string]*T, id func(*T) string) []*T {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b *T) int { return strings.Compare(id(a), id(b)) })
	return out
}

// ResolvedName is the module's name in a system: custom_name if set, else the driver's
// module_name.
func (m *Model) ResolvedName(mod *Module) string {
	if mod.CustomName != "" {
		return mod.CustomName
	}
	if d := m.Drivers[mod.DriverID]; d != nil {
		return d.ModuleName
	}
	return ""
}

// Lookup returns the system's name table: "Name/N" -> module id (SystemModules).
func (m *Model) Lookup(sys *System) map[string]string {
	entries := m.SystemModules(sys)
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		out[e.Name+"/"+strconv.Itoa(e.Index)] = e.ID
	}
	return out
}

// SystemModule is a module as its system names it: Display_2 is Name "Display", Index 2.
type SystemModule struct {
	ID, Name string
	Index    int
}

// SystemModules names the system's modules in its order, numbering each resolved name from 1.
// Module ids with no module, and modules without a name, are skipped.
func (m *Model) SystemModules(sys *System) []SystemModule {
	out := make([]SystemModule, 0, len(sys.Modules))
	counts := map[string]int{}
	for _, id := range sys.Modules {
		mod := m.Modules[id]
		if mod == nil {
			continue
		}
		name := m.ResolvedName(mod)
		if name == "" {
			continue
		}
		counts[name]++
		out = append(out, SystemModule{ID: id, Name: name, Index: counts[name]})
	}
	return out
}

// MergedSettings returns the settings a module receives (docs/protocol.md §2.5), merged
// shallowly (top-level keys), highest precedence first: module, system (logic modules only),
// zones (the last zone in the system's list highest), driver. Within each of them the protected
// levels rank above the plain settings, never_displayed over admin over support. Protected
// values are opened with k; one that does not open (no key, another key) fails the merge, so a
// module never starts with a secret silently missing.
func (m *Model) MergedSettings(mod *Module, k *Keyring) (Settings, error) {
	out := Settings{}
	err := m.settingOwners(mod, func(kind Kind, id string, plain Settings, ps []Protected) error {
		return mergeOwner(out, k, kind, id, plain, ps)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// settingOwners calls fn with each entity whose settings a module's merge (MergedSettings),
// lowest precedence first: its driver; for a logic module its system's zones, then its system;
// the module itself.
func (m *Model) settingOwners(mod *Module, fn func(kind Kind, id string, plain Settings, ps []Protected) error) error {
	d := m.Drivers[mod.DriverID]
	if d != nil {
		if err := fn(KindDriver, d.ID, d.Settings, d.ProtectedSettings); err != nil {
			return err
		}
	}
	if d != nil && d.Role == RoleLogic {
		if sys := m.Systems[mod.ControlSystemID]; sys != nil {
			for _, zid := range sys.Zones {
				if z := m.Zones[zid]; z != nil {
					if err := fn(KindZone, z.ID, z.Settings, z.ProtectedSettings); err != nil {
						return err
					}
				}
			}
			if err := fn(KindSystem, sys.ID, sys.Settings, sys.ProtectedSettings); err != nil {
				return err
			}
		}
	}
	return fn(KindModule, mod.ID, mod.Settings, mod.ProtectedSettings)
}
