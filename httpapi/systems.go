package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
)

// slugTarget reads {sys} and {slug} from the route.
func slugTarget(r *http.Request) (call.Target, error) {
	v := mux.Vars(r)
	t := call.Target{SystemID: v["sys"]}
	name, index, err := ParseSlug(v["slug"])
	if err != nil {
		t.Name = v["slug"]
		return t, err
	}
	t.Name, t.Index = name, index
	return t, nil
}

// POST /systems/{sys}/{Name_N}/{fn}
func (s *Server) handleSystemExec(w http.ResponseWriter, r *http.Request) {
	t, err := slugTarget(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	s.serveExec(w, r, t, mux.Vars(r)["fn"])
}

// GET /systems/{sys}/{Name_N}: the module's status with values as JSON text.
func (s *Server) handleSystemState(w http.ResponseWriter, r *http.Request) {
	s.withSystemModule(w, r, "{}", func(t call.Target) { s.serveState(w, r, t) })
}

// GET /systems/{sys}/{Name_N}/{status}: one status, parsed, or null.
func (s *Server) handleSystemStatus(w http.ResponseWriter, r *http.Request) {
	s.withSystemModule(w, r, "null", func(t call.Target) { s.serveStatus(w, r, t, mux.Vars(r)["status"]) })
}

// withSystemModule resolves the module a state route names and hands it to serve. A module that
// is not in the system answers missing ({} or null), as PlaceOS does; a missing system is a 404.
func (s *Server) withSystemModule(w http.ResponseWriter, r *http.Request, missing string, serve func(call.Target)) {
	t, err := slugTarget(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	id, err := s.cfg.Engine.Resolve(r.Context(), t)
	switch {
	case err == nil:
		t.ModuleID = id
		serve(t)
	case errors.Is(err, errkind.NotFound) && !errors.Is(err, errkind.SystemNotFound):
		writeRaw(w, http.StatusOK, []byte(missing))
	default:
		s.writeError(w, r, err, t)
	}
}

func (s *Server) serveState(w http.ResponseWriter, r *http.Request, t call.Target) {
	state, err := s.cfg.Engine.State(r.Context(), t.ModuleID)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if state == nil {
		state = map[string]string{}
	}
	writeJSON(w, http.StatusOK, state)
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request, t call.Target, name string) {
	val, found, err := s.cfg.Engine.StateValue(r.Context(), t.ModuleID, name)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if !found {
		writeRaw(w, http.StatusOK, []byte("null"))
		return
	}
	if !json.Valid(val) {
		s.writeError(w, r, errkind.Wrap(errCorruptStatus, nil, "status %s of module %s is not valid JSON", name, t.ModuleID), t)
		return
	}
	writeRaw(w, http.StatusOK, val)
}

// GET /systems/{sys}/types: module counts by resolved name.
func (s *Server) handleTypes(w http.ResponseWriter, r *http.Request) {
	t := call.Target{SystemID: mux.Vars(r)["sys"]}
	types, err := s.cfg.Engine.Types(r.Context(), t.SystemID)
	if errors.Is(err, errkind.NotFound) {
		err = errkind.Wrap(errkind.SystemNotFound, nil, "could not find system %s", t.SystemID)
	}
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if types == nil {
		types = map[string]int{}
	}
	writeJSON(w, http.StatusOK, types)
}
