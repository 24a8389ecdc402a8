package httpapi

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
)

// listFilter is the entities of kind, sorted by id, narrowed by the query filters PlaceOS's list
// routes have and the engine's model can answer: modules by control_system_id (in the system's
// order, as PlaceOS lists a system's modules) and driver_id, systems by zone_id and module_id,
// drivers by repository_id. A filter naming an entity that does not exist is a 404, as PlaceOS's
// control_system_id is.
func listFilter(m *model.Model, kind model.Kind, q url.Values) ([]any, error) {
	all := m.List(kind)
	keep := func(ok func(any) bool) []any {
		out := all[:0:0]
		for _, e := range all {
			if ok(e) {
				out = append(out, e)
			}
		}
		return out
	}
	switch kind {
	case model.KindModule:
		if sysID := q.Get("control_system_id"); sysID != "" {
			sys := m.Systems[sysID]
			if sys == nil {
				return nil, errkind.Wrap(model.ErrNotFound, nil, "system %q not found", sysID)
			}
			all = all[:0:0]
			for _, id := range sys.Modules {
				if mod := m.Modules[id]; mod != nil {
					all = append(all, mod)
				}
			}
		}
		if d := q.Get("driver_id"); d != "" {
			all = keep(func(e any) bool { return e.(*model.Module).DriverID == d })
		}
	case model.KindSystem:
		if z := q.Get("zone_id"); z != "" {
			all = keep(func(e any) bool { return slices.Contains(e.(*model.System).Zones, z) })
		}
		if mod := q.Get("module_id"); mod != "" {
			all = keep(func(e any) bool { return slices.Contains(e.(*model.System).Modules, mod) })
		}
	case model.KindDriver:
		if repo := q.Get("repository_id"); repo != "" {
			all = keep(func(e any) bool { return e.(*model.Driver).RepositoryID == repo })
		}
	}
	return all, nil
}

// searchText is what q searches in an entity: its id and its names.
func searchText(m *model.Model, e any) []string {
	switch v := e.(type) {
	case *model.Repository:
		return []string{v.ID, v.Name}
	case *model.Driver:
		return []string{v.ID, v.Name, v.ModuleName}
	case *model.Module:
		return []string{v.ID, m.ResolvedName(v)}
	case *model.System:
		return []string{v.ID, v.Name}
	case *model.Zone:
		return []string{v.ID, v.Name}
	}
	return nil
}

// GET /systems/{sys}/zones: the system's zones in its order (the order of zone settings), paged
// like every list.
func (s *Server) handleSystemZones(w http.ResponseWriter, r *http.Request) {
	lq, err := parseListQuery(r)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	m, sys, ok := s.readSystem(w, r)
	if !ok {
		return
	}
	zones := make([]*model.Zone, 0, len(sys.Zones))
	for _, id := range sys.Zones {
		if z := m.Zones[id]; z != nil {
			zones = append(zones, z)
		}
	}
	writeList(w, r, lq, string(model.KindZone), zones, func(z *model.Zone) []string { return searchText(m, z) })
}

// readSystem is the model as the caller reads it and the system the route's {sys} names (a
// missing one is system_not_found, as on every /systems/{sys}/… client route); false when the
// response is written.
func (s *Server) readSystem(w http.ResponseWriter, r *http.Request) (*model.Model, *model.System, bool) {
	t := call.Target{SystemID: r.PathValue("sys")}
	m, ok := s.modelForRead(w, r, t)
	if !ok {
		return nil, nil, false
	}
	sys, err := systemOf(m, t.SystemID)
	if err != nil {
		s.writeError(w, r, err, t)
		return nil, nil, false
	}
	return m, sys, true
}

// systemOf is the system id names; system_not_found when there is none.
func systemOf(m *model.Model, id string) (*model.System, error) {
	sys := m.Systems[id]
	if sys == nil {
		return nil, errkind.Wrap(errkind.SystemNotFound, nil, "could not find system %s", id)
	}
	return sys, nil
}
