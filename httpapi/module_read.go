package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/model"
)

// moduleRead is a module as PlaceOS front-ends read it: the model entity, the runtime fields
// computed for this read (never stored), and in lists (or with ?complete=true) its driver and,
// for a logic module, its system, so a list can show readable names without a read per module.
// A write sending these fields back has them ignored (readOnlyFields).
type moduleRead struct {
	*model.Module
	*call.ModuleRuntime              // nil when they cannot be read (Redis away): the fields are left out
	Driver              *driverBrief `json:"driver,omitempty"`
	ControlSystem       *systemBrief `json:"control_system,omitempty"`
}

// driverBrief is the part of a driver a module list shows. PlaceOS shows its name and
// description; an engine driver has no description, and its module_name and role say what it is.
type driverBrief struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	ModuleName string `json:"module_name"`
	Role       string `json:"role"`
}

// systemBrief is the system of a logic module as PlaceOS's module list shows it: its name and
// its zones (as the caller reads them), whose settings the module inherits.
type systemBrief struct {
	ID       string        `json:"id"`
	Name     string        `json:"name"`
	ZoneData []*model.Zone `json:"zone_data"`
}

// writeEntity answers one entity of m as every read shows it: a module as a moduleRead.
func (s *Server) writeEntity(w http.ResponseWriter, r *http.Request, status int, m *model.Model, e any) {
	if mod, ok := e.(*model.Module); ok {
		s.writeModules(w, r, status, m, []*model.Module{mod}, false)
		return
	}
	writeJSON(w, status, e)
}

// writeModules answers mods (one: an object; a list page: an array) as moduleReads, from m, the
// model as the caller reads it. A list, or ?complete=true, adds their drivers and systems. Every
// module read goes through here, so the protected-module rule for runtime fields lives here.
func (s *Server) writeModules(w http.ResponseWriter, r *http.Request, status int, m *model.Model, mods []*model.Module, list bool) {
	rts, err := s.cfg.Engine.ModuleRuntime(r.Context(), mods)
	if err != nil {
		// The entities are in the model whatever Redis does: a management read (or the answer to
		// a write that is done) goes on without the runtime fields rather than fail.
		s.log.Warn("module read without its runtime fields", "modules", len(mods), "error", err,
			"request_id", RequestID(r.Context()))
	}
	complete := list || r.URL.Query().Get("complete") == "true"
	clearance := auth.CallerFrom(r.Context()).Clearance
	out := make([]moduleRead, len(mods))
	for i, mod := range mods {
		out[i].Module = mod
		// A protected module's runtime fields are its state (connected, the driver's words of a
		// failed start): a caller who may not read its statuses (docs/protocol.md §8.3) reads
		// the entity without them, as when Redis is away.
		if err == nil && auth.ModuleAllowed(m.ResolvedName(mod), clearance) {
			out[i].ModuleRuntime = &rts[i]
		}
		if complete {
			out[i].Driver, out[i].ControlSystem = driverOf(m, mod), systemOfModule(m, mod)
		}
	}
	if list {
		writeJSON(w, status, out)
		return
	}
	writeJSON(w, status, out[0])
}

func driverOf(m *model.Model, mod *model.Module) *driverBrief {
	d := m.Drivers[mod.DriverID]
	if d == nil {
		return nil
	}
	return &driverBrief{ID: d.ID, Name: d.Name, ModuleName: d.ModuleName, Role: d.Role}
}

func systemOfModule(m *model.Model, mod *model.Module) *systemBrief {
	sys := m.Systems[mod.ControlSystemID]
	if sys == nil {
		return nil
	}
	b := &systemBrief{ID: sys.ID, Name: sys.Name, ZoneData: []*model.Zone{}}
	for _, id := range sys.Zones {
		if z := m.Zones[id]; z != nil {
			b.ZoneData = append(b.ZoneData, z)
		}
	}
	return b
}

// readOnlyFields are the fields a read of the kind adds to the entity (moduleRead). PlaceOS
// front-ends PUT or PATCH back the object they read, so a write ignores these; any other field
// the entity does not have is still refused.
var readOnlyFields = map[model.Kind][]string{
	model.KindModule: {"core_node", "connected", "has_runtime_error", "error_timestamp", "driver_not_built", "runtime_error", "driver", "control_system"},
}

// withoutReadOnly is raw, a JSON object of kind, without its read-only fields. Anything else is
// left for the strict decoding to refuse.
func withoutReadOnly(raw json.RawMessage, kind model.Kind) json.RawMessage {
	names := readOnlyFields[kind]
	if len(names) == 0 {
		return raw
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return raw
	}
	n := len(obj)
	for _, name := range names {
		delete(obj, name)
	}
	if len(obj) == n {
		return raw
	}
	out, _ := json.Marshal(obj)
	return out
}
