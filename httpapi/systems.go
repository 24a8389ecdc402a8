package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/placeos-go/engine/errkind"
)

// slugTarget reads {sys} and {slug} from the route.
func slugTarget(r *http.Request) (target, error) {
	v := mux.Vars(r)
	t := target{SysID: v["sys"]}
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

// resolveForState resolves like resolve, except that a missing module is not an error: the state
// routes answer an empty state for it (PlaceOS never 404s there). A missing system still is.
func (s *Server) resolveForState(r *http.Request, t target) (string, bool, error) {
	id, err := s.resolve(r.Context(), t)
	switch {
	case err == nil:
		return id, true, nil
	case errors.Is(err, ErrModuleNotFound):
		return "", false, nil
	}
	return "", false, err
}

// GET /systems/{sys}/{Name_N}: the module's status with values as JSON text.
func (s *Server) handleSystemState(w http.ResponseWriter, r *http.Request) {
	s.withSystemModule(w, r, "{}", func(t target) { s.serveState(w, r, t) })
}

// GET /systems/{sys}/{Name_N}/{status}: one status, parsed, or null.
func (s *Server) handleSystemStatus(w http.ResponseWriter, r *http.Request) {
	s.withSystemModule(w, r, "null", func(t target) { s.serveStatus(w, r, t, mux.Vars(r)["status"]) })
}

// withSystemModule resolves the module a state route names and hands it to serve; a module that
// is not in the system answers missing ({} or null), as PlaceOS does.
func (s *Server) withSystemModule(w http.ResponseWriter, r *http.Request, missing string, serve func(target)) {
	t, err := slugTarget(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	id, ok, err := s.resolveForState(r, t)
	switch {
	case err != nil:
		s.writeError(w, r, err, t)
	case !ok:
		writeRaw(w, http.StatusOK, []byte(missing))
	default:
		t.ModuleID = id
		serve(t)
	}
}

func (s *Server) serveState(w http.ResponseWriter, r *http.Request, t target) {
	state, err := s.cfg.Modules.State(r.Context(), t.ModuleID)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if state == nil {
		state = map[string]string{}
	}
	writeJSON(w, http.StatusOK, state)
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request, t target, name string) {
	val, found, err := s.cfg.Modules.StateValue(r.Context(), t.ModuleID, name)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if !found {
		writeRaw(w, http.StatusOK, []byte("null"))
		return
	}
	if !json.Valid(val) {
		s.writeError(w, r, fail(errCorruptStatus, nil, "status %s of module %s is not valid JSON", name, t.ModuleID), t)
		return
	}
	writeRaw(w, http.StatusOK, val)
}

// GET /systems/{sys}/types: module counts by resolved name.
func (s *Server) handleTypes(w http.ResponseWriter, r *http.Request) {
	t := target{SysID: mux.Vars(r)["sys"]}
	types, err := s.cfg.Modules.Types(r.Context(), t.SysID)
	if errors.Is(err, errkind.NotFound) {
		err = fail(ErrSystemNotFound, err, "could not find system %s", t.SysID)
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
